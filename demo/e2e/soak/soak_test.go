// Package soak_test is the renewal soak (issue 10) as an end-to-end test:
// three tabs of one origin, one client configuration, node-oidc-provider
// with 8-second access tokens, getTokenSilently every 250 ms in each tab.
// It asserts counts, never timings: what the contract promises however
// busy the machine is. make bench runs the long version with four fault
// windows and prints availability and renewal rates (demo/bench).
package soak_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/soak"
)

func TestSoak(t *testing.T) {
	env := soak.Start(t, soak.DefaultConfig())
	t.Run("30 s without faults", func(t *testing.T) {
		rec := soak.Run(t, env, soak.Scenario{Name: "e2e no faults", Duration: 30 * time.Second})
		contract(t, rec)
	})
	t.Run("one tab offline for 8 s", func(t *testing.T) {
		rec := soak.Run(t, env, soak.Scenario{Name: "e2e tab offline", Duration: 20 * time.Second,
			Windows: []soak.Window{{Fault: soak.TabOffline, Tab: 1, Start: 6 * time.Second, Length: 8 * time.Second}}})
		contract(t, rec)
	})
}

// contract checks what API.md promises whatever the timing: each renewal
// announced once per tab and every new token announced, no token served
// that the provider had let expire, nothing left behind, the session kept.
func contract(t *testing.T, rec *soak.Record) {
	t.Helper()
	f := soak.Compute(rec)
	t.Log(soak.Table(f))
	defer func() {
		if t.Failed() {
			for i := range rec.Tabs {
				t.Log(soak.Timeline(rec, i))
			}
		}
	}()
	if f.Whole.Calls == 0 {
		t.Fatal("no getTokenSilently call answered")
	}
	for _, tab := range f.Tabs {
		if tab.Duplicates != 0 {
			t.Errorf("tab %d: %d renewed events for a token it had already (renewed is once per renewal)", tab.Tab, tab.Duplicates)
		}
		if tab.Renewed != tab.Distinct {
			t.Errorf("tab %d: %d renewed events, %d new tokens answered by getTokenSilently (%d answered without a renewed, %d renewed never answered): want one renewed per new token",
				tab.Tab, tab.Renewed, tab.Distinct, tab.Unannounced, tab.Unserved)
		}
		if tab.Missed != 0 {
			t.Errorf("tab %d: %d tokens the provider issued during the run never reached it (tabs of one configuration renew once between them and share the result)",
				tab.Tab, tab.Missed)
		}
		if tab.Expired != 0 {
			t.Errorf("tab %d: getTokenSilently answered %d times with a token the provider had let expire before the call began", tab.Tab, tab.Expired)
		}
		if tab.Unknown != 0 {
			t.Errorf("tab %d: %d answers with a token the provider never issued", tab.Tab, tab.Unknown)
		}
		if tab.SessionEnded != 0 {
			t.Errorf("tab %d: %d session_ended events, but the session never ended", tab.Tab, tab.SessionEnded)
		}
		if tab.LiveFrames != 0 || tab.DOMFrames != 0 {
			t.Errorf("tab %d: %d live iframes (stats) and %d in the DOM after the calls stopped and %.1f s to settle",
				tab.Tab, tab.LiveFrames, tab.DOMFrames, f.SettleSeconds)
		}
		if tab.Unanswered != 0 {
			t.Errorf("tab %d: %d getTokenSilently calls never answered (timeoutInSeconds is %d)", tab.Tab, tab.Unanswered, f.Timeout)
		}
	}
}
