package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what a node advertises to its peers in its gossip metadata
// (memberlist limits it to 512 bytes; Join refuses a larger one).
type Meta struct {
	// Version is the node's software version.
	Version string `json:"v"`
	// Protocol is the version of the messages between nodes; a peer with
	// another one is refused.
	Protocol int `json:"p"`
	// Actor is the address of the node's actor system (protoactor remote).
	Actor string `json:"a"`
	// Admin and Ingest are the node's admin and public listeners.
	Admin  string `json:"m,omitempty"`
	Ingest string `json:"i,omitempty"`
	// Boot is when this life of the node started (Unix nanoseconds, set
	// by Join): of two metadata of one name, the later life's wins.
	Boot int64 `json:"b,omitempty"`
}

// Protocol is the version of the messages this build sends (clusterpb);
// bump it when a change is not compatible.
const Protocol = 1

// Member states, as /v1/cluster shows them.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect"
	StateDead    = "dead"
	StateLeft    = "left"
)

// Member is one node as this node sees it.
type Member struct {
	Name   string    `json:"name"`
	Gossip string    `json:"gossip"` // host:port
	State  string    `json:"state"`  // StateAlive, ...
	Since  time.Time `json:"since"`  // when this node last saw the state change
	Meta   Meta      `json:"meta"`
}

// MembershipConfig configures Join.
type MembershipConfig struct {
	// Name names the node; unique in the cluster. Default: the host name.
	Name string
	// GossipListen is the gossip address (UDP and TCP). Default
	// 0.0.0.0:7946. Port 0 picks a free port (GossipAddr tells which).
	GossipListen string
	// Advertise is the gossip address peers should use, when it differs
	// from GossipListen (a wildcard host). Default: GossipListen's host,
	// or memberlist's choice of a private address for a wildcard.
	Advertise string
	// Join lists the gossip addresses of members to join. Empty: start a
	// new cluster of one.
	Join []string
	// Key is the cluster key (see clusterkey.go): gossip is encrypted with
	// a key derived from it, and messages without it are dropped. Nil:
	// gossip in the clear. At least MinClusterKeyLen bytes.
	Key []byte
	// Cluster names the cluster: gossip carries it as a label and a node
	// of another cluster is ignored. Default "firehook".
	Cluster string
	// Meta is what this node advertises. Meta.Actor is required.
	Meta Meta
	// ProbeInterval, ProbeTimeout and SuspicionMult tune failure
	// detection. A crashed member is declared dead after about
	// ProbeInterval (until a member probes it) + ProbeTimeout +
	// SuspicionMult × ProbeInterval, at most twice that last term when
	// no other member confirms the suspicion (a cluster of three, one
	// down). Defaults 250 ms, 150 ms and 3: 1–2 s on a LAN (measured:
	// TestMembership_CrashIsDetectedWithinTwoSeconds), where memberlist's
	// LAN preset takes ~6 s.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	SuspicionMult int
	// PushPullInterval is how often a member exchanges its full state
	// (State/MergeState) with a random peer, healing any change that a
	// direct send missed. Default 5 s.
	PushPullInterval time.Duration
	// State, when set, returns this node's replicated state for a
	// push/pull exchange; MergeState receives a peer's. Both run on
	// memberlist's goroutines and must not call back into Membership.
	State      func() []byte
	MergeState func([]byte)
	// OnChange, when set, is called with the placement once when Join
	// returns (on Join's goroutine), then after every change of the
	// member set or of a member's state (on the membership's goroutine),
	// one call at a time.
	OnChange func(*Placement)
	// Log receives membership changes. Default slog.Default().
	Log *slog.Logger
}

func (c *MembershipConfig) withDefaults() error {
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster: node name: %w", err)
		}
		c.Name = h
	}
	if c.GossipListen == "" {
		c.GossipListen = "0.0.0.0:7946"
	}
	if c.Cluster == "" {
		c.Cluster = "firehook"
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 250 * time.Millisecond
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 150 * time.Millisecond
	}
	if c.SuspicionMult <= 0 {
		c.SuspicionMult = 3
	}
	if c.PushPullInterval <= 0 {
		c.PushPullInterval = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Meta.Actor == "" {
		return fmt.Errorf("cluster: Meta.Actor is required: %w", ErrConfig)
	}
	c.Meta.Protocol = Protocol
	c.Meta.Boot = time.Now().UnixNano()
	return nil
}

// Membership is this node's view of the cluster: the members gossip
// reports, their states, and the placement over the live ones. It is safe
// for concurrent use.
type Membership struct {
	cfg  MembershipConfig
	log  *slog.Logger
	list *memberlist.Memberlist
	meta []byte

	placement atomic.Pointer[Placement]
	refreshMu sync.Mutex  // serialises refresh and the OnChange calls
	notify    atomic.Bool // Join returned: OnChange may be called

	// mu guards members, fresh and watch.
	mu      sync.Mutex
	members map[string]*Member
	// fresh is the metadata of each peer's latest life seen in any alive
	// message: memberlist keeps a restarted peer's previous metadata until
	// an alive message with a higher incarnation than the previous life's
	// arrives, which can take long; refresh prefers the later life's.
	fresh map[string]Meta
	watch chan struct{} // closed at the next change

	kick    chan struct{} // capacity 1: memberlist reported an event
	quit    chan struct{}
	wg      sync.WaitGroup
	stopped sync.Once
}

// Join starts gossip and joins the members of cfg.Join (when any). It
// returns once this node is a member of the cluster, or an error when none
// of the given members answered.
func Join(cfg MembershipConfig) (*Membership, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode meta: %w", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: node metadata is %d bytes, over gossip's %d: %w", len(meta), memberlist.MetaMaxSize, ErrConfig)
	}
	m := &Membership{cfg: cfg, log: cfg.Log, meta: meta, members: map[string]*Member{}, fresh: map[string]Meta{},
		watch: make(chan struct{}), kick: make(chan struct{}, 1), quit: make(chan struct{})}
	m.placement.Store(NewPlacement([]string{cfg.Name}))

	mc, err := m.memberlistConfig()
	if err != nil {
		return nil, err
	}
	if m.list, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s: %w", cfg.GossipListen, err)
	}
	m.wg.Add(1)
	go m.run()
	if len(cfg.Join) > 0 {
		if _, err := m.list.Join(cfg.Join); err != nil {
			m.Shutdown()
			return nil, fmt.Errorf("cluster: join %v: %w", cfg.Join, err)
		}
	}
	m.refresh()
	if cfg.OnChange != nil {
		// The first call: the placement this node starts with.
		m.refreshMu.Lock()
		m.notify.Store(true)
		cfg.OnChange(m.placement.Load())
		m.refreshMu.Unlock()
	}
	return m, nil
}

func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	host, port, err := splitHostPort(m.cfg.GossipListen)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip listen %q: %w", m.cfg.GossipListen, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = m.cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if m.cfg.Advertise != "" {
		ah, ap, err := splitHostPort(m.cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip advertise %q: %w", m.cfg.Advertise, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	} else if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		mc.AdvertiseAddr = host
	}
	mc.Label = "firehook/" + m.cfg.Cluster
	mc.ProbeInterval = m.cfg.ProbeInterval
	mc.ProbeTimeout = m.cfg.ProbeTimeout
	mc.SuspicionMult = m.cfg.SuspicionMult
	mc.SuspicionMaxTimeoutMult = 2
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = m.cfg.PushPullInterval
	mc.TCPTimeout = 2 * time.Second
	mc.GossipToTheDeadTime = 10 * time.Second
	mc.LogOutput = io.Discard
	mc.Delegate = (*gossipDelegate)(m)
	mc.Events = (*eventDelegate)(m)
	mc.Alive = (*aliveDelegate)(m)
	if m.cfg.Key != nil {
		if mc.SecretKey, err = gossipKey(m.cfg.Key); err != nil {
			return nil, err
		}
	}
	return mc, nil
}

// splitHostPort splits host:port with a numeric port.
func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// run recomputes the view when memberlist reports an event, and every
// second (a suspect member raises no event).
func (m *Membership) run() {
	defer m.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-m.kick:
		case <-t.C:
		}
		m.refresh()
	}
}

// refresh reads memberlist's member list (never called from a memberlist
// callback: memberlist holds its lock there) and publishes what changed.
func (m *Membership) refresh() {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	now := time.Now()
	changed := false
	live := []string{}
	seen := map[string]bool{}
	for _, n := range m.list.Members() {
		state := StateAlive
		if n.State == memberlist.StateSuspect {
			state = StateSuspect
		}
		seen[n.Name] = true
		live = append(live, n.Name)
		var meta Meta
		_ = json.Unmarshal(n.Meta, &meta) // checked by the alive delegate
		m.mu.Lock()
		if f, ok := m.fresh[n.Name]; ok && f.Boot > meta.Boot {
			meta = f
		}
		m.mu.Unlock()
		if m.setMember(n.Name, n.Address(), state, meta, now) {
			changed = true
		}
	}
	m.mu.Lock()
	for name, mem := range m.members {
		if !seen[name] && (mem.State == StateAlive || mem.State == StateSuspect) {
			mem.State, mem.Since = StateDead, now
			changed = true
		}
	}
	m.mu.Unlock()
	next := NewPlacement(live)
	if prev := m.placement.Load(); !slices.Equal(prev.Members(), next.Members()) {
		moved, _ := prev.Moved(next)
		m.placement.Store(next)
		m.log.Info("cluster: members changed", "members", next.Members(), "shards_moved", moved)
		changed = true
	}
	if changed {
		if m.cfg.OnChange != nil && m.notify.Load() {
			m.cfg.OnChange(m.placement.Load())
		}
		m.mu.Lock()
		close(m.watch)
		m.watch = make(chan struct{})
		m.mu.Unlock()
	}
}

// setMember records a member's state; true when it changed.
func (m *Membership) setMember(name, addr, state string, meta Meta, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.members[name]
	if cur == nil {
		cur = &Member{Name: name}
		m.members[name] = cur
	}
	if cur.State == state && cur.Gossip == addr && cur.Meta == meta {
		return false
	}
	if cur.State != state {
		cur.Since = now
		if state != StateAlive || cur.State != "" {
			m.log.Info("cluster: member state", "member", name, "state", state)
		}
	}
	cur.State, cur.Gossip, cur.Meta = state, addr, meta
	return true
}

// noteMeta records a peer's metadata from an alive message, if it is of a
// later life than what is recorded. Called from memberlist's callbacks:
// it takes only mu.
func (m *Membership) noteMeta(name string, meta Meta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.fresh[name]; !ok || meta.Boot > f.Boot {
		m.fresh[name] = meta
	}
}

// signal asks run to refresh; it never blocks (memberlist callbacks).
func (m *Membership) signal() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Name is this node's name.
func (m *Membership) Name() string { return m.cfg.Name }

// GossipAddr is the bound gossip address.
func (m *Membership) GossipAddr() string {
	n := m.list.LocalNode()
	return n.Address()
}

// Placement is the placement over the live members (alive or suspect).
func (m *Membership) Placement() *Placement { return m.placement.Load() }

// Members returns every member this node has seen, the dead and departed
// included, sorted by name.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, *mem)
	}
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Member returns the live member called name.
func (m *Membership) Member(name string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[name]
	if !ok || (mem.State != StateAlive && mem.State != StateSuspect) {
		return Member{}, false
	}
	return *mem, true
}

// Changed returns a channel closed at the next change of the members or
// their states.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watch
}

// Leave announces that this node leaves, waiting up to timeout for the
// message to spread; peers then see it as left rather than dead.
func (m *Membership) Leave(timeout time.Duration) error {
	if err := m.list.Leave(timeout); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	m.refresh() // this node is no longer among the owners
	return nil
}

// Shutdown stops gossip. Safe to call twice.
func (m *Membership) Shutdown() {
	m.stopped.Do(func() {
		close(m.quit)
		m.wg.Wait()
		if err := m.list.Shutdown(); err != nil {
			m.log.Warn("cluster: stopping gossip", "err", err)
		}
	})
}

// ErrConfig is returned for a configuration that cannot work.
var ErrConfig = errors.New("invalid cluster configuration")
