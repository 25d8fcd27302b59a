package devtenant_test

import (
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
