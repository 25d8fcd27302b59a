package soak

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// A made-up 20 s run of one tab, with a fault from 5 s to 10 s: each case
// names the figure it pins.
func TestComputeCountsAsTheContractReadsThem(t *testing.T) {
	t0 := time.UnixMilli(1_000_000_000_000)
	ms := func(d float64) float64 { return float64(t0.UnixMilli()) + d*1000 }
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tokens := map[string]nodeop.IssuedToken{
		"A": {Value: "A", Exp: at(8)},
		"B": {Value: "B", Exp: at(13)},
		"C": {Value: "C", Exp: at(18)},
		"D": {Value: "D", Exp: at(27)}, // issued 1 s before the end
		"E": {Value: "E", Exp: at(12)}, // issued at 4 s to another tab only
	}
	rec := &Record{
		Scenario: Scenario{Name: "synthetic", Duration: 20 * time.Second,
			Windows: []Window{{Fault: OPDown, Start: 5 * time.Second, Length: 5 * time.Second}}},
		Config: Config{Tabs: 1, TokenTTL: 8 * time.Second, RenewBefore: 3},
		Start:  t0, End: at(20), Tokens: tokens,
		Tabs: []TabRecord{{
			TokenAtStart: "A", FinalToken: "C",
			Calls: []Call{
				{At: ms(1), MS: 2, Token: "A"},          // clean, available
				{At: ms(2), MS: 150, Token: "A"},        // clean, late
				{At: ms(6), MS: 3000, Error: "timeout"}, // in the fault
				{At: ms(7.9), MS: 200, Token: "A"},      // expires during the call: allowed, not available
				{At: ms(9), MS: 1, Token: "A"},          // expired before the call: served expired
				{At: ms(11), MS: 1, Token: "B"},         // recovery: whole run only
				{At: ms(15), MS: 1, Token: "X"},         // never issued
				{At: ms(16), MS: 1, Token: "C"},
			},
			Events: []Event{
				{Name: "renewed", At: ms(10.5), Token: "B"},
				{Name: "renewed", At: ms(10.5), Token: "B"}, // duplicate
				{Name: "renewed", At: ms(15.5), Token: "C"},
				{Name: "renew_error", At: ms(6), Error: "timeout"},
				{Name: "renewed", At: ms(21), Token: "D"}, // after the stop, replaced before the final read
			},
		}},
		Hits: []nodeop.Hit{
			{At: at(1), Path: "/auth", PromptNone: true},
			{At: at(6), Path: "/auth", PromptNone: true},
			{At: at(10.4), Path: "/token", GrantType: "authorization_code"},
			{At: at(15), Path: "/auth", PromptNone: true},
			{At: at(16), Path: "/token", GrantType: "refresh_token"},
		},
	}
	f := Compute(rec)
	tab := f.Tabs[0]
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"every answered call counts in the whole run", f.Whole.Calls, 8},
		{"available: within 100 ms with a token the provider still accepts", f.Whole.Available, 3},
		{"late: a valid token after 100 ms", f.Whole.Late, 1},
		{"a token that expires during its call is allowed, not expired", f.Whole.ExpiredInCall, 1},
		{"a token that expired before its call began is expired", f.Whole.Expired, 1},
		{"the clean time leaves out the window and the 3 s after it", f.Clean.Seconds, 12.0},
		{"clean calls are the ones that start in the clean time", f.Clean.Calls, 4},
		{"a fault window counts its own calls", f.Faults[0].Calls, 3},
		{"recovery: from the window's end to the tab's first call served in time", f.Faults[0].RecoverySeconds, 1.0},
		{"renewals are prompt=none /auth plus refresh grants", f.Whole.Renewals, 4},
		{"renewals per lifetime: 4 in 20 s of 5 s periods", f.Whole.PerLifetime, 1.0},
		{"distinct tokens leave out the one held at the start", tab.Distinct, 3},
		{"a token renewed twice in a tab is a duplicate", tab.Duplicates, 1},
		{"renewed counts every event up to the stop, and the final token's", tab.Renewed, 3},
		{"a token announced after the stop that the final read no longer saw is not unserved", tab.Unserved, 0},
		{"a token answered that no renewed announced", tab.Unannounced, 1},
		{"a token the provider never issued", tab.Unknown, 1},
		{"expired tokens served per tab", tab.Expired, 1},
		{"renew_error events", tab.RenewErrors, 1},
		{"a token issued to the group in the run that never reached the tab (not D: it came at the end)", tab.Missed, 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// The backoff after a server fault can hold the tabs' next attempt past
// the fault's end. Those seconds are the fault's recovery, printed as such,
// and not the steady state that "outside faults" reports.
func TestARecoverySlowerThanTheGraceIsTheFaultsNotTheCleanTimes(t *testing.T) {
	t0 := time.UnixMilli(1_000_000_000_000)
	ms := func(d float64) float64 { return float64(t0.UnixMilli()) + d*1000 }
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tab := func(calls ...Call) TabRecord { return TabRecord{TokenAtStart: "A", Calls: calls} }
	rec := &Record{
		Scenario: Scenario{Name: "synthetic", Duration: 30 * time.Second,
			Windows: []Window{{Fault: OPDown, Start: 5 * time.Second, Length: 5 * time.Second}}},
		Config: Config{Tabs: 2, TokenTTL: 8 * time.Second, RenewBefore: 3},
		Start:  t0, End: at(30),
		Tokens: map[string]nodeop.IssuedToken{"A": {Value: "A", Exp: at(8)}, "B": {Value: "B", Exp: at(30)}},
		Tabs: []TabRecord{
			tab(Call{At: ms(11), MS: 1, Token: "B"}, Call{At: ms(20), MS: 1, Token: "B"}),
			// The second tab is still in its backoff 6 s after the fault.
			tab(Call{At: ms(12), MS: 1, Error: "timeout"}, Call{At: ms(15.9), MS: 1, Error: "timeout"},
				Call{At: ms(16), MS: 150, Token: "B"}, Call{At: ms(17), MS: 1, Token: "B"}, Call{At: ms(20), MS: 1, Token: "B"}),
		},
	}
	f := Compute(rec)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"recovery ends with the last tab's first call served in time (a late answer is not)", f.Faults[0].RecoverySeconds, 7.0},
		{"the clean time leaves out the window and its whole recovery", f.Clean.Seconds, 30.0 - 5 - 7},
		{"no call of the recovery counts as clean", f.Clean.Errors, 0},
		{"every clean call was served in time", f.Clean.Availability, 1.0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// A tab that is never served again recovers at the run's end.
	rec.Tabs[1].Calls = rec.Tabs[1].Calls[:2]
	if got := Compute(rec).Faults[0].RecoverySeconds; got != 20 {
		t.Errorf("a tab never served again: recovery %v s, want 20 (the rest of the run)", got)
	}
}
