package checksession

import (
	"context"
	"fmt"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// login starts an interactive login and returns the authorize URL visited.
func login(t *testing.T, fx *fixture, c *Client) url.Values {
	t.Helper()
	if err := c.LoginWithRedirect(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(fx.b.Location())
	if err != nil || u.Path != "/authorize" {
		t.Fatalf("navigated to %q", fx.b.Location())
	}
	return u.Query()
}

func TestRedirectLoginRoundTrip(t *testing.T) {
	for _, rt := range []string{"code", "id_token token"} {
		t.Run(rt, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.client(func(o *Options) { o.ResponseType = rt; o.RedirectURI = pageOrigin + "/callback" })
			q := login(t, fx, c)
			if q.Get("prompt") != "" {
				t.Errorf("interactive login sent prompt=%s", q.Get("prompt"))
			}
			wantMode := map[string]string{"code": "query", "id_token token": "fragment"}[rt]
			if q.Get("response_mode") != wantMode {
				t.Errorf("response_mode %q, want %q", q.Get("response_mode"), wantMode)
			}
			resp := url.Values{}
			for k, v := range fx.loggedIn(q) {
				resp.Set(k, paramOf(v))
			}
			callback := pageOrigin + "/callback?keep=1&" + resp.Encode()
			if rt != "code" {
				callback = pageOrigin + "/callback?keep=1#" + resp.Encode()
			}
			res, err := c.HandleRedirectCallback(context.Background(), callback)
			if err != nil {
				t.Fatalf("callback: %v", err)
			}
			if res.AccessToken == "" || res.IDTokenPayload["sub"] == nil {
				t.Errorf("result lacks tokens: %+v", res)
			}
			if fx.b.replaced != pageOrigin+"/callback?keep=1" {
				t.Errorf("address bar left as %q", fx.b.replaced)
			}
			if len(fx.b.storage.m) != 0 {
				t.Errorf("transaction left in sessionStorage: %v", fx.b.storage.m)
			}
			if _, err := c.HandleRedirectCallback(context.Background(), callback); errCode(err) != "invalid_state" {
				t.Errorf("replayed callback: got %v, want invalid_state", err)
			}
		})
	}
}

// paramOf is a fake server's answer value as a query parameter.
func paramOf(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func TestRedirectCallbackRefusals(t *testing.T) {
	cases := []struct {
		name string
		edit func(fx *fixture, resp url.Values)
		code string
		desc string
	}{
		{"unknown state is refused", func(_ *fixture, r url.Values) { r.Set("state", "not-ours") }, "invalid_state", "unknown"},
		{"callback without state is refused", func(_ *fixture, r url.Values) { r.Del("state") }, "invalid_state", "no state"},
		{"wrong nonce is refused", func(fx *fixture, r url.Values) {}, "invalid_token", "nonce"},
		{"server error passes through", func(_ *fixture, r url.Values) {
			r.Del("code")
			r.Set("error", "access_denied")
			r.Set("error_description", "User cancelled")
		}, "access_denied", "User cancelled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.client()
			q := login(t, fx, c)
			if tc.code == "invalid_token" {
				fx.tamper = func(c map[string]any) { c["nonce"] = "replayed-from-elsewhere" }
			}
			resp := url.Values{}
			for k, v := range fx.loggedIn(q) {
				resp.Set(k, paramOf(v))
			}
			tc.edit(fx, resp)
			_, err := c.HandleRedirectCallback(context.Background(), pageOrigin+"/?"+resp.Encode())
			if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.desc) {
				t.Fatalf("got %v, want %s with %q", err, tc.code, tc.desc)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	t.Run("Auth0 logout takes returnTo", func(t *testing.T) {
		fx := newFixture(t)
		c := fx.client()
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Logout(context.Background(), LogoutParams{ReturnTo: pageOrigin + "/"}); err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(fx.b.Location())
		if u.Path != "/v2/logout" || u.Query().Get("returnTo") != pageOrigin+"/" || u.Query().Get("client_id") != idtokentest.ClientID {
			t.Errorf("navigated to %s", u)
		}
		if c.GetUser() != nil {
			t.Error("user kept after logout")
		}
	})
	t.Run("an OpenID Provider's end_session_endpoint takes post_logout_redirect_uri and id_token_hint", func(t *testing.T) {
		fx := newFixture(t)
		c := fx.client(func(o *Options) { o.EndSessionEndpoint = serverOrigin + "/session/end" })
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Logout(context.Background(), LogoutParams{ReturnTo: pageOrigin + "/"}); err != nil {
			t.Fatal(err)
		}
		q, _ := url.Parse(fx.b.Location())
		if q.Query().Get("post_logout_redirect_uri") != pageOrigin+"/" || q.Query().Get("id_token_hint") == "" {
			t.Errorf("navigated to %s", q)
		}
	})
	t.Run("localOnly does not navigate", func(t *testing.T) {
		fx := newFixture(t)
		c := fx.client()
		if err := c.Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil || fx.b.Location() != "" {
			t.Errorf("err %v, location %q", err, fx.b.Location())
		}
	})
}

func TestHasAuthResponse(t *testing.T) {
	for u, want := range map[string]bool{
		pageOrigin + "/?code=c&state=s":                    true,
		pageOrigin + "/#access_token=a&id_token=i&state=s": true,
		pageOrigin + "/?error=login_required&state=s":      true,
		pageOrigin + "/?code=c":                            false, // no state: not ours to handle
		pageOrigin + "/?state=s":                           false,
		pageOrigin + "/products?page=2":                    false,
		pageOrigin + "/#section-2":                         false,
		"::not a url":                                      false,
	} {
		if got := HasAuthResponse(u); got != want {
			t.Errorf("HasAuthResponse(%q) = %t, want %t", u, got, want)
		}
	}
}
