package checksession

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/silentauth/silentauth/checksession/platform"
)

// revocationServer is a discovery document with (or without) a
// revocation_endpoint, and that endpoint, which records what it was sent.
type revocationServer struct {
	fx *fixture

	mu    sync.Mutex
	forms []url.Values
	// navigatedFirst: a revocation arrived after the page had navigated
	// away, when the browser would have cancelled it.
	navigatedFirst bool
}

func newRevocationServer(fx *fixture, advertise bool) *revocationServer {
	s := &revocationServer{fx: fx}
	discovery := fx.b.routes[serverOrigin+"/.well-known/openid-configuration"]
	fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		resp, err := discovery(req)
		if err != nil || !advertise {
			return resp, err
		}
		return withField(resp, "revocation_endpoint", serverOrigin+"/oauth/revoke"), nil
	}
	fx.b.routes[serverOrigin+"/oauth/revoke"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		form, _ := url.ParseQuery(string(req.Body))
		s.mu.Lock()
		s.forms = append(s.forms, form)
		if fx.b.Location() != "" {
			s.navigatedFirst = true
		}
		s.mu.Unlock()
		return &platform.HTTPResponse{Status: 200}, nil
	}
	return s
}

func (s *revocationServer) revoked() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

func TestLogoutRevokesTheRefreshToken(t *testing.T) {
	tests := []struct {
		name      string
		advertise bool   // discovery names a revocation_endpoint
		held      string // the refresh token the tab holds
		stored    string // the refresh token refreshTokenStorage "local" kept from an earlier page
		localOnly bool
		want      string // the token revoked, "" for no revocation request
	}{
		{"a local-only logout revokes the held token", true, "rt-held", "", true, "rt-held"},
		{"a logout that navigates revokes the held token before it navigates", true, "rt-held", "", false, "rt-held"},
		{"a token stored by an earlier page is revoked though this page never used it", true, "", "rt-stored", true, "rt-stored"},
		{"without a revocation_endpoint nothing is sent", false, "rt-held", "", true, ""},
		{"without a refresh token nothing is sent", true, "", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			srv := newRevocationServer(fx, tt.advertise)
			store := &memSecretStore{m: map[string]string{}}
			c := fx.clientOn(storeBrowser{fx.b, store}, func(o *Options) {
				o.UseRefreshTokens, o.RefreshTokenStorage = true, RefreshTokenStorageLocal
			})
			if tt.stored != "" {
				store.m[c.s.refreshKey()] = tt.stored
			}
			if tt.held != "" {
				if err := c.refresh.Adopt(context.Background(), tt.held); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Logout(context.Background(), LogoutParams{LocalOnly: tt.localOnly}); err != nil {
				t.Fatal(err)
			}
			got := srv.revoked()
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("sent %d revocations, want none: %v", len(got), got)
				}
			} else {
				if len(got) != 1 {
					t.Fatalf("sent %d revocations, want 1", len(got))
				}
				want := url.Values{"token": {tt.want}, "token_type_hint": {"refresh_token"}, "client_id": {c.s.ClientID}}
				if got[0].Encode() != want.Encode() {
					t.Errorf("revocation sent %v, want %v", got[0], want)
				}
			}
			if srv.navigatedFirst {
				t.Error("the page navigated before the revocation was sent")
			}
			if !tt.localOnly && fx.b.Location() == "" {
				t.Error("logout did not navigate to the end-session endpoint")
			}
			if c.refresh.Has() || len(store.m) != 0 {
				t.Errorf("after logout: holding %v, stored %v", c.refresh.Has(), store.m)
			}
		})
	}
}

func TestLogoutGoesOnWhenTheRevocationFails(t *testing.T) {
	fx := newFixture(t)
	newRevocationServer(fx, true)
	fx.b.routes[serverOrigin+"/oauth/revoke"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
		return jsonResponse(503, map[string]any{"error": "temporarily_unavailable", "error_description": "rt-held is not revocable now"})
	}
	c := fx.client(func(o *Options) { o.UseRefreshTokens = true })
	_ = c.refresh.Adopt(context.Background(), "rt-held")
	if err := c.Logout(context.Background(), LogoutParams{}); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if fx.b.Location() == "" || c.refresh.Has() {
		t.Errorf("logout navigated to %q, holds a refresh token: %v", fx.b.Location(), c.refresh.Has())
	}
	fx.mu.Lock()
	defer fx.mu.Unlock()
	for _, l := range fx.logs {
		if strings.Contains(l, "rt-held") {
			t.Errorf("a log line names the refresh token: %q", l)
		}
	}
}

// TestALogoutInAnotherTabRevokesTheTokenThisTabHolds: the group's refresh
// token lives in one tab; a logout in any other tab reaches it, and it
// revokes the token before forgetting it.
func TestALogoutInAnotherTabRevokesTheTokenThisTabHolds(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv := newRevocationServer(fx, true)
	_, first, second, _ := aSignedInTabAndANewOne(t, fx)
	held, ok := first.refresh.Current()
	if !ok {
		t.Fatal("the signed-in tab holds no refresh token")
	}
	second.group.join()
	if err := second.Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder's revocation", func() bool { return len(srv.revoked()) == 1 })
	if got := srv.revoked()[0].Get("token"); got != held {
		t.Errorf("revoked %q, want the held %q", got, held)
	}
	if first.refresh.Has() {
		t.Error("the holder kept the refresh token after the logout")
	}
}
