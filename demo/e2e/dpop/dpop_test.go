// Package dpop_test proves in headless Chromium that useDpop binds the
// tokens to a key that never leaves the browser (API.md, "DPoP"), against
// the dev tenant and node-oidc-provider (features.dPoP, nonces required):
// the code and the tokens are bound to the key (dpop_jkt, cnf.jkt), a
// server nonce is picked up with one retry, a refresh token copied out of
// the browser is refused without the key, a lost key is replaced and the
// session goes on, and logout deletes the key.
package dpop_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

const dpopOpts = `useDpop: true, useRefreshTokens: true, refreshTokenStorage: "local"`

// proofClaims is a proof's claims, unchecked.
func proofClaims(t *testing.T, proof string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(proof, claims); err != nil {
		t.Fatalf("not a JWS: %q: %v", proof, err)
	}
	return claims
}

// authorizeJKT is the dpop_jkt of the last authorization request in hits.
func authorizeJKT(hits []e2eenv.Hit) string {
	jkt := ""
	for _, h := range hits {
		if (h.Path == "/authorize" || h.Path == "/auth") && h.DPoPJKT != "" {
			jkt = h.DPoPJKT
		}
	}
	return jkt
}

func grants(hits []e2eenv.Hit, grant string) []e2eenv.Hit {
	var out []e2eenv.Hit
	for _, h := range hits {
		if h.Grant == grant {
			out = append(out, h)
		}
	}
	return out
}

// checkSession runs client.checkSession() in tab and returns its tokenType, or the error.
func checkSession(t *testing.T, tab *e2eenv.Tab) string {
	t.Helper()
	var got string
	tab.MustEval(`client.checkSession().then(r => r.tokenType, e => "error " + e.error + ": " + e.error_description)`, &got)
	return got
}

func TestDPoPBindsTheTokensToTheBrowsersKey(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, s *server) {
		tab := s.Login(t, dpopOpts)
		hits := s.Rec.Since(0)
		jkt := authorizeJKT(hits)
		if jkt == "" {
			t.Fatal("the interactive authorization request carried no dpop_jkt")
		}
		var tokenType string
		tab.MustEval(`loginResult.tokenType`, &tokenType)
		if tokenType != "DPoP" {
			t.Errorf("loginResult.tokenType = %q, want DPoP", tokenType)
		}

		// The server wants its nonce: the code exchange is refused once with
		// use_dpop_nonce, then sent again with the nonce, and succeeds.
		ex := grants(hits, "authorization_code")
		if len(ex) != 2 || ex[0].Error != "use_dpop_nonce" || ex[1].Status != 200 || ex[1].TokenType != "DPoP" || !ex[0].Proof || !ex[1].Proof {
			t.Fatalf("code exchanges %+v, want use_dpop_nonce, then 200 DPoP, both with a proof", ex)
		}
		if got := s.jktOf(t, ex[1].Access); got != jkt {
			t.Errorf("the access token is bound to %q, want the browser's key %q", got, jkt)
		}
		if s.IsProvider() {
			if got := s.jktOf(t, ex[1].RefreshOut); got != jkt {
				t.Errorf("the refresh token is bound to %q, want the browser's key %q", got, jkt)
			}
		}

		// Renewal with the refresh token carries a proof by the same key.
		mark := s.Rec.Mark()
		if got := checkSession(t, tab); got != "DPoP" {
			t.Fatalf("renewal: %s", got)
		}
		rg := grants(s.Rec.Since(mark), "refresh_token")
		if len(rg) == 0 || rg[len(rg)-1].Status != 200 || rg[len(rg)-1].TokenType != "DPoP" {
			t.Fatalf("refresh grants %+v, want a DPoP answer", rg)
		}
		for _, g := range rg {
			if !g.Proof {
				t.Errorf("a refresh grant without a proof: %+v", g)
			}
		}
		if got := s.jktOf(t, rg[len(rg)-1].Access); got != jkt {
			t.Errorf("the renewed access token is bound to %q, want %q", got, jkt)
		}
		live := rg[len(rg)-1].RefreshOut
		if live == "" {
			t.Fatal("the refresh grant's answer carried no refresh token")
		}

		// The API: Authorization: DPoP and a proof, the API's nonce picked up.
		mark = s.Rec.Mark()
		var status int
		tab.MustEval(fmt.Sprintf(`client.fetch(%q).then(r => r.status)`, s.api), &status)
		calls := s.Rec.Since(mark)
		t.Logf("client.fetch(%s): %d; the server saw %+v", s.api, status, calls)
		if status != 200 {
			t.Errorf("client.fetch(%s) = %d, want 200\n%s", s.api, status, strings.Join(tab.Console(), "\n"))
		}
		for _, c := range calls {
			if c.Method != "OPTIONS" && c.Path != "/token" && c.Path != "/oauth/token" && (c.Auth != "DPoP" || !c.Proof) {
				t.Errorf("an API call without Authorization: DPoP and a proof: %+v", c)
			}
		}

		// An API with a nonce of its own: the first call is refused with
		// use_dpop_nonce, the second carries the nonce, and the caller sees
		// only the answer.
		if s.nonceAPI != nil {
			tab.MustEval(fmt.Sprintf(`client.fetch(%q, {method: "POST", body: "x"}).then(r => r.status)`, s.AppURL+"/api/dpop?q=1"), &status)
			if got := s.nonceAPI.seen(); status != 200 || strings.Join(got, ",") != "use_dpop_nonce,ok" {
				t.Errorf("client.fetch to an API that wants its nonce: %d; the API answered %q, want use_dpop_nonce then ok", status, got)
			}
			var h map[string]string
			tab.MustEval(fmt.Sprintf(`client.getAuthHeaders(%q, {method: "PUT"})`, s.AppURL+"/api/dpop"), &h)
			if !strings.HasPrefix(h["Authorization"], "DPoP ") || h["DPoP"] == "" || proofClaims(t, h["DPoP"])["nonce"] != apiNonce {
				t.Errorf("getAuthHeaders = %v, want a DPoP token and a proof with the API's nonce", h)
			}
			var refused string
			tab.MustEval(`client.getAuthHeaders("https://elsewhere.example/x").then(() => "sent", e => e.error)`, &refused)
			if refused != "invalid_configuration" {
				t.Errorf("getAuthHeaders for an origin outside apiOrigins: %s", refused)
			}
		}

		// A refresh token copied out of the browser is worth nothing without
		// the key. A script on the page takes it as a review did: the stored
		// copy decrypts with the vault's key, which cannot be exported but
		// can still decrypt. From Go, no proof, or a proof by another key, is
		// refused.
		var stolen string
		// The engine in the page keeps the ciphertext in localStorage; the
		// one in the SharedWorker, which has none, in IndexedDB beside the key.
		tab.MustEval(`(async () => {
			const bytes = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0));
			const db = await new Promise((ok, fail) => { const r = indexedDB.open("silentauth"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
			const get = (op, ...a) => new Promise((ok, fail) => { const r = db.transaction("keys").objectStore("keys")[op](...a); r.onsuccess = () => ok(r.result); r.onerror = fail; });
			let name = Object.keys(localStorage).find(k => k.startsWith("silentauth:rt:")), stored = name && localStorage.getItem(name);
			if (!name) {
				const id = (await get("getAllKeys")).map(String).find(k => k.startsWith("value:silentauth:rt:"));
				name = id.slice("value:".length);
				stored = await get("get", id);
			}
			const [, iv, ct] = stored.split(".");
			const key = await get("get", "secret-store-key");
			db.close();
			const plain = await crypto.subtle.decrypt({name: "AES-GCM", iv: bytes(iv), additionalData: new TextEncoder().encode(name)}, key, bytes(ct));
			return new TextDecoder().decode(plain);
		})()`, &stolen)
		if stolen != live {
			t.Fatalf("the refresh token decrypted from storage is not the live one the server issued last")
		}
		for _, withKey := range []bool{false, true} {
			status, m := s.redeem(t, live, withKey)
			t.Logf("the copied refresh token redeemed from Go (own key: %v): %d %v", withKey, status, m)
			if status == 200 || m["access_token"] != nil {
				t.Errorf("the copied refresh token was redeemed without the browser's key (own key: %v): %d", withKey, status)
			}
		}
		// ...and the browser's own renewal still works.
		if got := checkSession(t, tab); got != "DPoP" {
			t.Errorf("renewal after the thefts: %s", got)
		}

		// Logout deletes the key.
		tab.MustEval(`client.logout({localOnly: true}).then(() => true)`, nil)
		var keys []string
		tab.MustEval(`new Promise((ok, fail) => {
			const r = indexedDB.open("silentauth");
			r.onerror = fail;
			r.onsuccess = () => {
				const db = r.result, q = db.transaction("keys").objectStore("keys").getAllKeys();
				q.onsuccess = () => { db.close(); ok(q.result.map(String)); };
				q.onerror = fail;
			};
		})`, &keys)
		for _, k := range keys {
			if strings.HasPrefix(k, "dpop:") {
				t.Errorf("after logout IndexedDB still holds the DPoP key %q", k)
			}
		}
	})
}

func TestDPoPLostKeyIsReplacedAndTheSessionGoesOn(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, s *server) {
		tab := s.Login(t, dpopOpts)
		old := authorizeJKT(s.Rec.Since(0))
		// Site data cleared: the key (and the vault's key with it) is gone.
		tab.MustEval(`new Promise((ok, fail) => { const r = indexedDB.deleteDatabase("silentauth"); r.onsuccess = () => ok(true); r.onerror = fail; r.onblocked = () => fail(new Error("blocked")); })`, nil)
		if err := tab.Navigate(s.AppURL + s.PagePath); err != nil {
			t.Fatal(err)
		}
		if err := tab.WaitFor("window.silentauth && silentauth.createClient", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		mark := s.Rec.Mark()
		var got string
		tab.MustEval(`(async () => {
			window.client = await `+s.ClientJS(dpopOpts)+`;
			return client.checkSession().then(r => r.tokenType, e => "error " + e.error + ": " + e.error_description);
		})()`, &got)
		if got != "DPoP" {
			t.Fatalf("checkSession after the key was lost: %s\n%s", got, strings.Join(tab.Console(), "\n"))
		}
		hits := s.Rec.Since(mark)
		now := authorizeJKT(hits)
		if now == "" || now == old {
			t.Errorf("after the loss dpop_jkt %q, want a new key's (the old one was %q)", now, old)
		}
		if n := tab.Lines("a new key was made"); n == 0 {
			t.Errorf("no debug line says a new key was made:\n%s", strings.Join(tab.Console(), "\n"))
		}
		if rg := grants(hits, "refresh_token"); len(rg) != 0 {
			t.Errorf("refresh grants after the loss %+v: a token bound to the old key was presented", rg)
		}
		ex := grants(hits, "authorization_code")
		if len(ex) == 0 || ex[len(ex)-1].Status != 200 {
			t.Fatalf("code exchanges after the loss %+v, want the iframe's code redeemed", ex)
		}
		if got := s.jktOf(t, ex[len(ex)-1].Access); got != now {
			t.Errorf("the new access token is bound to %q, want the new key %q", got, now)
		}
	})
}
