package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/brianvoe/gofakeit/v7"

	"github.com/firehook/firehook/identity"
)

// company is a company of the pool. People start..end-1 work there
// (start == end: nobody, a company only known by its offices).
type company struct {
	identity.Company
	start, end int
}

// buildPools draws the word pools from a gofakeit faker on the seed.
func (g *generator) buildPools() {
	f := gofakeit.New(g.seed | 1) // gofakeit.New(0) would seed from crypto/rand
	draw := func(n int, fn func() string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fn()
		}
		return out
	}
	g.firstNames = draw(2048, f.FirstName)
	g.lastNames = draw(2048, f.LastName)
	g.jobTitles = draw(1024, func() string {
		return f.JobDescriptor() + " " + f.JobLevel() + " " + f.JobTitle()
	})
	g.usCities = draw(512, f.City)
	g.usStates = draw(512, f.State)
	g.countries = draw(256, f.Country)
}

// Company name parts: a noun and the industry it suggests.
var companyNouns = []struct{ noun, industry string }{
	{"Analytics", "Information Technology"}, {"Software", "Computer Software"}, {"Systems", "Information Technology"},
	{"Labs", "Research"}, {"Networks", "Telecommunications"}, {"Cloud", "Internet"}, {"Data", "Computer Software"},
	{"Health", "Hospital & Health Care"}, {"Medical", "Medical Devices"}, {"Bio", "Biotechnology"}, {"Pharma", "Pharmaceuticals"},
	{"Capital", "Financial Services"}, {"Partners", "Management Consulting"}, {"Consulting", "Management Consulting"},
	{"Insurance", "Insurance"}, {"Bank", "Banking"}, {"Logistics", "Logistics & Supply Chain"}, {"Freight", "Transportation"},
	{"Foods", "Food & Beverages"}, {"Energy", "Renewables & Environment"}, {"Power", "Utilities"}, {"Media", "Marketing & Advertising"},
	{"Studios", "Design"}, {"Robotics", "Industrial Automation"}, {"Manufacturing", "Machinery"}, {"Motors", "Automotive"},
	{"Realty", "Real Estate"}, {"Construction", "Construction"}, {"Legal", "Law Practice"}, {"Learning", "E-Learning"},
	{"Retail", "Retail"}, {"Apparel", "Apparel & Fashion"}, {"Security", "Computer & Network Security"}, {"Games", "Computer Games"},
}

var (
	companySuffixes = []string{"", "", "", " Inc", " LLC", " Group", " Co", " Corp", " and Sons"}
	companyTLDs     = []string{"com", "com", "com", "com", "com", "io", "co", "net", "ai", "org"}
	employeeRanges  = []string{"1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"}
	revenueRanges   = []string{"<$1M", "$1M-$10M", "$10M-$50M", "$50M-$100M", "$100M-$500M", "$500M-$1B", "$1B-$10B", "$10B+"}
	freeMail        = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me", "gmx.com"}
)

// buildCompanies makes the company pool and gives each company a block of
// consecutive people: block sizes are log-uniform in 1..100 (most
// companies small, a few large), about 21 people on average. Companies
// past the last block have no people; there are enough of them for the
// company-only records.
func (g *generator) buildCompanies() {
	r := rand.New(rand.NewPCG(g.seed, streamCompanies))
	used := map[string]bool{}
	for _, d := range freeMail {
		used[strings.TrimSuffix(d, ".com")] = true // never a company at a free-mail name
	}
	next := 0
	for next < g.cfg.People || len(g.companies) < g.cfg.CompanyIPs {
		size := 0
		if next < g.cfg.People {
			size = min(int(math.Exp(r.Float64()*math.Log(100))), g.cfg.People-next)
		}
		c := company{start: next, end: next + size}
		next += size

		last := g.lastNames[r.IntN(len(g.lastNames))]
		noun := companyNouns[r.IntN(len(companyNouns))]
		c.Name = last + " " + noun.noun + companySuffixes[r.IntN(len(companySuffixes))]
		c.Industry = noun.industry
		stem := slug(last)
		if stem == "" {
			stem = "united"
		}
		base := stem + "-" + strings.ToLower(noun.noun)
		if r.IntN(2) == 0 {
			base = stem + strings.ToLower(noun.noun)
		}
		name := base
		for i := 2; used[name]; i++ {
			name = base + strconv.Itoa(i)
		}
		used[name] = true
		c.Domain = name + "." + companyTLDs[r.IntN(len(companyTLDs))]
		// Head count grows with the block (log scale); revenue follows it.
		e := min(int(math.Log2(float64(size+1)))+r.IntN(3), len(employeeRanges)-1)
		c.EmployeeRange = employeeRanges[e]
		c.RevenueRange = revenueRanges[min(max(e+r.IntN(3)-1, 0), len(revenueRanges)-1)]
		g.companies = append(g.companies, c)
	}
}

// companyOnlyCompany is the company of company-only record j: the pool's
// companies are spread over the records (every company at most once).
func (g *generator) companyOnlyCompany(j int) *identity.Company {
	step := len(g.companies) / max(g.cfg.CompanyIPs, 1)
	return &g.companies[j*max(step, 1)].Company
}

// slug is the lower-case ASCII letters of s.
func slug(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}
