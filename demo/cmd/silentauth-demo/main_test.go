package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    options
		wantErr bool
	}{
		{name: "defaults make renewals visible within a minute", args: nil,
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "environment sets the ports", env: map[string]string{"SILENTAUTH_TENANT_PORT": "4000", "SILENTAUTH_APP_PORT": "9000"},
			want: options{tenantPort: 4000, appPort: 9000, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "flags win over the environment", env: map[string]string{"SILENTAUTH_APP_PORT": "9000"}, args: []string{"-app-port", "9100", "-token-lifetime", "10s"},
			want: options{tenantPort: 3000, appPort: 9100, tokenLifetime: 10 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "another provider", args: []string{"-issuer", "https://op.example/", "-client-id", "abc"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", issuer: "https://op.example/", clientID: "abc"}},
		{name: "refresh-token lifetime from the environment, overridden by the flag", env: map[string]string{"SILENTAUTH_REFRESH_TOKEN_LIFETIME": "1h"}, args: []string{"-refresh-token-lifetime", "5m"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, refreshLifetime: 5 * time.Minute, dist: "dist", clientID: "spa"}},
		{name: "refresh-token lifetime from the environment", env: map[string]string{"SILENTAUTH_REFRESH_TOKEN_LIFETIME": "1h"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, refreshLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "another provider needs a client id", args: []string{"-issuer", "https://op.example/"}, wantErr: true},
		{name: "bad environment value is an error", env: map[string]string{"SILENTAUTH_APP_PORT": "x"}, wantErr: true},
		{name: "-allow-origin repeats, after the environment's origins", env: map[string]string{"SILENTAUTH_ALLOW_ORIGINS": "http://localhost:5173, https://App.Example:8443 http://127.0.0.1:4200"},
			args: []string{"-allow-origin", "http://localhost:5173", "-allow-origin", "http://localhost:3001"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa",
				allowOrigins: []string{"http://localhost:5173", "https://app.example:8443", "http://127.0.0.1:4200", "http://localhost:5173", "http://localhost:3001"}}},
		{name: "-allow-origin with a trailing slash is an error", args: []string{"-allow-origin", "http://localhost:5173/"}, wantErr: true},
		{name: "-allow-origin with a path is an error", args: []string{"-allow-origin", "http://localhost:5173/callback"}, wantErr: true},
		{name: "-allow-origin without a scheme is an error", args: []string{"-allow-origin", "localhost:5173"}, wantErr: true},
		{name: "SILENTAUTH_ALLOW_ORIGINS with a path is an error", env: map[string]string{"SILENTAUTH_ALLOW_ORIGINS": "http://localhost:5173/app"}, wantErr: true},
		{name: "-allow-origin with -issuer is an error: the provider is not ours to configure", args: []string{"-issuer", "https://op.example/", "-client-id", "abc", "-allow-origin", "http://localhost:5173"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SILENTAUTH_TENANT_PORT", "SILENTAUTH_APP_PORT", "SILENTAUTH_TOKEN_LIFETIME",
				"SILENTAUTH_SESSION_LIFETIME", "SILENTAUTH_DIST", "SILENTAUTH_ISSUER", "SILENTAUTH_CLIENT_ID", "SILENTAUTH_AUDIENCE", "SILENTAUTH_ALLOW_ORIGINS", "SILENTAUTH_REFRESH_TOKEN_LIFETIME"} {
				t.Setenv(k, tt.env[k])
				if _, set := tt.env[k]; !set {
					unsetenv(t, k)
				}
			}
			got, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// unsetenv removes key for this test; t.Setenv already arranged its restoration.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

func TestAllowOriginErrorNamesTheFix(t *testing.T) {
	_, err := parseFlags([]string{"-allow-origin", "http://localhost:5173/"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `use "http://localhost:5173"`) {
		t.Fatalf("error %v, want one that names the bare origin", err)
	}
}

// TestAllowedOriginGetsWebMessage pins what -allow-origin is for: a silent
// request from the added origin is answered with a web_message page posting
// to that origin, and one from an origin nobody added is refused.
func TestAllowedOriginGetsWebMessage(t *testing.T) {
	o, err := parseFlags([]string{"-allow-origin", "http://localhost:5173"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := devtenant.New(tenantConfig(o, "http://localhost:3000", "http://localhost:8080", nil))
	if err != nil {
		t.Fatal(err)
	}
	silent := func(redirectURI string) *httptest.ResponseRecorder {
		q := url.Values{
			"client_id": {"spa"}, "redirect_uri": {redirectURI}, "response_type": {"id_token"},
			"response_mode": {"web_message"}, "prompt": {"none"}, "state": {"st"}, "nonce": {"n"}, "scope": {"openid"},
		}
		rec := httptest.NewRecorder()
		tenant.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:3000/authorize?"+q.Encode(), nil))
		return rec
	}
	for _, tt := range []struct {
		name, redirectURI string
		wantMessage       bool
	}{
		{"the demo app's origin is answered", "http://localhost:8080", true},
		{"an -allow-origin origin is answered", "http://localhost:5173", true},
		{"an origin nobody allowed is refused", "http://localhost:5174", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := silent(tt.redirectURI)
			body := rec.Body.String()
			posts := strings.Contains(body, "authorization_response") && strings.Contains(body, `"`+tt.redirectURI+`"`)
			if tt.wantMessage && (rec.Code != http.StatusOK || !posts || !strings.Contains(body, "login_required")) {
				t.Fatalf("want a 200 web_message page posting login_required to %s, got %d:\n%s", tt.redirectURI, rec.Code, body)
			}
			if !tt.wantMessage && (rec.Code == http.StatusOK || strings.Contains(body, "authorization_response")) {
				t.Fatalf("want a refusal without a web_message, got %d:\n%s", rec.Code, body)
			}
		})
	}
}

func TestBannerListsAllowedOrigins(t *testing.T) {
	var b strings.Builder
	printBanner(&b, options{clientID: "spa", dist: t.TempDir(), allowOrigins: []string{"http://localhost:5173"}}, "http://localhost:8080", "http://localhost:3000")
	if !strings.Contains(b.String(), "Also allowed   http://localhost:5173") {
		t.Errorf("banner does not list the allowed origin:\n%s", b.String())
	}
}
