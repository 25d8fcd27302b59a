package soak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// Fault is what goes wrong during a Window.
type Fault string

const (
	// OPSlow: the provider holds every /auth request for SlowBy, past the
	// clients' timeoutInSeconds.
	OPSlow Fault = "op_slow"
	// OPDown: the provider answers everything with 503.
	OPDown Fault = "op_down"
	// TabOffline: one tab's network is emulated offline (CDP).
	TabOffline Fault = "tab_offline"
	// TabFrozen: one tab's page is frozen (CDP Page.setWebLifecycleState).
	TabFrozen Fault = "tab_frozen"
	// OPAuthError: every /auth answers HTTP 500 (outage.go).
	OPAuthError Fault = "op_auth_500"
	// OPTokenBusy: every POST /token answers 503 with Retry-After (outage.go).
	OPTokenBusy Fault = "op_token_503"
)

// Window is one fault, from Start to Start+Length after the run begins.
type Window struct {
	Fault  Fault         `json:"fault"`
	Start  time.Duration `json:"start_ns"`
	Length time.Duration `json:"length_ns"`
	Tab    int           `json:"tab,omitempty"` // for TabOffline and TabFrozen
}

// Scenario is one run: how long the tabs call getTokenSilently, how often,
// and the fault windows (in order, not overlapping).
type Scenario struct {
	Name     string
	Duration time.Duration
	Every    time.Duration // 250 ms
	Windows  []Window
	SlowBy   time.Duration // OPSlow's hold; 0 means Timeout+2 s
}

// Record is everything a run saw, in the page's and the provider's own terms.
type Record struct {
	Scenario Scenario
	Config   Config
	// MinValidityDropped: the clients ran without minValidityInSeconds.
	MinValidityDropped bool
	Start, End         time.Time // the calls' first tick and the stop
	Tabs               []TabRecord
	Hits               []nodeop.Hit // every request the provider got during the run
	Tokens             map[string]nodeop.IssuedToken
	SettleTime         time.Duration // from the stop until no tab had an iframe (or the limit)
}

// TabRecord is one tab's calls, events and leftovers.
type TabRecord struct {
	Tab          int       `json:"tab"`
	TokenAtStart string    `json:"-"`
	FinalToken   string    `json:"-"`
	Calls        []Call    `json:"-"`
	Events       []Event   `json:"-"`
	Pending      int       `json:"unanswered_calls"` // calls still unanswered after the stop and settle
	Stats        PageStats `json:"stats"`
	FinalError   string    `json:"final_error,omitempty"`
}

// Call is one getTokenSilently call: when it started (epoch ms, page
// clock), how long it took, and the token or the error code.
type Call struct {
	At    float64 `json:"at"`
	MS    float64 `json:"ms"`
	Token string  `json:"token"`
	Error string  `json:"error"`
}

// Event is one SDK event: renewed (with its access token), renew_error or
// session_ended (with the error code).
type Event struct {
	Name        string  `json:"name"`
	At          float64 `json:"at"`
	Token       string  `json:"token"`
	Error       string  `json:"error"`
	Description string  `json:"desc"`
}

// PageStats is silentauth.stats() when the tabs settled after the calls
// stopped, plus the iframes in the DOM.
type PageStats struct {
	LiveFrames int `json:"liveFrames"`
	LiveFuncs  int `json:"liveFuncs"`
	DOMFrames  int `json:"domFrames"`
}

// recorderJS runs once per tab after window.client exists: it records the
// client's events, and soak.begin(every) starts the getTokenSilently
// ticks. Every tick starts a call whether or not earlier ones have
// answered, as an application's timer would.
const recorderJS = `(() => {
	const s = window.__soak = { calls: [], events: [], pending: 0, timer: 0 };
	for (const name of ["renewed", "renew_error", "session_ended"]) {
		client.on(name, (p) => s.events.push({ name, at: Date.now(),
			token: (p && p.accessToken) || "", error: (p && p.error) || "", desc: (p && p.error_description) || "" }));
	}
	s.tick = () => {
		const at = Date.now(), t0 = performance.now();
		s.pending++;
		client.getTokenSilently().then(
			(token) => { s.pending--; s.calls.push({ at, ms: performance.now() - t0, token }); },
			(e) => { s.pending--; s.calls.push({ at, ms: performance.now() - t0, error: (e && e.error) || String(e) }); });
	};
	// begin answers the token held now and starts the ticks in the same
	// turn, so no event falls between the two.
	s.begin = async (every) => {
		const held = await client.getTokenSilently();
		s.calls = []; s.events = []; s.pending = 0;
		s.timer = setInterval(s.tick, every);
		s.tick();
		return held;
	};
	s.end = () => { clearInterval(s.timer); return true; };
	return true;
})()`

// Run runs one scenario on env's tabs and returns what it saw.
func Run(t testing.TB, env *Env, sc Scenario) *Record {
	t.Helper()
	if sc.Every == 0 {
		sc.Every = 250 * time.Millisecond
	}
	if sc.SlowBy == 0 {
		sc.SlowBy = time.Duration(env.Config.Timeout)*time.Second + 2*time.Second
	}
	rec := &Record{Scenario: sc, Config: env.Config, MinValidityDropped: env.MinValidityDropped,
		Tabs: make([]TabRecord, len(env.Tabs)), Tokens: map[string]nodeop.IssuedToken{}}
	hitsBefore := len(env.Gate.Hits())
	rec.Start = time.Now()
	for i, tab := range env.Tabs {
		rec.Tabs[i].Tab = i
		tab.MustEval(fmt.Sprintf(`__soak.begin(%d)`, sc.Every.Milliseconds()), &rec.Tabs[i].TokenAtStart)
	}
	t.Logf("soak %s: %v, %d tabs calling every %v, %d fault windows", sc.Name, sc.Duration, len(env.Tabs), sc.Every, len(sc.Windows))
	for _, w := range sc.Windows {
		sleepUntil(rec.Start.Add(w.Start))
		t.Logf("soak %s: +%5.1fs %s starts (tab %d)", sc.Name, time.Since(rec.Start).Seconds(), w.Fault, w.Tab)
		env.fault(t, w, true, sc.SlowBy)
		sleepUntil(rec.Start.Add(w.Start + w.Length))
		env.fault(t, w, false, sc.SlowBy)
		t.Logf("soak %s: +%5.1fs %s ends", sc.Name, time.Since(rec.Start).Seconds(), w.Fault)
	}
	sleepUntil(rec.Start.Add(sc.Duration))
	for _, tab := range env.Tabs {
		tab.MustEval(`__soak.end()`, nil)
	}
	rec.End = time.Now()

	// Let the calls in flight answer, then wait (up to a token lifetime and
	// a timeout) for a moment when no tab has an iframe: a renewal may be
	// running in one, but a leaked iframe never goes away. Each tab's
	// figures are the ones of that moment: a scheduled renewal may start
	// an iframe right after it.
	limit := time.Duration(env.Config.Timeout)*time.Second + env.Config.TokenTTL
	settled := make([]PageStats, len(env.Tabs))
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		frames, pending := 0, 0
		for i, tab := range env.Tabs {
			var s struct {
				PageStats
				Pending int `json:"pending"`
			}
			tab.MustEval(`silentauth.stats().then(s => ({ liveFrames: s.liveFrames, liveFuncs: s.liveFuncs, `+
				`domFrames: document.querySelectorAll("iframe").length, pending: __soak.pending }))`, &s)
			settled[i] = s.PageStats
			frames += s.LiveFrames + s.DOMFrames
			pending += s.Pending
		}
		if frames == 0 && pending == 0 {
			break
		}
	}
	rec.SettleTime = time.Since(rec.End)

	for i, tab := range env.Tabs {
		tr := &rec.Tabs[i]
		var snap struct {
			Calls   []Call  `json:"calls"`
			Events  []Event `json:"events"`
			Pending int     `json:"pending"`
			Final   string  `json:"final"`
			Err     string  `json:"err"`
		}
		// The final token first, then the events in the same turn: a
		// renewal that lands in between cannot be half counted.
		tab.MustEval(`(async () => {
			const out = {};
			try { out.final = await client.getTokenSilently(); } catch (e) { out.err = (e && e.error) || String(e); }
			Object.assign(out, { calls: __soak.calls, events: __soak.events.slice(), pending: __soak.pending });
			return out;
		})()`, &snap)
		tr.Calls, tr.Events, tr.Pending, tr.FinalToken, tr.FinalError = snap.Calls, snap.Events, snap.Pending, snap.Final, snap.Err
		tr.Stats = settled[i]
	}
	rec.Hits = env.Gate.Hits()[hitsBefore:]
	rec.Tokens = env.Gate.Tokens()
	t.Logf("soak %s: stopped after %v; no iframe and no call in flight %v later", sc.Name,
		rec.End.Sub(rec.Start).Round(100*time.Millisecond), rec.SettleTime.Round(100*time.Millisecond))
	return rec
}

func sleepUntil(at time.Time) {
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}

// fault switches w's fault on or off.
func (e *Env) fault(t testing.TB, w Window, on bool, slowBy time.Duration) {
	t.Helper()
	switch w.Fault {
	case OPSlow:
		e.Gate.SetMode(map[bool]nodeop.Mode{true: nodeop.Slow, false: nodeop.Pass}[on], slowBy)
	case OPDown:
		e.Gate.SetMode(map[bool]nodeop.Mode{true: nodeop.Down, false: nodeop.Pass}[on], 0)
	case OPAuthError:
		e.Gate.SetMode(map[bool]nodeop.Mode{true: nodeop.AuthError, false: nodeop.Pass}[on], 0)
	case OPTokenBusy:
		e.Gate.SetMode(map[bool]nodeop.Mode{true: nodeop.TokenBusy, false: nodeop.Pass}[on], 0)
	case TabOffline:
		cdp(t, e.Tabs[w.Tab], func(ctx context.Context) error {
			if err := network.Enable().Do(ctx); err != nil {
				return err
			}
			return network.EmulateNetworkConditions(on, 0, -1, -1).Do(ctx)
		})
	case TabFrozen:
		state := page.SetWebLifecycleStateStateActive
		if on {
			state = page.SetWebLifecycleStateStateFrozen
		}
		cdp(t, e.Tabs[w.Tab], page.SetWebLifecycleState(state).Do)
	default:
		t.Fatalf("unknown fault %q", w.Fault)
	}
}

func cdp(t testing.TB, tab *chrome.Tab, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.ActionFunc(f)); err != nil {
		t.Fatalf("CDP: %v", err)
	}
}

// Export is the record as JSON-ready data, every token replaced by the
// first 12 hex digits of its SHA-256 so that the file stays small and a
// token can still be followed from the provider to each tab.
func (r *Record) Export() any {
	h := func(tok string) string {
		if tok == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(tok))
		return hex.EncodeToString(sum[:6])
	}
	type tab struct {
		TabRecord
		TokenAtStart string  `json:"token_at_start"`
		FinalToken   string  `json:"final_token"`
		Calls        []Call  `json:"calls"`
		Events       []Event `json:"events"`
	}
	type token struct {
		Token string `json:"token"`
		Exp   int64  `json:"exp_ms"`
		Grant string `json:"grant"`
	}
	type hit struct {
		At         int64  `json:"at_ms"`
		Method     string `json:"method"`
		Path       string `json:"path"`
		PromptNone bool   `json:"prompt_none,omitempty"`
		GrantType  string `json:"grant_type,omitempty"`
		Mode       string `json:"gate_mode"`
		Status     int    `json:"status"`
	}
	out := struct {
		Scenario string   `json:"scenario"`
		Start    int64    `json:"start_ms"`
		End      int64    `json:"end_ms"`
		Windows  []Window `json:"windows"`
		Tabs     []tab    `json:"tabs"`
		Hits     []hit    `json:"provider_hits"`
		Tokens   []token  `json:"provider_tokens"`
	}{Scenario: r.Scenario.Name, Start: r.Start.UnixMilli(), End: r.End.UnixMilli(), Windows: r.Scenario.Windows}
	for _, tr := range r.Tabs {
		x := tab{TabRecord: tr, TokenAtStart: h(tr.TokenAtStart), FinalToken: h(tr.FinalToken)}
		for _, c := range tr.Calls {
			c.Token = h(c.Token)
			x.Calls = append(x.Calls, c)
		}
		for _, e := range tr.Events {
			e.Token = h(e.Token)
			x.Events = append(x.Events, e)
		}
		out.Tabs = append(out.Tabs, x)
	}
	for _, ht := range r.Hits {
		out.Hits = append(out.Hits, hit{ht.At.UnixMilli(), ht.Method, ht.Path, ht.PromptNone, ht.GrantType, ht.Mode.String(), ht.Status})
	}
	for v, it := range r.Tokens {
		out.Tokens = append(out.Tokens, token{h(v), it.Exp.UnixMilli(), it.Grant})
	}
	sort.Slice(out.Tokens, func(i, j int) bool { return out.Tokens[i].Exp < out.Tokens[j].Exp })
	return out
}
