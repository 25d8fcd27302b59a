// Package hardening_test pins, in headless Chromium, the security review
// findings (issue 12) that only a browser shows: client.fetch sends the
// access token only to apiOrigins, and ID-token claims reach JavaScript as
// own data properties whatever their names.
package hardening_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// recorder is a second origin (a path on the tenant's origin, which the
// test page's CSP lets the page reach) that answers CORS for the app and
// records every request it gets, preflights included.
type recorder struct {
	mu    sync.Mutex
	calls []string // "METHOD authorization-header"
}

const recordPath = "/record"

func (rec *recorder) middleware(app string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != recordPath {
				next.ServeHTTP(w, r)
				return
			}
			rec.mu.Lock()
			rec.calls = append(rec.calls, r.Method+" "+r.Header.Get("Authorization"))
			rec.mu.Unlock()
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", app)
			h.Set("Access-Control-Allow-Headers", "authorization")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			// 401 for any token: an SDK that renewed on it would show up as
			// a second call with another token.
			w.WriteHeader(http.StatusUnauthorized)
		})
	}
}

func (rec *recorder) reset() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.calls
	rec.calls = nil
	return out
}

// start brings up the tenant (with a user whose ID token carries a
// "__proto__" claim), the app and a browser, with the recorder in front.
func start(t *testing.T) (*e2eenv.Env, *recorder) {
	t.Helper()
	rec := &recorder{}
	users := append(devtenant.DefaultUsers(), devtenant.User{
		Email: "proto@example.com", Password: devtenant.DefaultPassword, Name: "Proto",
		ExtraClaims: map[string]any{"__proto__": map[string]any{"role": "admin"}, "constructor": "c"},
	})
	// The recorder must know the app's origin, which Start picks: it is set
	// through a variable the middleware reads per request.
	var app string
	var mu sync.Mutex
	env := e2eenv.Start(t, e2eenv.Options{
		Users: users,
		TenantMiddleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				a := app
				mu.Unlock()
				rec.middleware(a)(next).ServeHTTP(w, r)
			})
		},
	})
	mu.Lock()
	app = env.AppURL
	mu.Unlock()
	return env, rec
}

func TestFetchSendsTheAccessTokenOnlyToAPIOrigins(t *testing.T) {
	env, rec := start(t)
	tab := env.OpenTestPage(t)
	env.Login(t, tab, "demo@example.com", "autoRenew: false")
	target := env.TenantURL + recordPath

	type outcome struct {
		OK          bool   `json:"ok"`
		Status      int    `json:"status"`
		Error       string `json:"error"`
		Description string `json:"description"`
	}
	call := func(t *testing.T, client string) outcome {
		t.Helper()
		var o outcome
		tab.MustEvalT(t, fmt.Sprintf(`(async () => {
			try {
				const res = await %s.fetch(%q);
				return {ok: true, status: res.status};
			} catch (e) {
				return {ok: false, error: e.error, description: e.error_description};
			}
		})()`, client, target), &o)
		return o
	}

	t.Run("another origin is refused and nothing goes on the wire", func(t *testing.T) {
		rec.reset()
		o := call(t, "client") // default apiOrigins: the page's origin only
		calls := rec.reset()
		if o.OK || o.Error != "invalid_configuration" {
			t.Fatalf("client.fetch to another origin = %+v, want invalid_configuration", o)
		}
		if !strings.HasPrefix(o.Description, "apiOrigins: ") || !strings.Contains(o.Description, env.TenantURL) {
			t.Errorf("description %q does not name the option and the origin %s", o.Description, env.TenantURL)
		}
		if len(calls) != 0 {
			t.Fatalf("the other origin received %q", calls)
		}
	})

	t.Run("an origin in apiOrigins gets the token, and one 401 renews once", func(t *testing.T) {
		tab.MustEvalT(t, `(async () => { window.apiClient = await `+env.ClientJS(fmt.Sprintf("autoRenew: false, apiOrigins: [%q]", env.TenantURL))+`; await apiClient.checkSession(); return true })()`, nil)
		rec.reset()
		o := call(t, "apiClient")
		calls := rec.reset()
		var bearer []string
		for _, c := range calls {
			if strings.HasPrefix(c, "GET Bearer ") {
				bearer = append(bearer, c)
			}
		}
		// The renewed token may equal the first: the tenant signs the same
		// claims within one second, and RS256 signatures are deterministic.
		if !o.OK || o.Status != 401 || len(bearer) != 2 {
			t.Fatalf("client.fetch = %+v, calls %q; want the token sent, a 401, and one retry after the renewal", o, calls)
		}
	})
}

// TestFetchDoesNotFollowARedirectWithTheToken: an API on an allowed origin
// that redirects elsewhere must not take the token, or the request, with
// it; client.fetch returns the redirect itself.
func TestFetchDoesNotFollowARedirectWithTheToken(t *testing.T) {
	rec := &recorder{}
	var target string
	env := e2eenv.Start(t, e2eenv.Options{
		TenantMiddleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.middleware("*")(next).ServeHTTP(w, r) })
		},
		AppMiddleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/moved" {
					http.Redirect(w, r, target, http.StatusTemporaryRedirect)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	target = env.TenantURL + recordPath
	tab := env.OpenTestPage(t)
	env.Login(t, tab, "demo@example.com", "autoRenew: false")
	var o struct {
		OK     bool   `json:"ok"`
		Type   string `json:"type"`
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	tab.MustEvalT(t, `(async () => {
		try {
			const res = await client.fetch("/api/moved");
			return {ok: true, type: res.type, status: res.status};
		} catch (e) {
			return {ok: false, error: String(e && (e.error || e.message || e))};
		}
	})()`, &o)
	if calls := rec.reset(); len(calls) != 0 {
		t.Errorf("the redirect's target, outside apiOrigins, received %q", calls)
	}
	if !o.OK || o.Type != "opaqueredirect" {
		t.Errorf("client.fetch of a redirect = %+v, want the opaque-redirect response returned", o)
	}
}

func TestProtoClaimStaysAnOwnProperty(t *testing.T) {
	env, _ := start(t)
	tab := env.OpenTestPage(t)
	env.Login(t, tab, "proto@example.com", "autoRenew: false")
	tab.MustEvalT(t, `(async () => {
		window.renewedPayload = null;
		client.on("renewed", (r) => { window.renewedPayload = r.idTokenPayload; });
		window.checkResult = await client.checkSession();
		return true;
	})()`, nil)
	// The event is dispatched in a microtask after the result.
	if err := tab.WaitFor(`window.renewedPayload !== null`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for name, expr := range map[string]string{
		"handleRedirectCallback result": "loginResult.idTokenPayload",
		"checkSession result":           "checkResult.idTokenPayload",
		"renewed event":                 "renewedPayload",
		"getUser()":                     "client.getUser()",
	} {
		t.Run(name, func(t *testing.T) {
			var got struct {
				Sub          string `json:"sub"`
				ProtoIsPlain bool   `json:"protoIsPlain"`
				OwnProto     bool   `json:"ownProto"`
				Role         any    `json:"role"`
				ClaimRole    any    `json:"claimRole"`
				Constructor  any    `json:"constructor"`
			}
			tab.MustEvalT(t, `(() => {
				const payload = `+expr+`;
				return {
					sub: payload.sub,
					protoIsPlain: Object.getPrototypeOf(payload) === Object.prototype,
					ownProto: Object.keys(payload).includes("__proto__"),
					role: payload.role === undefined ? null : payload.role,
					claimRole: Object.getOwnPropertyDescriptor(payload, "__proto__")?.value?.role ?? null,
					constructor: Object.hasOwn(payload, "constructor") ? payload.constructor : null,
				};
			})()`, &got)
			if got.Sub == "" || !got.ProtoIsPlain || !got.OwnProto || got.Role != nil || got.ClaimRole != "admin" || got.Constructor != "c" {
				t.Fatalf("%s = %+v; want Object.prototype as prototype, \"__proto__\" an own claim holding role admin, no inherited role", expr, got)
			}
		})
	}
}
