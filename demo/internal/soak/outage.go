package soak

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// OutageScenario is the outage run: Lead of calm, then Length of fault
// (OPAuthError or OPTokenBusy), then After of recovery, with every tab
// calling getTokenSilently every 250 ms throughout.
func OutageScenario(name string, fault Fault, lead, length, after time.Duration) Scenario {
	return Scenario{Name: name, Duration: lead + length + after,
		Windows: []Window{{Fault: fault, Start: lead, Length: length}}}
}

// OutageFigures is what the provider and the pages saw of one outage: the
// renewal requests per minute of it, how long after it every tab had a
// token again, and how fast callers were answered meanwhile.
type OutageFigures struct {
	Scenario string  `json:"scenario"`
	Fault    Fault   `json:"fault"`
	Seconds  float64 `json:"outage_seconds"`
	// PerMinute counts the renewal requests (/auth and POST /token) the
	// provider got in each whole or partial minute of the outage.
	PerMinute []int `json:"requests_per_minute"`
	// Before is the same count for the minute before the outage.
	Before int `json:"requests_minute_before"`
	// Recovered is, per tab, the seconds from the end of the outage to its
	// first call answered with a token; -1 when none was by the stop.
	Recovered []float64 `json:"recovered_seconds"`
	// AllRecovered is the largest of Recovered (-1 if a tab never did).
	AllRecovered float64 `json:"all_recovered_seconds"`
	// Calls during the outage: how many, how many failed, and how long
	// they took (page clock).
	Calls     int       `json:"calls"`
	Failed    int       `json:"failed"`
	P50MS     float64   `json:"p50_ms"`
	P95MS     float64   `json:"p95_ms"`
	MaxMS     float64   `json:"max_ms"`
	Codes     string    `json:"codes"`
	Gaps      []float64 `json:"gaps_seconds"` // between the provider's renewal requests during the outage
	MinGapSec float64   `json:"min_gap_seconds"`
}

// Requests is how many renewal requests the provider got during the
// whole outage.
func (f OutageFigures) Requests() int {
	n := 0
	for _, m := range f.PerMinute {
		n += m
	}
	return n
}

// renewalHit reports a request that renews: the silent iframe's /auth or a
// token request.
func renewalHit(path, method string) bool {
	return path == "/auth" || (path == "/token" && method == "POST")
}

// ComputeOutage works out r's outage figures from its one fault window.
func ComputeOutage(r *Record) OutageFigures {
	w := r.Scenario.Windows[0]
	from := r.Start.Add(w.Start)
	to := from.Add(w.Length)
	f := OutageFigures{Scenario: r.Scenario.Name, Fault: w.Fault, Seconds: w.Length.Seconds()}
	minutes := int((w.Length + time.Minute - 1) / time.Minute)
	f.PerMinute = make([]int, minutes)
	var during []time.Time
	for _, h := range r.Hits {
		if !renewalHit(h.Path, h.Method) {
			continue
		}
		switch {
		case !h.At.Before(from.Add(-time.Minute)) && h.At.Before(from):
			f.Before++
		case !h.At.Before(from) && h.At.Before(to):
			f.PerMinute[int(h.At.Sub(from)/time.Minute)]++
			during = append(during, h.At)
		}
	}
	sort.Slice(during, func(i, j int) bool { return during[i].Before(during[j]) })
	f.MinGapSec = -1
	for i := 1; i < len(during); i++ {
		g := during[i].Sub(during[i-1]).Seconds()
		f.Gaps = append(f.Gaps, g)
		if f.MinGapSec < 0 || g < f.MinGapSec {
			f.MinGapSec = g
		}
	}
	fromMs, toMs := float64(from.UnixMilli()), float64(to.UnixMilli())
	var ms []float64
	codes := map[string]int{}
	f.AllRecovered = 0
	for _, tr := range r.Tabs {
		back := -1.0
		for _, c := range tr.Calls {
			if c.At >= fromMs && c.At < toMs {
				f.Calls++
				ms = append(ms, c.MS)
				if c.Error != "" {
					f.Failed++
					codes[c.Error]++
				}
			}
			if c.At >= toMs && c.Token != "" && back < 0 {
				back = (c.At + c.MS - toMs) / 1000
			}
		}
		f.Recovered = append(f.Recovered, back)
		if back < 0 || f.AllRecovered < 0 {
			f.AllRecovered = -1
		} else if back > f.AllRecovered {
			f.AllRecovered = back
		}
	}
	sort.Float64s(ms)
	if n := len(ms); n > 0 {
		f.P50MS, f.P95MS, f.MaxMS = ms[n/2], ms[min(n-1, n*95/100)], ms[n-1]
	}
	var cs []string
	for c, n := range codes {
		cs = append(cs, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(cs)
	f.Codes = strings.Join(cs, ", ")
	return f
}

// OutageTable prints outage figures, one block per run.
func OutageTable(fs ...OutageFigures) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s (%s for %.0f s):\n", f.Scenario, f.Fault, f.Seconds)
		var per []string
		for i, n := range f.PerMinute {
			per = append(per, fmt.Sprintf("minute %d: %d", i+1, n))
		}
		fmt.Fprintf(&b, "  renewal requests the provider got: %s (the minute before: %d)\n", strings.Join(per, ", "), f.Before)
		if f.MinGapSec >= 0 {
			fmt.Fprintf(&b, "  shortest gap between them during the outage: %.1f s\n", f.MinGapSec)
		}
		fmt.Fprintf(&b, "  every tab with a token again: %s s after the recovery (per tab: %s)\n", secs(f.AllRecovered), secsList(f.Recovered))
		fmt.Fprintf(&b, "  calls during the outage: %d, %d failed (%s); answered in p50 %.1f ms, p95 %.1f ms, max %.1f ms\n",
			f.Calls, f.Failed, f.Codes, f.P50MS, f.P95MS, f.MaxMS)
	}
	return b.String()
}

func secs(s float64) string {
	if s < 0 {
		return "never"
	}
	return fmt.Sprintf("%.1f", s)
}

func secsList(ss []float64) string {
	var out []string
	for _, s := range ss {
		out = append(out, secs(s))
	}
	return strings.Join(out, ", ")
}
