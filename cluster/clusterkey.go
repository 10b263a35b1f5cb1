package cluster

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// A cluster key is a secret every member is given (FIREHOOK_CLUSTER_KEY):
// with it the members' traffic is encrypted and only members that hold
// it take part.
//
//   - Gossip: memberlist encrypts every message with an AES-256 key
//     derived from the cluster key, and drops those it cannot decrypt.
//   - The actor transport: gRPC over mutual TLS. Every member derives the
//     same certificate authority from the cluster key (an Ed25519 key from
//     its seed), and makes itself a certificate that the authority signs
//     at each start. A peer is accepted only with a certificate that
//     authority signed: host names are not checked, holding the key is
//     what makes a member.
//
// Keys are derived with HKDF-SHA256 from the cluster key, one per use.

// MinClusterKeyLen is the shortest cluster key accepted, in bytes.
const MinClusterKeyLen = 16

// ErrClusterKey reports a cluster key that is too short.
var ErrClusterKey = errors.New("cluster: the cluster key must be at least 16 bytes")

// deriveKey derives n bytes for use from the cluster key.
func deriveKey(clusterKey []byte, use string, n int) ([]byte, error) {
	if len(clusterKey) < MinClusterKeyLen {
		return nil, ErrClusterKey
	}
	return hkdf.Key(sha256.New, clusterKey, []byte("firehook cluster key"), use, n)
}

// gossipKey is memberlist's SecretKey for the cluster key.
func gossipKey(clusterKey []byte) ([]byte, error) {
	return deriveKey(clusterKey, "memberlist aes-256", 32)
}

// transportTLS returns the server and client TLS configurations of the
// actor transport for the cluster key (see above).
func transportTLS(clusterKey []byte) (server, client *tls.Config, err error) {
	seed, err := deriveKey(clusterKey, "actor transport ca ed25519", ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	// The same authority on every member: a fixed template, and Ed25519
	// signatures are deterministic.
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "firehook cluster"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: make the transport's authority: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: make the transport's authority: %w", err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: make the transport's key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "firehook member"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, pub, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: make the transport's certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("cluster: the peer has no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("cluster: the peer's certificate: %w", err)
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("cluster: the peer does not hold the cluster key: %w", err)
		}
		return nil
	}
	server = &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert, // verified below, not by host name
		VerifyPeerCertificate: verify,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The peer is checked by VerifyPeerCertificate against the cluster's
		// authority; members dial addresses, which certificates do not name.
		InsecureSkipVerify:    true, //nolint:gosec // verified below
		VerifyPeerCertificate: verify,
	}
	return server, client, nil
}
