package oidc_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNoSessionAtTheProviderAnswersLoginRequired(t *testing.T) {
	tab := openTestPage(t, callbackPath)
	tab.MustEval(`(async () => { window.client = await `+opClientJS(shared.issuer, "")+`; return true })()`, nil)
	o := checkSession(t, tab, "")
	t.Logf("checkSession with no session: %v", o)
	if o.OK || o.Error != "login_required" {
		t.Fatalf("want login_required, got %v", o)
	}
	if o.Description != "End-User authentication is required" {
		t.Errorf("the provider's description should pass through unchanged, got %q", o.Description)
	}
}

// After the provider's own sign-in form, prompt=none succeeds for both
// flows, found through discovery alone: the issuer has no trailing slash and
// the endpoints are /auth, /token and /jwks, none of them Auth0's.
func TestAfterLoginCheckSessionSucceedsThroughDiscoveredEndpoints(t *testing.T) {
	d := getDiscovery(t, shared.issuer)
	if d.Issuer != shared.issuer || strings.HasSuffix(d.Issuer, "/") {
		t.Fatalf("discovery issuer %q, want %q with no trailing slash", d.Issuer, shared.issuer)
	}
	if d.AuthorizationEndpoint != shared.issuer+"/auth" || d.TokenEndpoint != shared.issuer+"/token" || d.JWKSURI != shared.issuer+"/jwks" {
		t.Fatalf("endpoints are not the provider's own paths: %+v", d)
	}

	tab := openTestPage(t, callbackPath)
	took := opLogin(t, tab, shared.issuer, "alice", "")
	t.Logf("interactive login took %v", took.Round(time.Millisecond))

	for _, flow := range []string{"code", "id_token token"} {
		t.Run(flow, func(t *testing.T) {
			before := len(tab.Console())
			o := checkSession(t, tab, fmt.Sprintf(`{responseType: %q}`, flow))
			t.Logf("%s: %v", flow, o)
			if !o.OK {
				t.Fatalf("checkSession failed: %v", o)
			}
			if o.AccessToken == "" || o.IDToken == "" || o.TokenType != "Bearer" || o.ExpiresIn != 120 {
				t.Errorf("result lacks tokens or has the wrong lifetime: type %q expiresIn %v", o.TokenType, o.ExpiresIn)
			}
			if o.Payload["iss"] != shared.issuer || o.Payload["sub"] != "alice" || o.Payload["email"] != "alice@example.test" {
				t.Errorf("idTokenPayload: %v", o.Payload)
			}
			claims := verifyIDToken(t, shared.issuer, o.IDToken, o.AccessToken, flow == "id_token token")
			_, atHash := claims["at_hash"]
			t.Logf("%s: ID token claims %v (at_hash present: %v)", flow, keys(claims), atHash)

			// The iframe went to the discovered /auth, never to Auth0's /authorize.
			opened := ""
			for _, line := range tab.Console()[before:] {
				if i := strings.Index(line, "silent request opened: "); i >= 0 {
					opened = line[i+len("silent request opened: "):]
				}
			}
			if !strings.HasPrefix(opened, shared.issuer+"/auth?") {
				t.Errorf("the silent request went to %q, want %s/auth?…", opened, shared.issuer)
			}
			if !strings.Contains(opened, "response_type="+strings.ReplaceAll(flow, " ", "%20")) && !strings.Contains(opened, "response_type="+strings.ReplaceAll(flow, " ", "+")) {
				t.Errorf("the silent request does not ask for %q: %s", flow, opened)
			}
		})
	}

	// The SDK's default redirectUri is location.origin, with no trailing
	// slash; the provider matches redirect_uri as an exact string, so this
	// works only because provider.mjs registers the bare origin too.
	t.Run("default redirectUri (location.origin)", func(t *testing.T) {
		o := evalOutcome(t, tab, fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa", assumeSignedOut: false})`, shared.issuer), "")
		if !o.OK {
			t.Fatalf("checkSession with redirectUri %s: %v", shared.appURL, o)
		}
	})
}

// The two prompt=none errors that need a session: scopes the grant does not
// cover, and the provider insisting on an interaction.
func TestAfterLoginTheProviderPromptNoneErrorsPassThrough(t *testing.T) {
	tab := openTestPage(t, callbackPath)
	opLogin(t, tab, shared.issuer, "bob", "")
	cases := []struct {
		name, params, want, desc string
	}{
		{"scope beyond the grant", `{scope: "openid profile email read:admin"}`, "consent_required", "requested scopes not granted"},
		{"login_hint that needs interaction", `{login_hint: "needs-interaction"}`, "interaction_required", "test-forced interaction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := checkSession(t, tab, c.params)
			t.Logf("%s: %v", c.name, o)
			if o.OK || o.Error != c.want || o.Description != c.desc {
				t.Fatalf("want %s (%q), got %v", c.want, c.desc, o)
			}
		})
	}
	// The session is still good for what was granted.
	if o := checkSession(t, tab, ""); !o.OK {
		t.Fatalf("checkSession within the grant after the errors: %v", o)
	}
}

// A redirect_uri the client has not registered gets the provider's 400 HTML
// error page, which posts nothing; the SDK notices the page loaded silent and
// fails well before timeoutInSeconds.
func TestUnregisteredRedirectURITimesOutFast(t *testing.T) {
	tab := openTestPage(t, callbackPath)
	client := `silentauth.createClient({domain: ` + fmt.Sprintf("%q", shared.issuer) + `, clientId: "spa", assumeSignedOut: false,
		redirectUri: ` + fmt.Sprintf("%q", shared.appURL+"/not-registered") + `, timeoutInSeconds: 30})`
	o := evalOutcome(t, tab, client, "")
	t.Logf("unregistered redirect_uri: timeout after %.0f ms (timeoutInSeconds 30): %s", o.MS, o.Description)
	if o.OK || o.Error != "timeout" {
		t.Fatalf("want timeout, got %v", o)
	}
	if !strings.HasPrefix(o.Description, "Timeout during executing web_message communication") || !strings.Contains(o.Description, "posted no answer") {
		t.Errorf("description should be auth0.js's words plus the page-loaded diagnosis, got %q", o.Description)
	}
	if o.MS > 15000 {
		t.Errorf("took %.0f ms: the SDK should fail fast once the error page has loaded, not wait out the 30 s", o.MS)
	}
}

// With the provider on 127.0.0.1 and the app on localhost, the provider's
// SameSite=Lax session cookie is third-party in the iframe: this is what a
// browser blocking third-party cookies looks like. The interactive login
// works (top-level, first-party); the silent request after it gets
// login_required, and the SDK says why.
func TestProviderOnAnotherSiteAnswersLoginRequiredWithTheThirdPartyCookieHint(t *testing.T) {
	tab := openTestPage(t, callbackPath)
	opLogin(t, tab, shared.crossOP, "carol", "")
	var user map[string]any
	tab.MustEval(`loginResult.idTokenPayload`, &user)
	if user["sub"] != "carol" || user["iss"] != shared.crossOP {
		t.Fatalf("the interactive login did not complete: %v", user)
	}
	o := checkSession(t, tab, "")
	t.Logf("after an interactive login on another site: %v", o)
	if o.OK || o.Error != "login_required" {
		t.Fatalf("want login_required, got %v", o)
	}
	if !strings.HasPrefix(o.Description, "End-User authentication is required") || !strings.Contains(o.Description, "blocks third-party cookies") || !strings.Contains(o.Description, "different sites") {
		t.Errorf("description should be the provider's plus the third-party-cookie hint, got %q", o.Description)
	}
}

// The provider's code-flow web_message responses carry iss (RFC 9207); the
// SDK accepts them when iss is the issuer and rejects them when a proxy
// rewrites it to another issuer.
func TestResponseIssMustBeTheIssuer(t *testing.T) {
	tab := openTestPage(t, callbackPath)
	opLogin(t, tab, shared.issuer, "dave", "")
	// Every endpoint given, so the iframe goes through the proxy while the
	// issuer, tokens and keys stay the provider's own.
	viaProxy := opClientJS(shared.issuer, fmt.Sprintf(`issuer: %q, authorizationEndpoint: %q, tokenEndpoint: %q, jwksUri: %q`,
		shared.issuer, shared.proxyURL+"/auth", shared.issuer+"/token", shared.issuer+"/jwks"))

	t.Run("iss equal to the issuer is accepted", func(t *testing.T) {
		shared.proxy.setRewrite("")
		o := evalOutcome(t, tab, viaProxy, "")
		if !o.OK {
			t.Fatalf("checkSession through the proxy: %v", o)
		}
		pages := shared.proxy.seen()
		if len(pages) != 1 || !strings.Contains(pages[0], `"code":"`) || !strings.Contains(pages[0], `"iss":"`+shared.issuer+`"`) {
			t.Fatalf("want one web_message page carrying code and iss %q, got %q", shared.issuer, pages)
		}
	})
	t.Run("iss naming another issuer is invalid_token", func(t *testing.T) {
		const other = "http://localhost:1"
		shared.proxy.setRewrite(other)
		defer shared.proxy.setRewrite("")
		o := evalOutcome(t, tab, viaProxy, "")
		t.Logf("rewritten iss: %v", o)
		pages := shared.proxy.seen()
		if len(pages) != 1 || !strings.Contains(pages[0], `"iss":"`+shared.issuer+`"`) {
			t.Fatalf("the proxy saw no page to rewrite: %q", pages)
		}
		if o.OK || o.Error != "invalid_token" || !strings.HasPrefix(o.Description, "iss:") || !strings.Contains(o.Description, other) {
			t.Fatalf("want invalid_token naming iss and %s, got %v", other, o)
		}
	})
}

func keys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }
