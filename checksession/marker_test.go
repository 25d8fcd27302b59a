package checksession

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
)

// withLocal is a page with localStorage, where the signed-in marker lives;
// two of them sharing local are two page loads (or tabs) of one origin.
type withLocal struct {
	*fakeBrowser
	local *memStorage
}

func (b withLocal) LocalStorage() platform.Storage { return b.local }

func newLocal() *memStorage { return &memStorage{m: map[string]string{}} }

// markerOf is the marker the fixture's clients write, and whether it is there.
func markerOf(local *memStorage) (string, bool) {
	return local.Get(markerPrefix + idtokentest.ClientID + "@" + serverOrigin)
}

func TestSignedInMarker(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run acts on a client whose page shares local; it returns whether
		// the marker should be there afterwards.
		run func(t *testing.T, fx *fixture, c *Client) bool
	}{
		{name: "an interactive login sets it", run: func(t *testing.T, fx *fixture, c *Client) bool {
			completeInteractiveLogin(t, fx, c)
			return true
		}},
		{name: "a silent success sets it", run: func(t *testing.T, fx *fixture, c *Client) bool {
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
				t.Fatal(err)
			}
			return true
		}},
		{name: "a silent failure sets nothing", run: func(t *testing.T, fx *fixture, c *Client) bool {
			fx.answer(answerLoginRequired("Login required"))
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err == nil {
				t.Fatal("checkSession succeeded without a session")
			}
			return false
		}},
		{name: "logout clears it", run: func(t *testing.T, fx *fixture, c *Client) bool {
			completeInteractiveLogin(t, fx, c)
			if err := c.Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil {
				t.Fatal(err)
			}
			return false
		}},
		{name: "the end of the session clears it", run: func(t *testing.T, fx *fixture, c *Client) bool {
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
				t.Fatal(err)
			}
			fx.answer(answerLoginRequired("Login required"))
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err == nil {
				t.Fatal("checkSession succeeded after the session ended")
			}
			if !slices.Contains(fx.eventList(), string(EventSessionEnded)) {
				t.Fatal("no session_ended")
			}
			return false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			local := newLocal()
			c := fx.clientOn(withLocal{fx.b, local})
			want := tc.run(t, fx, c)
			v, got := markerOf(local)
			if got != want {
				t.Fatalf("marker there: %v, want %v (storage %v)", got, want, local.m)
			}
			if got && (strings.Contains(v, idtokentest.ClientID) || strings.Contains(v, "ey")) {
				t.Errorf("the marker holds more than a time: %q", v)
			}
		})
	}
}

func TestMarkerKeyOptionNamesTheEntry(t *testing.T) {
	fx := newFixture(t)
	local := newLocal()
	c := fx.clientOn(withLocal{fx.b, local}, func(o *Options) { o.MarkerKey = "k" })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := local.Get("k"); !ok || len(local.m) != 1 {
		t.Fatalf("storage %v, want the marker under k only", local.m)
	}
}

// After a reload nothing in the page remembers the login; the marker does.
// A login_required then is explained as blocked third-party cookies, unless
// a silent request already succeeded here or the server named another cause.
func TestLoginRequiredAfterAReloadPointsAtThirdPartyCookies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		marked      bool
		silentFirst bool // a silent success in this page before the failure
		description string
		wantHint    bool
	}{
		{name: "signed in before: hint", marked: true, description: "Login required", wantHint: true},
		{name: "nobody signed in here: no hint", marked: false, description: "Login required"},
		{name: "a silent success in this page: the session ended, no hint", marked: true, silentFirst: true, description: "Login required"},
		{name: "MFA names its own cause: no hint", marked: true, description: "Multifactor authentication required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			local := newLocal()
			if tc.marked {
				// The page before the reload.
				before := fx.clientOn(withLocal{fx.b, local})
				completeInteractiveLogin(t, fx, before)
				before.Destroy()
			}
			c := fx.clientOn(withLocal{fx.b, local})
			if tc.silentFirst {
				if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
					t.Fatal(err)
				}
			}
			fx.answer(answerLoginRequired(tc.description))
			_, err := c.CheckSession(context.Background(), AuthorizeParams{})
			e, ok := err.(*Error)
			if !ok || e.Code != "login_required" || !strings.HasPrefix(e.Description, tc.description) {
				t.Fatalf("got %v, want login_required starting %q", err, tc.description)
			}
			hinted := strings.Contains(e.Description, "third-party cookies") && strings.Contains(e.Description, "signed in here")
			if hinted != tc.wantHint {
				t.Fatalf("hint given: %v, want %v: %q", hinted, tc.wantHint, e.Description)
			}
			if tc.wantHint && !tc.silentFirst {
				// No session in this page ended: the next reload explains it again.
				if _, still := markerOf(local); !still {
					t.Error("the marker went with a login_required that ended no session here")
				}
			}
		})
	}
}
