package devtenant_test

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestCheckSession pins checkSession's contract against the dev tenant in
// one browser: the subtests run in order, since the login in the second one
// is the session the later ones renew.
func TestCheckSession(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	t.Run("without a session it rejects with an Error login_required", func(t *testing.T) {
		tab.MustEvalT(t, `(async () => { window.client = await `+env.ClientJSFor("spa", "")+`; return true })()`, nil)
		o := settle(t, tab, `client.checkSession()`)
		mustFail(t, o, "login_required")
		if o.Desc != "Login required" {
			t.Errorf("error_description = %q, want the server's %q", o.Desc, "Login required")
		}
		if o.State == "" {
			t.Errorf("the error carries no state: %v", o)
		}
		if o.ErrHasTokens {
			t.Errorf("the error carries tokens: %v", o)
		}
	})

	login(t, env, tab, "demo@example.com", loginOptions{})

	for _, rt := range []string{"code", "id_token token"} {
		t.Run("after login it returns validated tokens for responseType "+rt, func(t *testing.T) {
			o := settle(t, tab, `client.checkSession({responseType: "`+rt+`"})`)
			r := mustSucceed(t, tab, o)
			for _, k := range []string{"accessToken", "idToken"} {
				if s, _ := r[k].(string); strings.Count(s, ".") != 2 {
					t.Errorf("%s = %v, want a JWT", k, r[k])
				}
			}
			payload, _ := r["idTokenPayload"].(map[string]any)
			if payload["email"] != "demo@example.com" || payload["iss"] != env.Tenant.Issuer() || payload["aud"] != "spa" {
				t.Errorf("idTokenPayload = %v", payload)
			}
			if r["tokenType"] != "Bearer" || r["scope"] != "openid profile email" {
				t.Errorf("tokenType %v scope %v", r["tokenType"], r["scope"])
			}
			if s, _ := r["state"].(string); s == "" {
				t.Errorf("no state in %v", r)
			}
			expiresIn, _ := r["expiresIn"].(float64)
			if expiresIn != devtenant.DefaultTokenLifetime.Seconds() {
				t.Errorf("expiresIn = %v, want the server's %v", r["expiresIn"], devtenant.DefaultTokenLifetime.Seconds())
			}
			// expiresAt is Date.now() + expiresIn*1000 at receipt, which lies within the call.
			expiresAt, _ := r["expiresAt"].(float64)
			lo, hi := o.Before+expiresIn*1000, o.After+expiresIn*1000
			if expiresAt < lo-5 || expiresAt > hi+5 {
				t.Errorf("expiresAt %v is not Date.now()+expiresIn*1000 at receipt (between %v and %v)", expiresAt, lo, hi)
			}

			var user map[string]any
			tab.MustEvalT(t, `client.getUser()`, &user)
			if user["email"] != "demo@example.com" || user["sub"] != payload["sub"] || user["nonce"] != payload["nonce"] {
				t.Errorf("getUser() = %v, want the claims of the last ID token %v", user, payload)
			}
		})
	}

	t.Run("the auth0.js callback form gets (null, result) and returns undefined", func(t *testing.T) {
		var got map[string]any
		tab.MustEvalT(t, `new Promise((resolve) => {
			const ret = client.checkSession({}, (err, res) => resolve({ret: ret === undefined, err: err, email: res && res.idTokenPayload.email, at: !!(res && res.accessToken)}));
		})`, &got)
		if got["ret"] != true || got["err"] != nil || got["email"] != "demo@example.com" || got["at"] != true {
			t.Fatalf("callback form: %v", got)
		}
	})

	t.Run("a tampered ID token is invalid_token naming the check, with no tokens and getUser unchanged", func(t *testing.T) {
		var userBefore map[string]any
		tab.MustEvalT(t, `client.getUser()`, &userBefore)
		tab.MustEvalT(t, `(() => { window.renewedEvents = 0; client.on("renewed", () => window.renewedEvents++); return true })()`, nil)
		cases := []struct {
			name  string
			fault devtenant.Faults
			check string
		}{
			{"bad signature", devtenant.Faults{BadSignature: true}, "signature: "},
			{"wrong nonce", devtenant.Faults{WrongNonce: true}, "nonce: "},
			{"wrong audience", devtenant.Faults{WrongAudience: true}, "aud: "},
			{"expired", devtenant.Faults{ExpiredIDToken: true}, "exp: "},
		}
		for _, c := range cases {
			for _, rt := range []string{"code", "id_token token"} {
				t.Run(c.name+" with "+rt, func(t *testing.T) {
					env.Tenant.SetFaults(c.fault)
					defer env.Tenant.SetFaults(devtenant.Faults{})
					o := settle(t, tab, `client.checkSession({responseType: "`+rt+`"})`)
					mustFail(t, o, "invalid_token")
					if !strings.HasPrefix(o.Desc, c.check) {
						t.Errorf("error_description %q does not name the check %q", o.Desc, c.check)
					}
					if o.ErrHasTokens {
						t.Errorf("the rejection carries tokens: %v", o)
					}
					var user map[string]any
					tab.MustEvalT(t, `client.getUser()`, &user)
					if user["iat"] != userBefore["iat"] || user["nonce"] != userBefore["nonce"] || user["aud"] != "spa" {
						t.Errorf("getUser changed after a rejected token: %v, was %v", user, userBefore)
					}
				})
			}
		}
		var renewed float64
		tab.MustEvalT(t, `window.renewedEvents`, &renewed)
		if renewed != 0 {
			t.Errorf("%v renewed events fired for rejected tokens", renewed)
		}
	})

	t.Run("twenty calls leave no iframe, live frame or callback behind and the runtime stays responsive", func(t *testing.T) {
		mustSucceed(t, tab, settle(t, tab, `client.checkSession()`)) // settles what the first call sets up
		waitNoFrames(t, tab)
		before := runtimeStats(t, tab)
		o := settle(t, tab, `(async () => { for (let i = 0; i < 20; i++) await client.checkSession(); return {} })()`)
		mustSucceed(t, tab, o)
		t.Logf("20 sequential checkSession calls: %.0f ms (%.0f ms each)", o.ElapsedMS, o.ElapsedMS/20)
		waitNoFrames(t, tab)
		after := runtimeStats(t, tab)
		t.Logf("stats before %+v after %+v", before, after)
		if before.WasmMemoryBytes < 1<<20 {
			t.Errorf("wasmMemoryBytes %v: the runtime's memory is not reported", before.WasmMemoryBytes)
		}
		if before.GoHeapBytes < 1<<10 || before.GoHeapBytes > before.WasmMemoryBytes {
			t.Errorf("goHeapBytes %v: want the Go heap, inside the linear memory (%v bytes)", before.GoHeapBytes, before.WasmMemoryBytes)
		}
		if !after.Running || after.LiveFrames != 0 || after.LiveFuncs != before.LiveFuncs {
			t.Errorf("after 20 calls: %+v, want liveFrames 0 and liveFuncs %v", after, before.LiveFuncs)
		}
		o = settle(t, tab, `client.checkSession()`)
		mustSucceed(t, tab, o)
		t.Logf("21st call: %.0f ms", o.ElapsedMS)
		if o.ElapsedMS > 3000 {
			t.Errorf("the 21st call took %.0f ms", o.ElapsedMS)
		}
	})
}

// waitNoFrames waits for the SDK's iframes to leave the DOM: a closed frame
// is blanked first and removed within about a second.
func waitNoFrames(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	if err := tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestSessionEndedAtTheServer pins what happens after the user logs out at
// the authorization server while the page still holds tokens.
func TestSessionEndedAtTheServer(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	t.Run("after /v2/logout the next checkSession is login_required", func(t *testing.T) {
		login(t, env, tab, "demo@example.com", loginOptions{extra: "autoRenew: false"})
		mustSucceed(t, tab, settle(t, tab, `client.checkSession()`))
		// What the demo's "Log out at the server only" does: the tenant's
		// cookie goes along, the answer is opaque.
		tab.MustEvalT(t, fmt.Sprintf(`fetch(%q, {credentials: "include", mode: "no-cors"}).then(() => true)`, env.TenantURL+"/v2/logout"), nil)
		o := settle(t, tab, `client.checkSession()`)
		mustFail(t, o, "login_required")
		if o.Desc != "Login required" {
			t.Errorf("error_description %q", o.Desc)
		}
		// In either placement the engine's own Error is the cause.
		if o.CauseCode != "login_required" {
			t.Errorf("cause's code %q, want the engine's login_required", o.CauseCode)
		}
	})

	t.Run("with auto-renew on, the renewal after a server-side logout fires session_ended and renewal stops", func(t *testing.T) {
		// 4 s tokens are renewed halfway, at the renewal loop's next look (every 5 s).
		env.Tenant.SetFaults(devtenant.Faults{TokenLifetime: 4 * time.Second})
		defer env.Tenant.SetFaults(devtenant.Faults{})
		login(t, env, tab, "demo@example.com", loginOptions{})
		tab.MustEvalT(t, `(() => {
			window.events = [];
			for (const name of ["renewed", "renew_error", "session_ended"]) {
				client.on(name, (p) => window.events.push({name, isError: p instanceof Error, error: p && p.error, description: p && p.error_description,
					cause: p && p.cause instanceof Error ? p.cause.error : ""}));
			}
			return true;
		})()`, nil)
		r := mustSucceed(t, tab, settle(t, tab, `client.checkSession()`))
		if r["expiresIn"] != 4.0 {
			t.Fatalf("expiresIn %v, want the fault's 4", r["expiresIn"])
		}
		env.Tenant.EndAllSessions()
		if err := tab.WaitFor(`window.events.some(e => e.name === "session_ended")`, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		var events []map[string]any
		tab.MustEvalT(t, `window.events`, &events)
		t.Logf("events: %v", events)
		var ended map[string]any
		for _, e := range events {
			if e["name"] == "session_ended" {
				ended = e
			}
		}
		if ended["isError"] != true || ended["error"] != "login_required" || ended["cause"] != "login_required" {
			t.Errorf("session_ended payload %v, want an Error login_required whose cause is the engine's login_required", ended)
		}
		// Auto-renew stops: the loop looks again within 5 s and must not ask.
		n := env.Tenant.Stats().AuthorizePromptNone
		time.Sleep(6 * time.Second)
		if m := env.Tenant.Stats().AuthorizePromptNone; m != n {
			t.Errorf("%d more prompt=none requests after session_ended", m-n)
		}
	})
}

// TestSilentAuthenticationNeedsNoPrompt pins the seed's cases where
// prompt=none must fail although the user is logged in, and the MFA rule
// under which it keeps working. Each subtest ends the tenant's sessions
// and logs in anew.
func TestSilentAuthenticationNeedsNoPrompt(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	t.Run("MFA on every login: checkSession is login_required, Multifactor authentication required", func(t *testing.T) {
		env.Tenant.EndAllSessions() // a browser with no session: the login page comes first
		pages := login(t, env, tab, "mfa-always@example.com", loginOptions{})
		if !reflect.DeepEqual(pages, []string{"login", "mfa"}) {
			t.Fatalf("the login passed %v, want the login and MFA pages", pages)
		}
		for _, rt := range []string{"code", "id_token token"} {
			o := settle(t, tab, `client.checkSession({responseType: "`+rt+`"})`)
			mustFail(t, o, "login_required")
			if !strings.HasPrefix(o.Desc, "Multifactor authentication required") {
				t.Errorf("%s: error_description %q", rt, o.Desc)
			}
		}
	})

	t.Run("MFA once per session: after the login with MFA, checkSession succeeds again and again", func(t *testing.T) {
		env.Tenant.EndAllSessions() // a browser with no session: the login page comes first
		pages := login(t, env, tab, "mfa-once@example.com", loginOptions{})
		if !reflect.DeepEqual(pages, []string{"login", "mfa"}) {
			t.Fatalf("the login passed %v, want the login and MFA pages", pages)
		}
		for i, rt := range []string{"code", "id_token token", "code"} {
			r := mustSucceed(t, tab, settle(t, tab, `client.checkSession({responseType: "`+rt+`"})`))
			if p, _ := r["idTokenPayload"].(map[string]any); p["email"] != "mfa-once@example.com" {
				t.Errorf("call %d: idTokenPayload %v", i, p)
			}
		}
	})

	t.Run("a redirect rule: checkSession is interaction_required", func(t *testing.T) {
		env.Tenant.EndAllSessions() // a browser with no session: the login page comes first
		pages := login(t, env, tab, "interaction@example.com", loginOptions{})
		if !reflect.DeepEqual(pages, []string{"login", "rule"}) {
			t.Fatalf("the login passed %v, want the login and rule pages", pages)
		}
		o := settle(t, tab, `client.checkSession()`)
		mustFail(t, o, "interaction_required")
		if o.Desc != "Interaction required" {
			t.Errorf("error_description %q", o.Desc)
		}
	})

	t.Run("a third-party client the user never consented to: consent_required, until consent is given", func(t *testing.T) {
		env.Tenant.EndAllSessions()
		login(t, env, tab, "demo@example.com", loginOptions{})
		mustSucceed(t, tab, settle(t, tab, `client.checkSession()`)) // the first-party client works
		tab.MustEvalT(t, `(async () => { window.third = await `+env.ClientJSFor("third-party-spa", "")+`; return true })()`, nil)
		o := settle(t, tab, `third.checkSession()`)
		mustFail(t, o, "consent_required")
		if o.Desc != "Consent required" {
			t.Errorf("error_description %q", o.Desc)
		}

		// The session is still there, so the interactive login asks for consent only.
		pages := login(t, env, tab, "demo@example.com", loginOptions{clientID: "third-party-spa"})
		if !reflect.DeepEqual(pages, []string{"consent"}) {
			t.Fatalf("the login passed %v, want the consent page only", pages)
		}
		r := mustSucceed(t, tab, settle(t, tab, `client.checkSession()`))
		if p, _ := r["idTokenPayload"].(map[string]any); p["aud"] != "third-party-spa" {
			t.Errorf("idTokenPayload %v", p)
		}
	})
}

// TestRedirectCallback pins handleRedirectCallback: it validates an
// interactive login's response as strictly as checkSession does, accepts it
// once, and cleans the address bar.
func TestRedirectCallback(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	// responseIn is where each response type puts its response.
	responseIn := map[string]string{"code": "search", "id_token token": "hash"}
	for _, rt := range []string{"code", "id_token token"} {
		extra := fmt.Sprintf("responseType: %q", rt)
		newClient := `(async () => { window.client = await ` + env.ClientJSFor("spa", extra) + `; return true })()`

		t.Run(rt+": a wrong state is invalid_state, the right one succeeds once and cleans the address bar, a replay is invalid_state", func(t *testing.T) {
			loginToCallback(t, env, tab, "demo@example.com", loginOptions{extra: extra})
			var callback string
			tab.MustEvalT(t, `location.href`, &callback)
			var where string
			tab.MustEvalT(t, `location.`+responseIn[rt], &where)
			if !strings.Contains(where, "state=") {
				t.Fatalf("the response is not in location.%s: %s", responseIn[rt], callback)
			}
			tab.MustEvalT(t, newClient, nil)

			o := settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, withState(t, callback, "not-the-state")))
			mustFail(t, o, "invalid_state")
			if !strings.Contains(o.Desc, "unknown or was already used") {
				t.Errorf("error_description %q", o.Desc)
			}

			r := mustSucceed(t, tab, settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, callback)))
			if p, _ := r["idTokenPayload"].(map[string]any); p["email"] != "demo@example.com" || r["accessToken"] == nil {
				t.Errorf("callback result %v", r)
			}
			var loc map[string]string
			tab.MustEvalT(t, `({search: location.search, hash: location.hash, path: location.pathname})`, &loc)
			if loc["search"] != "" || loc["hash"] != "" || loc["path"] != e2eenv.TestPagePath {
				t.Errorf("the address bar still carries the response: %v", loc)
			}

			o = settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, callback))
			mustFail(t, o, "invalid_state")
		})

		t.Run(rt+": an ID token with the wrong nonce is invalid_token naming nonce", func(t *testing.T) {
			env.Tenant.SetFaults(devtenant.Faults{WrongNonce: true})
			defer env.Tenant.SetFaults(devtenant.Faults{})
			loginToCallback(t, env, tab, "demo@example.com", loginOptions{extra: extra})
			tab.MustEvalT(t, newClient, nil)
			o := settle(t, tab, `client.handleRedirectCallback()`)
			mustFail(t, o, "invalid_token")
			if !strings.HasPrefix(o.Desc, "nonce: ") {
				t.Errorf("error_description %q does not name the nonce check", o.Desc)
			}
			if o.ErrHasTokens {
				t.Errorf("the rejection carries tokens: %v", o)
			}
			var user any
			tab.MustEvalT(t, `client.getUser()`, &user)
			if user != nil {
				t.Errorf("getUser() = %v after a rejected login", user)
			}
		})
	}
}

// withState returns the callback URL with its state (in the query or the
// fragment, wherever it is) replaced.
func withState(t *testing.T, callback, state string) string {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := url.ParseQuery(u.Fragment); err == nil && f.Has("state") {
		f.Set("state", state)
		base, _, _ := strings.Cut(callback, "#")
		return base + "#" + f.Encode()
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String()
}
