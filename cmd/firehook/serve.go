package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/firehook/firehook/cluster"
	"github.com/firehook/firehook/node"
	"github.com/firehook/firehook/persistence"
)

// serveFlags are the flags of firehook serve (API.md).
type serveFlags struct {
	data, listen, adminListen, name  string
	gossipListen, join, actorListen  string
	clusterName                      string
	shardCopyRate                    int
	allowPrivate                     bool
	ingestIPRate                     float64
	eventRetention, receiptRetention time.Duration
	linkRetention                    time.Duration
	trustedProxies                   string
	logLevel, logFormat              string
	cpuProfile                       string
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	d := node.DefaultConfig()
	fs.StringVar(&f.data, "data", d.DataDir, "data directory (badger)")
	fs.StringVar(&f.listen, "listen", d.Listen, "public ingest listener address")
	fs.StringVar(&f.adminListen, "admin-listen", d.AdminListen, "admin API listener address")
	fs.StringVar(&f.name, "node", "", "node name (default: host name)")
	fs.StringVar(&f.gossipListen, "gossip-listen", "", "gossip listener address (UDP and TCP); set it to run as a cluster member")
	fs.StringVar(&f.join, "join", "", "comma-separated gossip addresses of members to join (empty: start a new cluster)")
	fs.StringVar(&f.actorListen, "actor-listen", "", "address of the transport between members (default: the gossip host, a free port)")
	fs.StringVar(&f.clusterName, "cluster", "firehook", "cluster name: members of other clusters are ignored")
	fs.IntVar(&f.shardCopyRate, "shard-copy-rate", 20_000, "records and links a second a copy of graph shards to this member may bring (-1: no limit)")
	fs.BoolVar(&f.allowPrivate, "allow-private-endpoints", false, "let webhook endpoints target private and loopback addresses")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is trusted")
	fs.DurationVar(&f.eventRetention, "event-retention", 7*24*time.Hour, "how long accepted page views stay in the event log once processed (GET /v1/events, replays); negative keeps every one")
	fs.DurationVar(&f.receiptRetention, "receipt-retention", 7*24*time.Hour, "how long a finished delivery's receipt and payload are kept after its last attempt")
	fs.DurationVar(&f.linkRetention, "link-retention", 90*24*time.Hour, "how long a learned link (visitor → person) is kept after it was learned; negative keeps them forever")
	fs.Float64Var(&f.ingestIPRate, "ingest-ip-rate", 50, "page views a second one client address may send (burst: two seconds' worth; loopback clients are not limited; -1: no limit)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "json", "json or text")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the node's whole run to FILE, finished at shutdown (go tool pprof)")
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("firehook serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if f.join != "" && f.gossipListen == "" {
		// Refuse rather than pretend: a node that ignored --join would
		// look clustered and not be.
		return fmt.Errorf("--join needs --gossip-listen: %w", errUsage)
	}
	proxies, err := parsePrefixes(f.trustedProxies)
	if err != nil {
		return err
	}
	// The cluster key comes from the environment only: a flag would show
	// in the process list. Any string of 16 bytes or more; every member
	// must have the same.
	var clusterKey []byte
	if k := os.Getenv("FIREHOOK_CLUSTER_KEY"); k != "" {
		if len(k) < cluster.MinClusterKeyLen {
			return fmt.Errorf("FIREHOOK_CLUSTER_KEY must be at least %d bytes: %w", cluster.MinClusterKeyLen, errUsage)
		}
		clusterKey = []byte(k)
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	name := f.name
	if name == "" {
		name, _ = os.Hostname()
	}
	n, err := node.Start(node.Config{
		DataDir:               f.data,
		Listen:                f.listen,
		AdminListen:           f.adminListen,
		Name:                  name,
		AdminToken:            os.Getenv("FIREHOOK_ADMIN_TOKEN"),
		AllowPrivateEndpoints: f.allowPrivate,
		TrustedProxies:        proxies,
		IngestPerIPRate:       f.ingestIPRate,
		// Endpoint secrets sealed at rest with this key when set (from the
		// environment only, like the cluster key).
		Store: persistence.Config{SecretKey: os.Getenv("FIREHOOK_SECRET_KEY"),
			EventLog:      persistence.EventLogConfig{Retention: f.eventRetention},
			LinkRetention: f.linkRetention,
			Outbox:        persistence.OutboxConfig{ReceiptRetention: f.receiptRetention}},
		Log:    log,
		Stdout: stdout,
		Cluster: node.ClusterConfig{
			GossipListen: f.gossipListen,
			ActorListen:  f.actorListen,
			Join:         splitList(f.join),
			Name:         f.clusterName,
			Key:          clusterKey,
			// 0 is the default; the flag's -1 means no limit.
			ShardCopyRate: f.shardCopyRate,
		},
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("signal received; shutting down")
	case err := <-n.Err():
		log.Error("listener failed; shutting down", "err", err)
	}
	return n.Shutdown(context.Background())
}

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, errUsage)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text: %w", format, errUsage)
	}
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range splitList(s) {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies %q: not a CIDR or address: %w", part, errUsage)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// splitList splits a comma-separated flag value, dropping empty parts.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
