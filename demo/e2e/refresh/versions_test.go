package refresh_test

import (
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// Two versions side by side: after a deploy the old tabs stay on the old
// version's SharedWorker and new tabs start the new one's (another worker
// script URL is another SharedWorker; here the wasm's address, which is in
// the worker's URL, differs, as a content-hashed file name does). Both
// engines serve one configuration and both hold refresh tokens, against
// servers that revoke a family when a rotated token comes back. They must
// renew about once per period between them, never both, and never present
// a token twice. A worker engine beside a tab with the in-page engine must
// do the same.
func TestTwoVersionsSideBySide(t *testing.T) {
	e2eenv.EnginesNamedByTheTest(t)
	const (
		oldWorker = `engine: "shared-worker"`
		newWorker = `engine: "shared-worker", wasmUrl: "/silentauth/silentauth.wasm?version=2"`
		inPage    = `engine: "page"`
	)
	cases := []struct {
		name       string
		older      string // the options of the tab that logs in
		newer      string // the options of the tab opened after it
		sharedWork int    // SharedWorkers the two tabs make
	}{
		{"two worker versions", oldWorker, newWorker, 2},
		{"a worker and an in-page engine", oldWorker, inPage, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachServer(t, sameSite, func(t *testing.T, s *server) {
				start := s.Rec.Mark()
				older := s.Login(t, refreshOpts+", "+tc.older)
				newer, o := openClient(t, s, refreshOpts+", "+tc.newer)
				if !o.OK {
					t.Fatalf("checkSession in the newer tab: %v\nconsole:\n%s", o, strings.Join(newer.Console(), "\n"))
				}
				if n := len(newer.SharedWorkers(t)); n != tc.sharedWork {
					t.Fatalf("%d SharedWorkers, want %d", n, tc.sharedWork)
				}
				tabs := []*e2eenv.Tab{older, newer}
				// Both engines now hold a refresh token, each of its own
				// family. Watch them for six periods (three token lifetimes).
				const n = 6
				seen := make([]int, len(tabs))
				for i, tab := range tabs {
					seen[i] = len(renewedIn(t, tab))
				}
				from := s.Rec.Mark()
				window := n * period
				time.Sleep(window)
				c := s.Rec.CountSince(from)
				lifetimes := float64(window) / float64(tokenLifetime)
				t.Logf("%s, %s: %v in %v (%.0f token lifetimes, %d renewal periods); %.1f refresh grants per period",
					tc.name, s.Name, c, window, lifetimes, n, float64(c.RefreshGrants)/n)
				noRefusals(t, "the two engines", c)
				// One engine renewing alone makes n grants; two each on its
				// own, 2n. Slack for a busy machine.
				if c.RefreshGrants < n-2 || c.RefreshGrants > n+2 {
					t.Errorf("%d refresh grants in %d periods, want about %d (one per period between the engines)\nolder console:\n%s\nnewer console:\n%s",
						c.RefreshGrants, n, n, tail(older), tail(newer))
				}
				for i, tab := range tabs {
					got := len(renewedIn(t, tab)) - seen[i]
					if got < n-2 {
						t.Errorf("tab %d saw %d renewals in %d periods, want about %d: it did not stay fresh", i, got, n, n)
					}
				}
				// Both tabs come to serve one token: the one the last renewal
				// brought, whichever engine renewed. The other engine adopts
				// it when the renewal's news reaches it, which on a loaded
				// machine can fall just after a read, so the tabs get one
				// renewal period to agree.
				var tokens [2]string
				for deadline := time.Now().Add(period); ; {
					for i, tab := range tabs {
						tab.MustEval(`client.getTokenSilently()`, &tokens[i])
					}
					if tokens[0] != "" && tokens[0] == tokens[1] || time.Now().After(deadline) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if tokens[0] == "" || tokens[0] != tokens[1] {
					t.Errorf("for a whole renewal period the tabs served different tokens, last %q and %q; want the same fresh token", tokens[0], tokens[1])
				}
				if all := s.Rec.CountSince(start); all.InvalidGrant != 0 || all.Refused != 0 {
					t.Errorf("over the whole test: %v, want no refused refresh grant", all)
				}
			})
		})
	}
}

// tail is the last console lines of tab, for a failure message.
func tail(tab *e2eenv.Tab) string {
	lines := tab.Console()
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}
