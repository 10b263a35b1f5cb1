package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// page is one page of the demo site.
type page struct {
	path, title string
	weight      int
	form        bool // a page where visitors give their email
}

// site is the demo tenant's web site, weighted like a B2B site's traffic.
var site = []page{
	{"/", "Acme — Revenue data for modern teams", 30, false},
	{"/pricing", "Pricing · Acme", 18, false},
	{"/product", "Product tour · Acme", 14, false},
	{"/product/integrations", "Integrations · Acme", 6, false},
	{"/customers", "Customer stories · Acme", 6, false},
	{"/blog/intent-signals-explained", "Intent signals, explained · Acme blog", 8, false},
	{"/blog/first-party-data-playbook", "The first-party data playbook · Acme blog", 6, false},
	{"/docs/getting-started", "Getting started · Acme docs", 5, false},
	{"/security", "Security & compliance · Acme", 3, false},
	{"/careers", "Careers · Acme", 2, false},
	{"/demo", "Book a demo · Acme", 4, true},
	{"/webinar/pipeline-2027", "Webinar: Pipeline in 2027 · Acme", 3, true},
}

// referrers of a session's first page, with the campaigns they carry.
var referrers = []struct {
	ref, query string
	weight     int
}{
	{"", "", 30}, // direct
	{"https://www.google.com/", "", 30},
	{"https://www.linkedin.com/", "?utm_source=linkedin&utm_medium=social&utm_campaign=q4-launch", 14},
	{"https://news.ycombinator.com/", "", 4},
	{"https://mail.example.com/", "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly-digest", 12},
	{"https://www.bing.com/", "", 5},
	{"https://www.g2.com/", "?utm_source=g2&utm_medium=referral", 5},
}

var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
}

// visitor is one browser of the simulation.
type visitor struct {
	vid     string
	who     *person // nil: nobody the graph knows
	ua      string
	device  string // a device id the app sends with every view, or ""
	gaveID  bool   // has sent an identifying value (email, hem) once
	session *session
	visits  int
}

type session struct {
	sid   string
	pages int // left to view
	last  string
}

// SimStats counts the simulator's page views.
type SimStats struct {
	Sent     int64 // POSTs made
	Accepted int64 // answered 202
	Refused  int64 // answered anything else, or not at all
}

// simulator sends page views at a rate through POST /v1/collect.
type simulator struct {
	collect string // http://ingest/v1/collect
	siteKey string
	origin  string
	rate    float64
	people  []person
	log     *slog.Logger
	client  *http.Client
	rng     *rand.Rand // used by the run goroutine only

	active   []*visitor // in a session now
	returned []*visitor // seen before, not in a session

	sent, accepted, refused atomic.Int64
	cancel                  context.CancelFunc
	wg                      sync.WaitGroup
}

func newSimulator(collect, siteKey, origin string, rate float64, people []person, seed uint64, log *slog.Logger) *simulator {
	return &simulator{collect: collect, siteKey: siteKey, origin: origin, rate: rate, people: people, log: log,
		rng:    rand.New(rand.NewPCG(seed, 0xd3)),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// start runs the simulation until stop.
func (s *simulator) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx)
	}()
}

// stop ends the simulation and waits for its requests.
func (s *simulator) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

func (s *simulator) stats() SimStats {
	return SimStats{Sent: s.sent.Load(), Accepted: s.accepted.Load(), Refused: s.refused.Load()}
}

// run sends page views as a Poisson process of rate s.rate, each on its
// own goroutine (a slow answer does not slow the rate), at most 64 at once.
func (s *simulator) run(ctx context.Context) {
	slots := make(chan struct{}, 64)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		wait := time.Duration(s.rng.ExpFloat64() / s.rate * float64(time.Second))
		wait = min(wait, time.Duration(math.Max(3/s.rate, 1)*float64(time.Second)))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		body, ua := s.next()
		select {
		case slots <- struct{}{}:
		default:
			s.refused.Add(1) // the node is not keeping up: drop, as a browser would
			continue
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-slots }()
			s.send(ctx, body, ua)
		}()
	}
}

// send POSTs one page view as the pixel's sendBeacon does (text/plain).
func (s *simulator) send(ctx context.Context, body []byte, ua string) {
	s.sent.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.collect, bytes.NewReader(body))
	if err != nil {
		s.refused.Add(1)
		return
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", s.origin)
	req.Header.Set("User-Agent", ua)
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("demo: page view not sent", "err", err)
		}
		s.refused.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		s.accepted.Add(1)
		return
	}
	s.refused.Add(1)
	s.log.Warn("demo: page view refused", "status", resp.StatusCode)
}

// next moves the simulation one page view on and returns its body and
// User-Agent. A page view continues a session in progress (most), starts
// a returning visitor's new session, or brings a new visitor.
func (s *simulator) next() ([]byte, string) {
	r := s.rng
	var v *visitor
	switch x := r.Float64(); {
	case len(s.active) > 0 && x < 0.6:
		v = s.active[r.IntN(len(s.active))]
	case len(s.returned) > 0 && x < 0.75:
		i := r.IntN(len(s.returned))
		v = s.returned[i]
		s.returned = append(s.returned[:i], s.returned[i+1:]...)
	default:
		v = s.newVisitor()
	}
	if v.session == nil {
		v.visits++
		v.session = &session{sid: "s_" + strconv.FormatUint(r.Uint64(), 36), pages: 1 + r.IntN(6)}
		s.active = append(s.active, v)
	}
	body := s.pageView(v)
	v.session.pages--
	if v.session.pages <= 0 {
		v.session = nil
		for i, a := range s.active {
			if a == v {
				s.active = append(s.active[:i], s.active[i+1:]...)
				break
			}
		}
		if len(s.returned) < 500 && r.Float64() < 0.7 { // most come back
			s.returned = append(s.returned, v)
		}
	}
	return body, v.ua
}

// newVisitor returns a first-time visitor: someone the graph knows (two in
// three), or a stranger.
func (s *simulator) newVisitor() *visitor {
	r := s.rng
	v := &visitor{vid: newUUID(r), ua: userAgents[r.IntN(len(userAgents))]}
	if len(s.people) > 0 && r.Float64() < 0.67 {
		v.who = &s.people[r.IntN(len(s.people))]
		if len(v.who.devices) > 0 && r.Float64() < 0.25 {
			v.device = v.who.devices[r.IntN(len(v.who.devices))]
		}
	}
	return v
}

// collectBody is the JSON the pixel posts.
type collectBody struct {
	Site  string            `json:"site"`
	VID   string            `json:"vid"`
	URL   string            `json:"url"`
	Ref   string            `json:"ref,omitempty"`
	Title string            `json:"title,omitempty"`
	TS    int64             `json:"ts"`
	SID   string            `json:"sid,omitempty"`
	HEM   string            `json:"hem,omitempty"`
	Email string            `json:"email,omitempty"`
	IDs   map[string]string `json:"ids,omitempty"`
}

// pageView builds v's next page view of its session.
func (s *simulator) pageView(v *visitor) []byte {
	r := s.rng
	p := pickPage(r, v.session.last == "")
	b := collectBody{Site: s.siteKey, VID: v.vid, Title: p.title, TS: time.Now().UnixMilli(), SID: v.session.sid}
	u := s.origin + p.path
	if v.session.last == "" {
		ref := pickReferrer(r)
		b.Ref = ref.ref
		u += ref.query
	} else {
		b.Ref = v.session.last
	}
	b.URL = u
	v.session.last = s.origin + p.path
	if who := v.who; who != nil {
		// How a known visitor becomes known: an email typed on a form, a
		// hashed email from a newsletter link, a device id an app passes,
		// or a data partner's cookie. After that their visitor id alone is
		// enough (the node learns the link).
		switch {
		case p.form && who.email != "" && !v.gaveID:
			b.Email, v.gaveID = who.email, true
		case !v.gaveID && who.hem != "" && b.Ref == "https://mail.example.com/":
			b.HEM, v.gaveID = who.hem, true
		case !v.gaveID && len(who.cookies) > 0 && r.Float64() < 0.15:
			b.IDs = map[string]string{"cookie": who.cookies[0]}
		case !v.gaveID && who.hem != "" && r.Float64() < 0.2:
			b.HEM, v.gaveID = who.hem, true
		}
		if v.device != "" {
			if b.IDs == nil {
				b.IDs = map[string]string{}
			}
			b.IDs["device_id"] = v.device
		}
	}
	out, err := json.Marshal(b)
	if err != nil { // cannot happen: strings and a map of strings
		panic(fmt.Sprintf("demo: encode page view: %v", err))
	}
	return out
}

func pickPage(r *rand.Rand, landing bool) page {
	total := 0
	for _, p := range site {
		if !landing || !p.form {
			total += p.weight
		}
	}
	x := r.IntN(total)
	for _, p := range site {
		if landing && p.form {
			continue // nobody lands on the form itself
		}
		if x < p.weight {
			return p
		}
		x -= p.weight
	}
	return site[0]
}

func pickReferrer(r *rand.Rand) struct {
	ref, query string
	weight     int
} {
	total := 0
	for _, x := range referrers {
		total += x.weight
	}
	x := r.IntN(total)
	for _, ref := range referrers {
		if x < ref.weight {
			return ref
		}
		x -= ref.weight
	}
	return referrers[0]
}

// newUUID returns a random version 4 UUID, like crypto.randomUUID().
func newUUID(r *rand.Rand) string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		x := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
