package soak

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// AvailableWithin is how fast a call must answer to count as available.
const AvailableWithin = 100 // ms

// Recovery is how long after a fault window calls count as neither inside
// it nor clean, at least. Where the tabs take longer to serve tokens again
// (the engine's backoff after a server fault can hold the next attempt
// several seconds past the fault's end), the clean time starts when every
// tab is served again, and the window's RecoverySeconds says how long that
// took: the steady state and the way back out of a fault are two figures.
const Recovery = 3 * time.Second

// Figures is what a run measured. Compute is the only place they are
// worked out; the e2e test asserts on the counts, make bench prints them.
type Figures struct {
	Scenario           string         `json:"scenario"`
	RunSeconds         float64        `json:"run_s"`
	TokenTTLSeconds    float64        `json:"token_ttl_s"`
	RenewBefore        int            `json:"renew_before_expiry_s"`
	MinValidity        int            `json:"min_validity_s"`
	MinValidityDropped bool           `json:"min_validity_dropped"`
	Timeout            int            `json:"timeout_s"`
	Windows            []Window       `json:"windows"`
	Whole              Segment        `json:"whole"`
	Clean              Segment        `json:"outside_faults"`
	Faults             []Segment      `json:"inside_faults"`
	Tabs               []TabFigures   `json:"tabs"`
	Issued             int            `json:"tokens_issued"`
	ByGrant            map[string]int `json:"tokens_issued_by_grant"`
	SettleSeconds      float64        `json:"settle_s"`
}

// Segment is availability and renewal rate over part of the run: the
// whole of it, the time outside the fault windows (each window and the
// Recovery after it left out), or one window.
type Segment struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Calls   int     `json:"calls"`
	// Available calls answered within AvailableWithin ms with a token the
	// provider still accepted when the answer came.
	Available    int     `json:"available"`
	Availability float64 `json:"availability"`
	Late         int     `json:"late"`    // answered with a token, but after AvailableWithin
	Errors       int     `json:"errors"`  // rejected
	Expired      int     `json:"expired"` // answered with a token the provider had let expire before the call began
	// ExpiredInCall: the token expired while the call ran (allowed).
	ExpiredInCall int            `json:"expired_during_call"`
	ErrorCodes    map[string]int `json:"error_codes"`
	// Authorize is prompt=none /auth requests the provider got, Refresh its
	// refresh_token grants; Renewals is their sum.
	Authorize int `json:"authorize"`
	Refresh   int `json:"refresh_grants"`
	Exchanges int `json:"code_exchanges"`
	Renewals  int `json:"renewals"`
	// PerLifetime is Renewals ÷ (Seconds ÷ (TTL − renewBefore)): 1 is one
	// renewal per token lifetime for all tabs together.
	PerLifetime float64 `json:"renewals_per_lifetime"`
	LatencyP50  float64 `json:"latency_p50_ms"`
	LatencyP95  float64 `json:"latency_p95_ms"`
	LatencyMax  float64 `json:"latency_max_ms"`
	// RecoverySeconds, for a fault window: from its end until every tab's
	// first call answered in time with a valid token (the run's end if a
	// tab never was).
	RecoverySeconds float64 `json:"recovery_s,omitempty"`
}

// TabFigures is one tab's counts.
type TabFigures struct {
	Tab   int `json:"tab"`
	Calls int `json:"calls"`
	// Renewed is the renewed events, leaving out a token announced after
	// the calls stopped that the final read no longer saw; Distinct the
	// distinct access tokens getTokenSilently answered, leaving out the one
	// held when the run began.
	Renewed  int `json:"renewed"`
	Distinct int `json:"distinct_tokens"`
	// Duplicates is renewed events whose token this tab's renewed had
	// announced already, or that it held when the run began.
	Duplicates int `json:"duplicate_renewed"`
	// Unannounced is tokens answered that no renewed event announced;
	// Unserved is distinct renewed tokens that getTokenSilently never answered.
	Unannounced int `json:"tokens_without_renewed"`
	Unserved    int `json:"renewed_never_answered"`
	// Missed is tokens the provider issued during the run (up to
	// missedGrace before its end) that this tab neither announced nor
	// answered: tabs that renew once between them all get every token.
	Missed       int            `json:"issued_tokens_missed"`
	Expired      int            `json:"expired_served"`
	Unknown      int            `json:"unknown_tokens"` // tokens the provider never issued
	RenewErrors  int            `json:"renew_error"`
	SessionEnded int            `json:"session_ended"`
	ErrorCodes   map[string]int `json:"error_codes"`
	Unanswered   int            `json:"unanswered_calls"`
	LiveFrames   int            `json:"live_frames"`
	LiveFuncs    int            `json:"live_funcs"`
	DOMFrames    int            `json:"dom_iframes"`
	FinalError   string         `json:"final_error,omitempty"`
}

// missedGrace leaves the last tokens of a run out of TabFigures.Missed:
// they may still be on their way to the other tabs at the stop.
const missedGrace = 2 * time.Second

type interval struct{ from, to float64 } // epoch ms

// Compute works out the figures of a run.
func Compute(r *Record) Figures {
	start := float64(r.Start.UnixMilli())
	end := float64(r.End.UnixMilli())
	period := r.Config.TokenTTL.Seconds() - float64(r.Config.RenewBefore)
	f := Figures{
		Scenario: r.Scenario.Name, RunSeconds: (end - start) / 1000,
		TokenTTLSeconds: r.Config.TokenTTL.Seconds(), RenewBefore: r.Config.RenewBefore,
		MinValidity: r.Config.MinValidity, MinValidityDropped: r.MinValidityDropped, Timeout: r.Config.Timeout,
		Windows: r.Scenario.Windows, ByGrant: map[string]int{}, SettleSeconds: r.SettleTime.Seconds(),
	}
	// The clean time is the run less each window and its recovery.
	clean := []interval{{start, end}}
	var faults []interval
	for _, w := range r.Scenario.Windows {
		ws := start + float64(w.Start.Milliseconds())
		we := ws + float64(w.Length.Milliseconds())
		faults = append(faults, interval{ws, we})
		clean = cut(clean, interval{ws, max(we+float64(Recovery.Milliseconds()), servedAgain(r, we, end))})
	}
	f.Whole = segment(r, "whole run", []interval{{start, end}}, period)
	f.Clean = segment(r, "outside faults", clean, period)
	for i, w := range r.Scenario.Windows {
		name := string(w.Fault)
		if w.Fault == TabOffline || w.Fault == TabFrozen {
			name += fmt.Sprintf(" (tab %d)", w.Tab)
		}
		seg := segment(r, name, faults[i:i+1], period)
		seg.RecoverySeconds = (servedAgain(r, faults[i].to, end) - faults[i].to) / 1000
		f.Faults = append(f.Faults, seg)
	}
	for _, tok := range r.Tokens {
		if t := float64(tok.Exp.UnixMilli()); t > start { // issued during the run or just before
			f.Issued++
			f.ByGrant[tok.Grant]++
		}
	}
	for _, tr := range r.Tabs {
		f.Tabs = append(f.Tabs, tabFigures(r, tr))
	}
	return f
}

func tabFigures(r *Record, tr TabRecord) TabFigures {
	tf := TabFigures{Tab: tr.Tab, Calls: len(tr.Calls), ErrorCodes: map[string]int{}, Unanswered: tr.Pending,
		LiveFrames: tr.Stats.LiveFrames, LiveFuncs: tr.Stats.LiveFuncs, DOMFrames: tr.Stats.DOMFrames, FinalError: tr.FinalError}
	served := map[string]bool{}
	for _, c := range tr.Calls {
		if c.Error != "" {
			tf.ErrorCodes[c.Error]++
			continue
		}
		if c.Token != tr.TokenAtStart {
			served[c.Token] = true
		}
		switch expiry(r, c) {
		case "expired":
			tf.Expired++
		case "unknown":
			tf.Unknown++
		}
	}
	if tr.FinalToken != "" && tr.FinalToken != tr.TokenAtStart {
		served[tr.FinalToken] = true
	}
	announced := map[string]bool{tr.TokenAtStart: true}
	end := float64(r.End.UnixMilli())
	for _, e := range tr.Events {
		switch e.Name {
		case "renewed":
			if announced[e.Token] {
				tf.Duplicates++
			}
			// A token announced after the calls stopped and replaced before
			// the final read had no call to answer it: the settle wait
			// outlasted a renewal period. It counts neither way.
			if e.At > end && e.Token != tr.FinalToken && !served[e.Token] {
				announced[e.Token] = true
				continue
			}
			tf.Renewed++
			if !announced[e.Token] && !served[e.Token] {
				tf.Unserved++
			}
			announced[e.Token] = true
		case "renew_error":
			tf.RenewErrors++
		case "session_ended":
			tf.SessionEnded++
		}
	}
	tf.Distinct = len(served)
	for tok := range served {
		if !announced[tok] {
			tf.Unannounced++
		}
	}
	for v, it := range r.Tokens {
		issued := it.Exp.Add(-r.Config.TokenTTL)
		if issued.Before(r.Start) || issued.After(r.End.Add(-missedGrace)) || v == tr.TokenAtStart {
			continue
		}
		if !announced[v] && !served[v] {
			tf.Missed++
		}
	}
	return tf
}

// expiry says how a call's token stood at the provider: "ok" (valid when
// the answer came), "in-call" (it expired while the call ran), "expired"
// (before the call began), "unknown" (never issued), or "" for an error.
func expiry(r *Record, c Call) string {
	if c.Error != "" {
		return ""
	}
	tok, ok := r.Tokens[c.Token]
	if !ok {
		return "unknown"
	}
	// The provider refuses a token from its exp second on.
	exp := float64(tok.Exp.UnixMilli())
	switch {
	case c.At+c.MS < exp:
		return "ok"
	case c.At < exp:
		return "in-call"
	}
	return "expired"
}

func segment(r *Record, name string, in []interval, period float64) Segment {
	s := Segment{Name: name, ErrorCodes: map[string]int{}}
	for _, iv := range in {
		s.Seconds += (iv.to - iv.from) / 1000
	}
	var lat []float64
	for _, tr := range r.Tabs {
		for _, c := range tr.Calls {
			if !inside(in, c.At) {
				continue
			}
			s.Calls++
			lat = append(lat, c.MS)
			if c.Error != "" {
				s.Errors++
				s.ErrorCodes[c.Error]++
				continue
			}
			switch expiry(r, c) {
			case "ok":
				if c.MS <= AvailableWithin {
					s.Available++
				} else {
					s.Late++
				}
			case "in-call":
				s.ExpiredInCall++
			case "expired":
				s.Expired++
			}
		}
	}
	for _, h := range r.Hits {
		if !inside(in, float64(h.At.UnixMilli())) {
			continue
		}
		switch {
		case h.Path == "/auth" && h.PromptNone:
			s.Authorize++
		case h.Path == "/token" && h.GrantType == "refresh_token":
			s.Refresh++
		case h.Path == "/token" && h.GrantType == "authorization_code":
			s.Exchanges++
		}
	}
	s.Renewals = s.Authorize + s.Refresh
	if s.Calls > 0 {
		s.Availability = float64(s.Available) / float64(s.Calls)
	}
	if s.Seconds > 0 && period > 0 {
		s.PerLifetime = float64(s.Renewals) / (s.Seconds / period)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		s.LatencyP50 = lat[len(lat)/2]
		s.LatencyP95 = lat[max(0, (len(lat)*95+99)/100-1)]
		s.LatencyMax = lat[len(lat)-1]
	}
	return s
}

// servedAgain is when, after from, every tab has had a call answered in
// time with a valid token: the latest of the tabs' first such calls, or
// end when some tab had none.
func servedAgain(r *Record, from, end float64) float64 {
	last := from
	for _, tr := range r.Tabs {
		first := end
		for _, c := range tr.Calls {
			if c.At >= from && c.At < first && c.Error == "" && c.MS <= AvailableWithin && expiry(r, c) == "ok" {
				first = c.At
			}
		}
		last = max(last, first)
	}
	return last
}

func inside(in []interval, at float64) bool {
	for _, iv := range in {
		if at >= iv.from && at < iv.to {
			return true
		}
	}
	return false
}

// cut removes x from every interval of in.
func cut(in []interval, x interval) []interval {
	var out []interval
	for _, iv := range in {
		if x.to <= iv.from || x.from >= iv.to {
			out = append(out, iv)
			continue
		}
		if iv.from < x.from {
			out = append(out, interval{iv.from, x.from})
		}
		if x.to < iv.to {
			out = append(out, interval{x.to, iv.to})
		}
	}
	return out
}

// Table renders figures as make bench prints them.
func Table(fs ...Figures) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	for _, f := range fs {
		mv := fmt.Sprintf("minValidityInSeconds %d", f.MinValidity)
		if f.MinValidityDropped {
			mv = "minValidityInSeconds dropped (createClient rejects it; default applies)"
		}
		p("\nSoak %q: %.0f s, %d tabs, access tokens %.0f s, renewBeforeExpiryInSeconds %d, %s, timeoutInSeconds %d\n",
			f.Scenario, f.RunSeconds, len(f.Tabs), f.TokenTTLSeconds, f.RenewBefore, mv, f.Timeout)
		p("%-22s %6s %6s %7s %5s %5s %5s %5s %7s %7s %7s %6s %6s %9s %7s  %s\n", "segment", "s", "calls", "avail", "late",
			"err", "exp", "expC", "p50ms", "p95ms", "maxms", "/auth", "rt", "renew/TTL", "recov_s", "errors")
		for i, s := range append([]Segment{f.Whole, f.Clean}, f.Faults...) {
			recovery := "-"
			if i >= 2 {
				recovery = fmt.Sprintf("%.1f", s.RecoverySeconds)
			}
			p("%-22s %6.1f %6d %6.1f%% %5d %5d %5d %5d %7.1f %7.0f %7.0f %6d %6d %9.2f %7s  %s\n", s.Name, s.Seconds, s.Calls,
				100*s.Availability, s.Late, s.Errors, s.Expired, s.ExpiredInCall, s.LatencyP50, s.LatencyP95, s.LatencyMax,
				s.Authorize, s.Refresh, s.PerLifetime, recovery, codes(s.ErrorCodes))
		}
		p("  avail: answered within %d ms with a token the provider still accepted; exp: token expired before the call began;\n", AvailableWithin)
		p("  expC: expired during the call; rt: refresh grants; renew/TTL: (/auth + rt) ÷ (s ÷ (TTL − renewBefore)), 1.00 = ideal;\n")
		p("  recov_s: from a fault's end until every tab is served in time again; outside faults leaves out each fault and\n")
		p("  its recovery (at least %.0f s)\n", Recovery.Seconds())
		p("%-4s %6s %8s %9s %5s %7s %7s %7s %5s %5s %6s %6s %6s %6s %6s  %s\n", "tab", "calls", "renewed", "distinct", "dup",
			"unannc", "unserv", "missed", "exp", "unk", "r_err", "ended", "frames", "funcs", "unansw", "errors")
		for _, t := range f.Tabs {
			p("%-4d %6d %8d %9d %5d %7d %7d %7d %5d %5d %6d %6d %6d %6d %6d  %s\n", t.Tab, t.Calls, t.Renewed, t.Distinct,
				t.Duplicates, t.Unannounced, t.Unserved, t.Missed, t.Expired, t.Unknown, t.RenewErrors, t.SessionEnded,
				t.LiveFrames, t.LiveFuncs, t.Unanswered, codes(t.ErrorCodes))
		}
		p("  renewed: events; distinct: new tokens getTokenSilently answered; dup: renewed for a token already announced;\n")
		p("  unannc: answered but never announced; unserv: announced, never answered; missed: issued to the group, never reached this tab\n")
		p("  tokens issued %d %s; no iframe and no call in flight %.1f s after the stop\n", f.Issued, codes(f.ByGrant), f.SettleSeconds)
	}
	return b.String()
}

func codes(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var out []string
	for _, k := range ks {
		out = append(out, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(out, " ")
}

// Timeline is one tab's run as text: each event, and each call whose token
// differs from the previous call's or that failed, at seconds from the
// start, with tokens shortened to their last 6 characters and the
// provider's expiry of each.
func Timeline(r *Record, tab int) string {
	tr := r.Tabs[tab]
	start := float64(r.Start.UnixMilli())
	type line struct {
		at   float64
		text string
	}
	short := func(tok string) string {
		if tok == "" {
			return "-"
		}
		s := tok
		if len(s) > 6 {
			s = s[len(s)-6:]
		}
		if it, ok := r.Tokens[tok]; ok {
			return fmt.Sprintf("%s(exp %+.1fs)", s, (float64(it.Exp.UnixMilli())-start)/1000)
		}
		return s + "(unknown)"
	}
	lines := []line{{0, "held " + short(tr.TokenAtStart)}}
	for _, e := range tr.Events {
		text := e.Name + " " + short(e.Token)
		if e.Error != "" {
			text = e.Name + " " + e.Error + ": " + e.Description
		}
		lines = append(lines, line{e.At, "event " + text})
	}
	prev := tr.TokenAtStart
	for _, c := range tr.Calls {
		switch {
		case c.Error != "":
			lines = append(lines, line{c.At, fmt.Sprintf("call  %s after %.0f ms", c.Error, c.MS)})
		case c.Token != prev:
			lines = append(lines, line{c.At, fmt.Sprintf("call  answers %s after %.0f ms (%s)", short(c.Token), c.MS, expiry(r, c))})
			prev = c.Token
		case c.MS > AvailableWithin || expiry(r, c) != "ok":
			lines = append(lines, line{c.At, fmt.Sprintf("call  answers %s after %.0f ms (%s)", short(c.Token), c.MS, expiry(r, c))})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at < lines[j].at })
	var b strings.Builder
	fmt.Fprintf(&b, "tab %d:\n", tab)
	for _, l := range lines {
		at := 0.0
		if l.at != 0 {
			at = (l.at - start) / 1000
		}
		fmt.Fprintf(&b, "  %+7.2fs %s\n", at, l.text)
	}
	return b.String()
}
