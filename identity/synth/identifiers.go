package synth

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/splitmix"
)

// deviceID returns a device id for slot x: an IDFV (a UUID) or an
// Android id (16 hex digits), unique by slot.
func (g *generator) deviceID(x uint64, r *rand.Rand) string {
	u := perm64(g.keyDevice, x)
	if r.IntN(2) == 0 {
		return uuid(u, r.Uint64())
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], u)
	return hex.EncodeToString(b[:])
}

// cookie returns a first-party cookie value for slot x, unique by slot,
// in one of three shapes: 22 characters of base64url, a UUID, or a
// Google Analytics client id.
func (g *generator) cookie(x uint64, r *rand.Rand) string {
	u := perm64(g.keyCookie, x)
	switch r.IntN(3) {
	case 0:
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], u)
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		return base64.RawURLEncoding.EncodeToString(b[:])
	case 1:
		return uuid(u, r.Uint64())
	default:
		return "GA1.2." + strconv.FormatUint(u>>32, 10) + "." + strconv.FormatUint(u&0xffffffff, 10)
	}
}

// uuid formats a version 4 UUID whose 64 bits outside the version and
// variant bits are unique (bytes 0-5, 7 and 9), the rest random.
func uuid(unique, random uint64) string {
	var b [16]byte
	var u [8]byte
	binary.BigEndian.PutUint64(u[:], unique)
	copy(b[0:6], u[0:6])
	b[7], b[9] = u[6], u[7]
	b[6] = 0x40 | byte(random)&0x0f
	b[8] = 0x80 | byte(random>>8)&0x3f
	binary.BigEndian.PutUint32(b[10:14], uint32(random>>16))
	binary.BigEndian.PutUint16(b[14:16], uint16(random>>48))
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// ipv4 returns the first public address among slots x to x+3 of the
// IPv4 space (a keyed bijection of the slot), or "" when all four are
// private or reserved (rare: about 1 in 5,000).
func (g *generator) ipv4(x uint64) string {
	for k := range uint64(4) {
		if s, ok := g.ipv4Slot(x + k); ok {
			return s
		}
	}
	return ""
}

func (g *generator) ipv4Slot(x uint64) (string, bool) {
	v := perm32(g.keyIPv4, uint32(x))
	a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	id, err := identity.NewIdentifier(identity.TypeIP, a.String())
	return id.Value, err == nil
}

// ipv6 returns a home IPv6 address in 2a02::/16 (global unicast) whose
// bits 16-79 are a keyed bijection of n.
func (g *generator) ipv6(n uint64, r *rand.Rand) string {
	var b [16]byte
	b[0], b[1] = 0x2a, 0x02
	binary.BigEndian.PutUint64(b[2:10], perm64(g.keyIPv6, n))
	binary.BigEndian.PutUint32(b[10:14], uint32(r.Uint64()))
	b[14], b[15] = 0, 1
	return netip.AddrFrom16(b).String()
}

// Layout of the IPv4 slot space: people, then offices, then visits.
func (g *generator) officeSlot(j, s int) uint64 {
	return 4*uint64(g.cfg.People) + 16*uint64(j) + uint64(s)
}

func (g *generator) visitSlot(i int) uint64 {
	return 4*uint64(g.cfg.People) + 16*uint64(g.cfg.CompanyIPs) + 4*uint64(i)
}

// officeIPs returns the office IPs of company-only record j: one to four,
// from its 16 slots. (All 16 private or reserved would leave none; at
// about 14 % of the space reserved, that is 1 in 10^13.)
func (g *generator) officeIPs(j int) []string {
	r := rand.New(rand.NewPCG(g.seed^streamOffices, uint64(j)))
	want := 1 + r.IntN(4)
	var out []string
	for s := 0; s < 16 && len(out) < want; s++ {
		if ip, ok := g.ipv4Slot(g.officeSlot(j, s)); ok {
			out = append(out, ip)
		}
	}
	return out
}

// perm64 is a keyed bijection of uint64: distinct x, distinct results.
func perm64(key, x uint64) uint64 { return splitmix.Mix64(x ^ key) }

// perm32 is a keyed bijection of uint32 (the lowbias32 mixer).
func perm32(key, x uint32) uint32 {
	x ^= key
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}
