package metrics

import (
	"sync"
	"time"

	"github.com/firehook/firehook/http/ingest"
)

// PixelStatus is what this node saw of a site's pixel since it started:
// whether page views arrive and are accepted, or are refused (a site
// whose allowed origins miss the page's, say). It answers "is the pixel
// installed and working?".
type PixelStatus struct {
	SiteID string `json:"site_id"`
	// Accepted and Refused count the site's page views since the node
	// started (refused: a 4xx other than an opt-out).
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
	// LastAcceptedAt and LastRefusedAt are the latest of each (null:
	// none); LastRefusal is the error code of the latest refusal.
	LastAcceptedAt *time.Time `json:"last_accepted_at"`
	LastRefusedAt  *time.Time `json:"last_refused_at"`
	LastRefusal    string     `json:"last_refusal,omitempty"`
	// Since is when this node started counting.
	Since time.Time `json:"since"`
}

// pixels counts page views by site (ObserveIngest).
type pixels struct {
	mu    sync.Mutex
	since time.Time
	sites map[string]*PixelStatus
}

func (p *pixels) observe(o ingest.Observation) {
	if o.SiteID == "" || (!o.Accepted && o.Code == "") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sites == nil {
		p.sites = map[string]*PixelStatus{}
	}
	s := p.sites[o.SiteID]
	if s == nil {
		s = &PixelStatus{SiteID: o.SiteID}
		p.sites[o.SiteID] = s
	}
	at := o.Start.UTC()
	if o.Accepted {
		s.Accepted++
		s.LastAcceptedAt = &at
	} else {
		s.Refused++
		s.LastRefusedAt, s.LastRefusal = &at, string(o.Code)
	}
}

// Pixel returns what this node saw of site's pixel since it started.
func (m *Metrics) Pixel(siteID string) PixelStatus {
	m.pixels.mu.Lock()
	defer m.pixels.mu.Unlock()
	out := PixelStatus{SiteID: siteID}
	if s := m.pixels.sites[siteID]; s != nil {
		out = *s
	}
	out.Since = m.pixels.since
	return out
}
