package synth

import (
	"fmt"
	"strconv"
	"time"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/splitmix"
)

// shape is what kinds of identifier a person has: the first draws from
// the person's stream, so that planning the visits can read it cheaply.
type shape struct {
	employed           bool
	personal, business bool // which emails are hashed into identifiers
	devices            int  // 0-2
	maid               bool
	cookies            int // 1-3
	homeIP             bool
}

// seedPerson points the generator's stream at person n.
func (g *generator) seedPerson(n int) {
	g.pcg.Seed(g.seed^streamPeople, splitmix.Mix64(uint64(n)^g.seed))
}

func (g *generator) drawShape() shape {
	r := g.rng
	s := shape{employed: r.IntN(10) < 9}
	switch x := r.IntN(100); {
	case !s.employed || x < 35:
		s.personal = true
	case x < 60:
		s.business = true
	default:
		s.personal, s.business = true, true
	}
	s.devices = [...]int{0, 0, 1, 1, 1, 2}[r.IntN(6)]
	s.maid = r.IntN(2) == 0
	s.cookies = 1 + r.IntN(3)
	s.homeIP = r.IntN(5) < 3
	return s
}

func (g *generator) shapeOf(n int) shape {
	g.seedPerson(n)
	return g.drawShape()
}

// person is one generated person; its slices are reused from person to
// person.
type person struct {
	n          int
	companyIdx int // into generator.companies; valid when employed
	company    *identity.Company
	shape      shape
	first      string
	last       string
	title      string
	linkedin   string
	bizEmail   string
	city       string
	region     string
	country    string
	updatedAt  int64 // Unix seconds
	ids        []identity.Identifier
	emails     int // the number of hem triples at the start of ids
	homeIP     string
}

// epoch is the newest updated_at a record can have (a fixed date, not
// the clock, so that output depends on the seed alone).
var epoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Unix()

// person generates person n into p. p.companyIdx must be the company
// whose block holds n, and namesakes the names of the people before n in
// that block (person adds n's).
func (g *generator) person(n int, p *person, namesakes map[string]int) {
	g.seedPerson(n)
	r := g.rng
	p.n = n
	p.shape = g.drawShape()
	p.first = g.firstNames[r.IntN(len(g.firstNames))]
	p.last = g.lastNames[r.IntN(len(g.lastNames))]
	p.title, p.bizEmail, p.company = "", "", nil
	first, last := slug(p.first), slug(p.last)
	if first == "" {
		first = "user"
	}
	if last == "" {
		last = "x"
	}
	if p.shape.employed {
		c := &g.companies[p.companyIdx]
		p.company = &c.Company
		p.title = g.jobTitles[r.IntN(len(g.jobTitles))]
		// first.last@company; the second namesake in the company is
		// first.last2, and so on (names have no digits, so these never
		// meet another name).
		local := first + "." + last
		k := namesakes[local] + 1
		namesakes[local] = k
		if k > 1 {
			local += strconv.Itoa(k)
		}
		p.bizEmail = local + "@" + c.Domain
	}
	if r.IntN(100) < 75 {
		p.city = g.usCities[r.IntN(len(g.usCities))]
		p.region = g.usStates[r.IntN(len(g.usStates))]
		p.country = "United States"
	} else {
		p.city, p.region = "", ""
		p.country = g.countries[r.IntN(len(g.countries))]
	}
	p.linkedin = ""
	if r.IntN(100) < 60 {
		p.linkedin = "https://www.linkedin.com/in/" + first + "-" + last + "-" + strconv.FormatUint(r.Uint64()>>40, 16)
	}
	p.updatedAt = epoch - r.Int64N(2*365*24*3600)

	p.ids = p.ids[:0]
	p.emails = 0
	if p.shape.personal {
		// The index makes the address unique; names have no digits.
		var local string
		switch r.IntN(4) {
		case 0:
			local = first + "." + last
		case 1:
			local = first + last
		case 2:
			local = first[:1] + last
		default:
			local = first + "_" + last
		}
		p.addEmail(local + strconv.Itoa(n) + "@" + freeMail[r.IntN(len(freeMail))])
	}
	if p.shape.business {
		p.addEmail(p.bizEmail)
	}
	for k := range p.shape.devices {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeDeviceID, Value: g.deviceID(uint64(n)*4+uint64(k), r)})
	}
	if p.shape.maid {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeMAID, Value: uuid(perm64(g.keyMAID, uint64(n)), r.Uint64())})
	}
	for k := range p.shape.cookies {
		p.ids = append(p.ids, identity.Identifier{Type: identity.TypeCookie, Value: g.cookie(uint64(n)*4+uint64(k), r)})
	}
	p.homeIP = ""
	if p.shape.homeIP {
		if r.IntN(5) == 0 {
			p.homeIP = g.ipv6(uint64(n), r)
		} else {
			p.homeIP = g.ipv4(uint64(n) * 4)
		}
		if p.homeIP != "" {
			p.ids = append(p.ids, identity.Identifier{Type: identity.TypeIP, Value: p.homeIP})
		}
	}
}

// addEmail adds the hem triple of a (valid, generated) address.
func (p *person) addEmail(addr string) {
	h, err := identity.HashEmail(addr)
	if err != nil {
		panic(fmt.Sprintf("synth: generated an invalid email %q: %v", addr, err))
	}
	p.ids = append(p.ids,
		identity.Identifier{Type: identity.TypeHEMSHA256, Value: h.SHA256},
		identity.Identifier{Type: identity.TypeHEMSHA1, Value: h.SHA1},
		identity.Identifier{Type: identity.TypeHEMMD5, Value: h.MD5})
	p.emails++
}

// captured is what the visits need of a person.
type captured struct {
	id   string
	ids  []identity.Identifier
	hems int // identifiers ids[:3*hems] are hem triples
}

func (p *person) capture() captured {
	return captured{id: personID(p.n), ids: append([]identity.Identifier(nil), p.ids...), hems: p.emails}
}

func personID(n int) string { return "p_" + strconv.Itoa(n) }
