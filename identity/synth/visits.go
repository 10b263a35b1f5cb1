package synth

import (
	"math/rand/v2"
	"strconv"

	"github.com/firehook/firehook/identity"
)

// The visits: planned before the people are generated (who is visited
// follows from the shapes alone), filled in from the people captured
// while generating.

// visitPlan is the planned ground truth.
type visitPlan struct {
	visits   []plannedVisit
	people   map[int]int // person index → how many planned visits need it
	captured map[int]captured
}

type plannedVisit struct {
	kind    string
	a, b    int // people (or, for ip_company, a is the company-only record)
	variant int
}

// visitWeights is the mix of kinds, in percent.
var visitWeights = []struct {
	kind   string
	weight int
}{
	{KindHEM, 20}, {KindDevice, 10}, {KindMAID, 10}, {KindCookie, 15},
	{KindIPCompany, 10}, {KindUnknown, 15}, {KindConflict, 10}, {KindMixed, 10},
}

// unknownVariants is how many shapes an unknown visit can take.
const unknownVariants = 5

func (g *generator) planVisits() *visitPlan {
	r := rand.New(rand.NewPCG(g.seed^streamVisits, 0))
	plan := &visitPlan{people: map[int]int{}, captured: map[int]captured{}}
	// pick draws a person for whom ok holds (at most 64 tries; -1 if none).
	pick := func(ok func(shape) bool) int {
		for range 64 {
			n := r.IntN(g.cfg.People)
			if ok(g.shapeOf(n)) {
				return n
			}
		}
		return -1
	}
	anyone := func(shape) bool { return true }
	for range g.cfg.Visits {
		v := plannedVisit{a: -1, b: -1}
		x := r.IntN(100)
		for _, w := range visitWeights {
			if x < w.weight {
				v.kind = w.kind
				break
			}
			x -= w.weight
		}
		switch v.kind {
		case KindHEM, KindCookie, KindMixed:
			v.a = pick(anyone)
		case KindDevice:
			v.a = pick(func(s shape) bool { return s.devices > 0 })
		case KindMAID:
			v.a = pick(func(s shape) bool { return s.maid })
		case KindConflict:
			if g.cfg.People >= 2 {
				v.a = pick(anyone)
				for v.b = v.a; v.b == v.a; {
					v.b = r.IntN(g.cfg.People)
				}
			}
		case KindIPCompany:
			if g.cfg.CompanyIPs > 0 {
				v.a = r.IntN(g.cfg.CompanyIPs)
				v.variant = r.IntN(2)
			}
		case KindUnknown:
			v.variant = r.IntN(unknownVariants)
			if v.variant == 0 {
				v.a = pick(func(s shape) bool { return s.homeIP })
			}
		}
		if v.kind != KindUnknown && v.a < 0 {
			// No candidate for the kind (a tiny or odd graph): an
			// unknown visit instead.
			v = plannedVisit{kind: KindUnknown, a: -1, b: -1, variant: 1 + r.IntN(unknownVariants-1)}
		}
		if v.kind != KindIPCompany {
			for _, n := range []int{v.a, v.b} {
				if n >= 0 {
					plan.people[n]++
				}
			}
		}
		plan.visits = append(plan.visits, v)
	}
	return plan
}

// visit fills in planned visit i.
func (g *generator) visit(plan *visitPlan, i int) Visit {
	pv := plan.visits[i]
	r := rand.New(rand.NewPCG(g.seed^streamVisits, uint64(i)+1))
	v := Visit{Kind: pv.kind}
	a, b := plan.captured[pv.a], plan.captured[pv.b]
	switch pv.kind {
	case KindHEM:
		v.Identifiers = []identity.Identifier{a.hem(r)}
		v.PersonID = a.id
	case KindDevice:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeDeviceID, r)}
		v.PersonID = a.id
	case KindMAID:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeMAID, r)}
		v.PersonID = a.id
	case KindCookie:
		v.Identifiers = []identity.Identifier{a.pick(identity.TypeCookie, r)}
		v.PersonID = a.id
	case KindMixed:
		// A hashed email (a form fill) with the cookie, and whatever
		// else the person's device sends.
		v.Identifiers = []identity.Identifier{a.hem(r), a.pick(identity.TypeCookie, r)}
		for _, t := range []identity.Type{identity.TypeDeviceID, identity.TypeMAID, identity.TypeIP} {
			if id := a.pick(t, r); id.Value != "" && r.IntN(2) == 0 {
				v.Identifiers = append(v.Identifiers, id)
			}
		}
		v.PersonID = a.id
	case KindConflict:
		// Two people's strong identifiers: a's email and b's email,
		// device or advertising id.
		second := b.hem(r)
		for _, t := range []identity.Type{identity.TypeDeviceID, identity.TypeMAID} {
			if id := b.pick(t, r); id.Value != "" && r.IntN(3) == 0 {
				second = id
			}
		}
		v.Identifiers = []identity.Identifier{a.hem(r), second}
	case KindIPCompany:
		ips := g.officeIPs(pv.a)
		v.Identifiers = []identity.Identifier{{Type: identity.TypeIP, Value: ips[r.IntN(len(ips))]}}
		if pv.variant == 1 { // a first visit: a cookie nobody knows yet
			v.Identifiers = append(v.Identifiers, g.freshCookie(i, r))
		}
		v.CompanyDomain = g.companyOnlyCompany(pv.a).Domain
	case KindUnknown:
		v.Identifiers = g.unknownIdentifiers(pv, a, i, r)
	}
	r.Shuffle(len(v.Identifiers), func(x, y int) {
		v.Identifiers[x], v.Identifiers[y] = v.Identifiers[y], v.Identifiers[x]
	})
	return v
}

// unknownIdentifiers are the identifiers of an unknown visit: values in
// slots no record uses (index People+i), or a person's home IP alone.
func (g *generator) unknownIdentifiers(pv plannedVisit, a captured, i int, r *rand.Rand) []identity.Identifier {
	n := uint64(g.cfg.People) + uint64(i)
	switch pv.variant {
	case 0: // an IP alone never identifies a person
		if ip := a.pick(identity.TypeIP, r); ip.Value != "" {
			return []identity.Identifier{ip}
		}
		return []identity.Identifier{g.freshCookie(i, r)}
	case 1: // a hashed email nobody has: no graph address has a '-'
		h, err := identity.HashEmail("visitor-" + strconv.FormatUint(n, 10) + "@" + freeMail[r.IntN(len(freeMail))])
		if err != nil {
			panic(err)
		}
		return []identity.Identifier{{Type: identity.TypeHEMSHA256, Value: h.SHA256}}
	case 2:
		return []identity.Identifier{g.freshCookie(i, r)}
	case 3:
		return []identity.Identifier{
			{Type: identity.TypeDeviceID, Value: g.deviceID(4*n, r)},
			g.freshCookie(i, r),
		}
	default: // an advertising id and an IP nobody has
		ids := []identity.Identifier{{Type: identity.TypeMAID, Value: uuid(perm64(g.keyMAID, n), r.Uint64())}}
		if ip := g.ipv4(g.visitSlot(i)); ip != "" {
			ids = append(ids, identity.Identifier{Type: identity.TypeIP, Value: ip})
		}
		return ids
	}
}

func (g *generator) freshCookie(i int, r *rand.Rand) identity.Identifier {
	return identity.Identifier{Type: identity.TypeCookie, Value: g.cookie(4*(uint64(g.cfg.People)+uint64(i)), r)}
}

// hem returns one hashed email of c: any type, of any of its emails.
func (c captured) hem(r *rand.Rand) identity.Identifier {
	return c.ids[r.IntN(3*c.hems)]
}

// pick returns one identifier of type t of c, or the zero Identifier.
func (c captured) pick(t identity.Type, r *rand.Rand) identity.Identifier {
	var found []identity.Identifier
	for _, id := range c.ids {
		if id.Type == t {
			found = append(found, id)
		}
	}
	if len(found) == 0 {
		return identity.Identifier{}
	}
	return found[r.IntN(len(found))]
}
