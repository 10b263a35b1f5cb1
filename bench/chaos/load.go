package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// visitor is one person of the graph and the page views sent for it, in
// order. Only its sender touches it until the load stopped.
type visitor struct {
	person, vid, email string
	views              []PageView
	emailAccepted      bool // a page view with the email was answered 202: later ones carry only the vid
}

// newVisitors names people persons, one visitor each.
func newVisitors(people int) []*visitor {
	vs := make([]*visitor, people)
	for i := range vs {
		vs[i] = &visitor{person: fmt.Sprintf("p_chaos_%03d", i), vid: fmt.Sprintf("vid-chaos-%03d", i),
			email: fmt.Sprintf("person%03d@chaos-%02d.example", i, i%7)} // normalised already: lower case, not gmail
	}
	return vs
}

// load posts the visitors' page views round-robin to the live members:
// each visitor one every `every`, never before its previous one was
// answered. A page view a member did not answer, or answered 5xx, is
// followed at once by the next one to the next member.
type load struct {
	client   *http.Client
	siteKey  string
	every    time.Duration
	visitors []*visitor
	accepted atomic.Int64 // 202s so far

	mu      sync.Mutex // guards targets
	targets []string   // ingest URLs of the live members

	stop chan struct{}
	wg   sync.WaitGroup
}

// startLoad starts a sender per visitor, posting to targets.
func startLoad(siteKey string, visitors []*visitor, rate float64, targets []string) *load {
	l := &load{
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: len(visitors),
			IdleConnTimeout:     5 * time.Second, // below the node's ReadHeaderTimeout (see bench.idleConnTimeout)
		}},
		siteKey:  siteKey,
		every:    time.Duration(float64(len(visitors)) / rate * float64(time.Second)),
		visitors: visitors,
		targets:  targets,
		stop:     make(chan struct{}),
	}
	for i, v := range visitors {
		l.wg.Add(1)
		go func() { // ends at halt
			defer l.wg.Done()
			l.send(i, v)
		}()
	}
	return l
}

// setTargets sends the next page views to targets.
func (l *load) setTargets(targets []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets = targets
}

func (l *load) current() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.targets
}

// halt stops the senders and waits for them; the page views in flight
// get their answers (or the client's timeout).
func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// views returns every page view sent, each visitor's in order; only
// after halt.
func (l *load) views() []PageView {
	var out []PageView
	for _, v := range l.visitors {
		out = append(out, v.views...)
	}
	return out
}

// send is visitor i's sender: its page views start at a staggered offset
// and go to the members in turn, from member i.
func (l *load) send(i int, v *visitor) {
	timer := time.NewTimer(l.every * time.Duration(i) / time.Duration(len(l.visitors)))
	defer timer.Stop()
	for k := i; ; k++ {
		select {
		case <-l.stop:
			return
		case <-timer.C:
		}
		next := time.Now().Add(l.every)
		targets := l.current()
		for try := range targets {
			pv := l.post(targets[(k+try)%len(targets)], v)
			if pv.Accepted() || pv.Status != 0 && pv.Status < 500 {
				break
			}
		}
		timer.Reset(max(0, time.Until(next)))
	}
}

// post sends v's next page view to the member at ingest and records it.
// The first ones carry the visitor's email, until one is accepted; later
// ones only the visitor id, which the node has linked to the person.
func (l *load) post(ingest string, v *visitor) PageView {
	pv := PageView{Person: v.person, Target: ingest, At: time.Now()}
	body := map[string]any{"site": l.siteKey, "vid": v.vid, "url": fmt.Sprintf("https://chaos.test/%s/%d", v.vid, len(v.views)+1),
		"title": "Chaos", "ts": pv.At.UnixMilli()}
	withEmail := !v.emailAccepted
	if withEmail {
		body["email"] = v.email
	}
	b, _ := json.Marshal(body)
	resp, err := l.client.Post(ingest+"/v1/collect", "application/json", bytes.NewReader(b))
	if err == nil {
		var out struct {
			EventID string `json:"event_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		switch {
		case resp.StatusCode != http.StatusAccepted:
			pv.Status = resp.StatusCode
		case err == nil:
			pv.Status, pv.ID = resp.StatusCode, out.EventID
		}
		// A 202 whose answer was cut off is not an acknowledgement: status 0.
	}
	pv.Took = time.Since(pv.At)
	v.views = append(v.views, pv)
	if pv.Accepted() {
		l.accepted.Add(1)
		if withEmail {
			v.emailAccepted = true
		}
	}
	return pv
}
