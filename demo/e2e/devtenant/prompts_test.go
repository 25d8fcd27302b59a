package devtenant_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

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
