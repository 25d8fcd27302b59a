package checksession

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// TestLogoutHintsTheNewestIDToken pins that the id_token_hint is the ID
// token issued last, whichever audience it was requested for and whatever
// order the cache's map yields: with two cached results, a choice left to
// the map's order is wrong about half of the time, so each order runs often.
func TestLogoutHintsTheNewestIDToken(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second string // audiences, in the order they are requested
	}{
		{"the later of two audiences", "https://api-a.example", "https://api-b.example"},
		{"the later of two audiences, requested in the other order", "https://api-b.example", "https://api-a.example"},
		{"the default audience's, requested last", "https://api-a.example", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for run := range 16 {
				fx := newFixture(t)
				c := fx.client(func(o *Options) { o.EndSessionEndpoint = serverOrigin + "/session/end" })
				if _, err := c.CheckSession(context.Background(), AuthorizeParams{Audience: tc.first}); err != nil {
					t.Fatal(err)
				}
				fx.clock.Advance(10 * time.Second) // a later iat
				newest, err := c.CheckSession(context.Background(), AuthorizeParams{Audience: tc.second})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Logout(context.Background(), LogoutParams{ReturnTo: pageOrigin + "/"}); err != nil {
					t.Fatal(err)
				}
				u, err := url.Parse(fx.b.Location())
				if err != nil {
					t.Fatal(err)
				}
				if got := u.Query().Get("id_token_hint"); got != newest.IDToken {
					t.Fatalf("run %d: id_token_hint is …%s, want the newest ID token …%s", run, tail(got), tail(newest.IDToken))
				}
			}
		})
	}
}

// tail is the end of a JWT, its signature, which tells two tokens apart.
func tail(jwt string) string { return jwt[max(0, len(jwt)-16):] }

// TestNewestIDTokenOrder pins newestIDToken's order: iat first, then the
// time received, then the smaller cache key; results without an ID token
// never count.
func TestNewestIDTokenOrder(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	result := func(idToken string, iat int64, received time.Time) *AuthResult {
		return &AuthResult{IDToken: idToken, IDTokenPayload: map[string]any{"iat": float64(iat)}, received: received}
	}
	for _, tc := range []struct {
		name  string
		cache map[string]*AuthResult
		want  string
	}{
		{"empty cache: no hint", map[string]*AuthResult{}, ""},
		{"only access tokens: no hint", map[string]*AuthResult{"a": {AccessToken: "at"}}, ""},
		{"the later iat wins over the later receipt", map[string]*AuthResult{
			"a": result("old", 100, t0.Add(time.Minute)),
			"b": result("new", 200, t0),
		}, "new"},
		{"same iat: the later receipt wins", map[string]*AuthResult{
			"a": result("first", 100, t0),
			"b": result("second", 100, t0.Add(time.Second)),
		}, "second"},
		{"all equal: the smaller key wins", map[string]*AuthResult{
			"b": result("under b", 100, t0),
			"a": result("under a", 100, t0),
			"c": result("under c", 100, t0),
		}, "under a"},
		{"a result without an ID token is skipped", map[string]*AuthResult{
			"a": {AccessToken: "at", IDTokenPayload: map[string]any{"iat": float64(999)}},
			"b": result("only", 100, t0),
		}, "only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 16 {
				if got := newestIDToken(tc.cache); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}
