package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// rotatingServer answers refresh_token grants as a rotating server does: a
// token works once, and its answer carries the next one.
type rotatingServer struct {
	fx *fixture

	mu    sync.Mutex
	live  map[string]bool
	n     int
	forms []url.Values
	// answer, when set, replaces the server's answer.
	answer func(form url.Values) (*platform.HTTPResponse, error)
	// grantedWithout, when set, is a scope the refresh tokens were not
	// granted: a grant asking for it is refused with invalid_scope.
	grantedWithout string
	// gate, when set, holds every refresh grant until it is closed.
	gate chan struct{}
}

func newRotatingServer(fx *fixture, first string) *rotatingServer {
	s := &rotatingServer{fx: fx, live: map[string]bool{first: true}}
	fx.b.routes[serverOrigin+"/oauth/token"] = s.token
	return s
}

func (s *rotatingServer) token(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	form, _ := url.ParseQuery(string(req.Body))
	s.mu.Lock()
	s.forms = append(s.forms, form)
	answer := s.answer
	s.mu.Unlock()
	if answer != nil {
		return answer(form)
	}
	if form.Get("grant_type") != "refresh_token" {
		return s.fx.token(req)
	}
	if s.gate != nil {
		<-s.gate
	}
	if s.grantedWithout != "" && hasScope(form.Get("scope"), s.grantedWithout) {
		return jsonResponse(400, map[string]any{"error": "invalid_scope", "error_description": "refresh token missing requested scope"})
	}
	s.mu.Lock()
	rt := form.Get("refresh_token")
	ok := s.live[rt]
	delete(s.live, rt)
	s.n++
	next := fmt.Sprintf("rt-%d", s.n+1)
	s.live[next] = true
	s.mu.Unlock()
	if !ok {
		return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
	}
	s.fx.mu.Lock()
	claims := s.fx.claimsLocked("")
	s.fx.mu.Unlock()
	delete(claims, "nonce")
	return jsonResponse(200, map[string]any{
		"access_token": "at-" + randomString(), "id_token": s.fx.iss.Sign(s.fx.t, claims), "refresh_token": next,
		"token_type": "Bearer", "expires_in": s.fx.expiresIn, "scope": form.Get("scope"),
	})
}

func (s *rotatingServer) lastForm() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forms[len(s.forms)-1]
}

func refreshFixture(t *testing.T, edit ...func(*Options)) (*fixture, *Client, *refreshTokens) {
	fx := newFixture(t)
	c := fx.client(append([]func(*Options){func(o *Options) { o.UseRefreshTokens = true }}, edit...)...)
	return fx, c, newRefreshTokens(c.s, fx.b)
}

func defaultRequest(c *Client) request {
	r, _ := c.s.resolve(AuthorizeParams{})
	return r
}

func TestRefreshGrantRotatesTheHeldToken(t *testing.T) {
	fx, c, h := refreshFixture(t)
	srv := newRotatingServer(fx, "rt-1")
	ctx := context.Background()
	if err := h.Adopt(ctx, "rt-1"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ sent, held string }{{"rt-1", "rt-2"}, {"rt-2", "rt-3"}} {
		res, err := c.flow.refreshWith(ctx, h, defaultRequest(c))
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		form := srv.lastForm()
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != want.sent || form.Get("client_id") != idtokentest.ClientID ||
			form.Get("scope") != defaultScope {
			t.Errorf("refresh %d sent %v", i, form)
		}
		if got, _ := h.Current(); got != want.held {
			t.Errorf("refresh %d: holding %q, want the rotated %q", i, got, want.held)
		}
		if res.AccessToken == "" || res.IDTokenPayload["sub"] == nil || res.ExpiresAt.IsZero() {
			t.Errorf("refresh %d result %+v", i, res)
		}
	}
}

// node-oidc-provider records a refresh token's scope without offline_access
// (OIDC Core 11 drops it from a request without prompt=consent) and answers
// invalid_scope to a grant that asks for more than that scope.
func TestRefreshGrantDoesNotAskForOfflineAccess(t *testing.T) {
	fx, c, h := refreshFixture(t)
	srv := newRotatingServer(fx, "rt-1")
	srv.grantedWithout = "offline_access"
	if err := h.Adopt(context.Background(), "rt-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.flow.refreshWith(context.Background(), h, defaultRequest(c)); err != nil {
		t.Fatalf("refresh against a server whose refresh token's scope lacks offline_access: %v", err)
	}
	if got := srv.lastForm().Get("scope"); got != defaultScope {
		t.Errorf("the grant asked for scope %q, want the configured %q", got, defaultScope)
	}
	if got, _ := h.Current(); got != "rt-2" {
		t.Errorf("holding %q, want the rotated rt-2", got)
	}
}

func TestRefreshGrantFailures(t *testing.T) {
	const secret = "rt-secret-value"
	cases := []struct {
		name      string
		answer    func(url.Values) (*platform.HTTPResponse, error)
		code      string
		wantDesc  string
		keepToken bool
	}{
		{"invalid_grant passes through and forgets the token",
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
			}, "invalid_grant", "Unknown or invalid refresh token.", false},
		{"a description quoting the token is redacted",
			func(f url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(400, map[string]any{"error": "invalid_grant", "error_description": "token " + f.Get("refresh_token") + " was revoked"})
			}, "invalid_grant", "token [refresh token] was revoked", false},
		{"no answer keeps the token for the next try",
			func(url.Values) (*platform.HTTPResponse, error) { return nil, errors.New("TypeError: Failed to fetch") }, "network_error", "got no answer", true},
		{"a server error keeps the token",
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(503, map[string]any{"error": "temporarily_unavailable"})
			}, "temporarily_unavailable", "", true},
		{"a scope refusal keeps the token",
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(403, map[string]any{"error": "invalid_scope", "error_description": "not granted"})
			}, "invalid_scope", "not granted", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx, c, h := refreshFixture(t)
			srv := newRotatingServer(fx, secret)
			srv.answer = tc.answer
			_ = h.Adopt(context.Background(), secret)
			_, err := c.flow.refreshWith(context.Background(), h, defaultRequest(c))
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Description, tc.wantDesc) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.wantDesc)
			}
			if strings.Contains(e.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", *e), secret) {
				t.Errorf("the error carries the refresh token: %v", e)
			}
			if got, _ := h.Current(); (got == secret) != tc.keepToken {
				t.Errorf("holding %q after the failure, keep = %v", got, tc.keepToken)
			}
			if _, ok := h.Take(); ok != tc.keepToken {
				t.Errorf("the token can be taken again = %v, want %v", ok, tc.keepToken)
			}
		})
	}
}

func TestRefreshWithoutATokenIsMissingRefreshToken(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(h *refreshTokens)
		params AuthorizeParams
		want   string
	}{
		{"nothing held", func(*refreshTokens) {}, AuthorizeParams{}, "no refresh token is held"},
		{"the token is out with another grant", func(h *refreshTokens) { h.Take() }, AuthorizeParams{}, "in use"},
		{"another audience than the token's", func(*refreshTokens) {}, AuthorizeParams{Audience: "https://other.api/"}, "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx, c, h := refreshFixture(t)
			newRotatingServer(fx, "rt-1")
			_ = h.Adopt(context.Background(), "rt-1")
			if tc.name == "nothing held" {
				_ = h.Forget(context.Background())
			}
			tc.setup(h)
			r, _ := c.s.resolve(tc.params)
			_, err := c.flow.refreshWith(context.Background(), h, r)
			if errCode(err) != "missing_refresh_token" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want missing_refresh_token saying %q", err, tc.want)
			}
		})
	}
}

func TestRefreshTokenNeverLeavesTheGoRuntime(t *testing.T) {
	fx, c, h := refreshFixture(t)
	newRotatingServer(fx, "rt-1")
	_ = h.Adopt(context.Background(), "rt-1")
	res, err := c.flow.refreshWith(context.Background(), h, defaultRequest(c))
	if err != nil {
		t.Fatal(err)
	}
	held, _ := h.Current()
	js, _ := json.Marshal(res)
	shared, _ := json.Marshal(tabMessage{Kind: kindRenewed, Result: shareOf(res, defaultRequest(c))})
	fx.mu.Lock()
	logs := strings.Join(fx.logs, "\n")
	fx.mu.Unlock()
	for what, s := range map[string]string{
		"AuthResult": fmt.Sprintf("%+v", *res), "JSON": string(js), "tab message": string(shared), "logs": logs,
	} {
		for _, rt := range []string{"rt-1", held} {
			if strings.Contains(s, rt) {
				t.Errorf("%s carries refresh token %q: %s", what, rt, s)
			}
		}
	}
}

func TestAuthorizationResponsesNeverCarryARefreshToken(t *testing.T) {
	data, _ := json.Marshal(map[string]any{"type": "authorization_response",
		"response": map[string]any{"state": "s1", "code": "c", "refresh_token": "planted"}})
	resp, why := acceptMessage(platform.Message{Origin: serverOrigin, FromFrame: true, Data: data}, serverOrigin, "s1")
	if resp == nil {
		t.Fatal(why)
	}
	if resp.RefreshToken != "" {
		t.Errorf("a web_message answer set RefreshToken %q; only the token endpoint may", resp.RefreshToken)
	}
}

func TestRequestScopeAddsOfflineAccessOnlyWithRefreshTokens(t *testing.T) {
	cases := []struct {
		name  string
		use   bool
		scope string
		want  string
	}{
		{"without useRefreshTokens the scope is unchanged", false, "openid profile", "openid profile"},
		{"with useRefreshTokens offline_access is added", true, "openid profile", "openid profile offline_access"},
		{"offline_access already there is not repeated", true, "openid offline_access email", "openid offline_access email"},
		{"an empty scope becomes offline_access", true, "", "offline_access"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: tc.use}.validate(pageOrigin)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.requestScope(tc.scope); got != tc.want {
				t.Errorf("requestScope(%q) = %q, want %q", tc.scope, got, tc.want)
			}
		})
	}
	// The configured scope, not the wire scope, names caches and keys.
	plain, _ := Options{Domain: "d", ClientID: "spa"}.validate(pageOrigin)
	rt, _ := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true}.validate(pageOrigin)
	if plain.Scope != rt.Scope || plain.refreshKey() != rt.refreshKey() {
		t.Errorf("useRefreshTokens changed the configured scope or the refresh key")
	}
	// The stored token and the tab group use one key: clients that differ
	// only in redirectUri share neither, so never a token without its lock.
	for _, edit := range []func(*Options){
		func(o *Options) { o.RedirectURI = pageOrigin + "/elsewhere" },
		func(o *Options) { o.Audience = "https://api.example.com" },
		func(o *Options) { o.ResponseType = "token id_token" },
	} {
		o := Options{Domain: "d", ClientID: "spa"}
		edit(&o)
		s, err := o.validate(pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		if (s.refreshKey() == plain.refreshKey()) != (s.tabKey() == plain.tabKey()) ||
			strings.TrimPrefix(s.refreshKey(), "silentauth:rt:") != strings.TrimPrefix(s.tabKey(), "silentauth:") {
			t.Errorf("%+v: refresh key %q and tab key %q are not one key", o, s.refreshKey(), s.tabKey())
		}
	}
	other, _ := Options{Domain: "d", ClientID: "other"}.validate(pageOrigin)
	if other.refreshKey() == plain.refreshKey() || !strings.HasPrefix(plain.refreshKey(), "silentauth:rt:") || plain.refreshKey() == plain.tabKey() {
		t.Errorf("refresh keys %q %q do not tell clients apart or collide with the tab key", plain.refreshKey(), other.refreshKey())
	}
}

// memSecretStore is a SecretStore in a map, which can be told to fail.
type memSecretStore struct {
	mu      sync.Mutex
	m       map[string]string
	loadErr error
	saves   int
}

func (s *memSecretStore) Load(_ context.Context, k string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadErr != nil {
		return "", false, s.loadErr
	}
	v, ok := s.m[k]
	return v, ok, nil
}
func (s *memSecretStore) Save(_ context.Context, k, v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
	s.saves++
	return nil
}
func (s *memSecretStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

// storeBrowser is a fake browser that can keep secrets.
type storeBrowser struct {
	*fakeBrowser
	*memSecretStore
}

func TestRefreshTokensHolder(t *testing.T) {
	ctx := context.Background()
	settingsFor := func(storage string) *settings {
		s, err := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: storage}.validate(pageOrigin)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	newHolder := func(storage string) (*refreshTokens, *memSecretStore) {
		st := &memSecretStore{m: map[string]string{}}
		return newRefreshTokens(settingsFor(storage), storeBrowser{newFakeBrowser(), st}), st
	}
	stored := func(h *refreshTokens, st *memSecretStore) string {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.m[h.key]
	}

	t.Run("a lent token cannot be lent twice", func(t *testing.T) {
		h, _ := newHolder("memory")
		_ = h.Adopt(ctx, "a")
		if _, ok := h.Take(); !ok {
			t.Fatal("first Take failed")
		}
		if _, ok := h.Take(); ok {
			t.Error("second Take succeeded while the token was out")
		}
	})
	for _, tc := range []struct{ name, answered, want string }{
		{"rotation replaces the token", "b", "b"},
		{"an answer without a new token keeps the old one", "", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHolder("memory")
			_ = h.Adopt(ctx, "a")
			l, _ := h.Take()
			_ = h.Replace(ctx, l, tc.answered)
			if got, _ := h.Current(); got != tc.want {
				t.Errorf("holding %q, want %s", got, tc.want)
			}
			if l2, ok := h.Take(); !ok || l2.Token != tc.want {
				t.Errorf("Take after the answer = %q %v, want %s", l2.Token, ok, tc.want)
			}
		})
	}
	t.Run("a grant answered after Forget does not bring a token back", func(t *testing.T) {
		h, _ := newHolder("memory")
		_ = h.Adopt(ctx, "a")
		l, _ := h.Take()
		_ = h.Forget(ctx)
		_ = h.Replace(ctx, l, "b")
		if h.Has() {
			t.Error("a token came back after Forget")
		}
	})
	t.Run("memory storage writes nothing", func(t *testing.T) {
		h, st := newHolder("memory")
		_ = h.Adopt(ctx, "a")
		if st.saves != 0 || h.store != nil {
			t.Errorf("memory storage saved %d times", st.saves)
		}
	})
	t.Run("local storage writes every change through", func(t *testing.T) {
		h, st := newHolder("local")
		_ = h.Adopt(ctx, "a")
		if stored(h, st) != "a" {
			t.Fatalf("stored %q after Adopt", stored(h, st))
		}
		l, _ := h.Take()
		_ = h.Replace(ctx, l, "b")
		if stored(h, st) != "b" {
			t.Errorf("stored %q after rotation, want b", stored(h, st))
		}
		_ = h.Forget(ctx)
		if _, ok := st.m[h.key]; ok {
			t.Error("Forget left the stored token")
		}
	})
	t.Run("Drop forgets this tab's copy and keeps the stored one", func(t *testing.T) {
		h, st := newHolder("local")
		_ = h.Adopt(ctx, "a")
		h.Drop()
		if h.Has() || stored(h, st) != "a" {
			t.Errorf("after Drop: held %v, stored %q; want nothing held and a still stored", h.Has(), stored(h, st))
		}
	})
	t.Run("a new page loads the stored token", func(t *testing.T) {
		h, st := newHolder("local")
		st.m[h.key] = "saved"
		if err := h.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.Current(); got != "saved" {
			t.Errorf("holding %q after Load", got)
		}
	})
	t.Run("a token that fails to decrypt is an error and is deleted", func(t *testing.T) {
		h, st := newHolder("local")
		st.m[h.key] = "tampered"
		st.loadErr = errors.New("OperationError: decryption failed")
		if err := h.Load(ctx); err == nil {
			t.Error("Load of an undecryptable token succeeded")
		}
		if h.Has() || stored(h, st) != "" {
			t.Error("the undecryptable token was kept")
		}
	})
}

func TestCodeExchangeCarriesTheRefreshTokenToTheEngineOnly(t *testing.T) {
	cases := []struct {
		name          string
		rt            any
		want, wantErr string
	}{
		{"a refresh token in the answer is read", "rt-from-login", "rt-from-login", ""},
		{"no refresh token leaves it empty", nil, "", ""},
		{"a refresh token that is not a string is a server_error", 42, "", "server_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx, c, _ := refreshFixture(t)
			fx.b.routes[serverOrigin+"/oauth/token"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
				body := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60}
				if tc.rt != nil {
					body["refresh_token"] = tc.rt
				}
				return jsonResponse(200, body)
			}
			m, err := c.disc.metadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tokens, err := c.tokenEndpoint.exchange(context.Background(), m, &transaction{State: "st", CodeVerifier: "v", RedirectURI: pageOrigin}, "code")
			if errCode(err) != tc.wantErr {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
			if err == nil && (tokens.RefreshToken != tc.want || tokens.State != "st") {
				t.Errorf("RefreshToken %q state %q, want %q st", tokens.RefreshToken, tokens.State, tc.want)
			}
		})
	}
}

func TestHandoverGoesOnlyToTheNonceOfTheTabNextInLine(t *testing.T) {
	ctx := context.Background()
	s, _ := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true}.validate(pageOrigin)
	leaving, next := newRefreshTokens(s, newFakeBrowser()), newRefreshTokens(s, newFakeBrowser())

	if _, ok := leaving.Handover(); ok {
		t.Fatal("Handover with nothing held produced a message")
	}
	_ = leaving.Adopt(ctx, "rt-current")
	if _, ok := leaving.Handover(); ok || !leaving.Has() {
		t.Fatal("Handover with no tab next in line gave the token away")
	}
	next.Await("nonce-of-next")
	leaving.NoteHeir("nonce-of-next")
	l, _ := leaving.Take()
	if _, ok := leaving.Handover(); ok {
		t.Error("Handover while a grant has the token out produced a message")
	}
	leaving.Return(l)

	msg, ok := leaving.Handover()
	if !ok {
		t.Fatal("no hand-over message")
	}
	if leaving.Has() {
		t.Error("the leaving tab still holds the token after handing it over")
	}
	if _, ok := leaving.Handover(); ok {
		t.Error("a second Handover produced a message")
	}
	// Addressed to another nonce, or replayed: refused, and nothing changes.
	for _, m := range []handoverMessage{{Kind: handoverKind, To: "another-nonce", RefreshToken: "rt-forged"}, {Kind: handoverKind, RefreshToken: "rt-forged"}} {
		data, _ := json.Marshal(m)
		if handled, err := next.AcceptHandover(ctx, data); !handled || !errors.Is(err, errUnaskedHandover) || next.Has() {
			t.Errorf("AcceptHandover(%s) = %v %v, holds %v: want refused", data, handled, err, next.Has())
		}
	}
	if handled, err := next.AcceptHandover(ctx, msg); !handled || err != nil {
		t.Fatalf("AcceptHandover = %v %v", handled, err)
	}
	if got, _ := next.Current(); got != "rt-current" {
		t.Errorf("next holder holds %q", got)
	}
	next.Forget(ctx)
	if handled, err := next.AcceptHandover(ctx, msg); !handled || !errors.Is(err, errUnaskedHandover) || next.Has() {
		t.Errorf("the same hand-over again = %v %v, holds %v: a nonce is good for one hand-over", handled, err, next.Has())
	}
	// A result or session_ended message is not a hand-over.
	other, _ := json.Marshal(tabMessage{Kind: "renewed", Result: &sharedResult{AccessToken: "at"}})
	if handled, _ := next.AcceptHandover(ctx, other); handled {
		t.Error("a renewed message was taken for a hand-over")
	}
}
