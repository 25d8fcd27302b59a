package demoserver

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestServer(t *testing.T) (*Server, []byte) {
	t.Helper()
	dist := t.TempDir()
	wasm := bytes.Repeat([]byte("\x00asm-silentauth-"), 4096)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dist, "silentauth.wasm"), wasm, 0o644))
	must(os.WriteFile(filepath.Join(dist, "silentauth.js"), []byte("window.silentauth = {};"), 0o644))
	must(os.MkdirAll(filepath.Join(dist, "tools"), 0o755))
	must(os.WriteFile(filepath.Join(dist, "tools", "x.js"), []byte("secret"), 0o644))
	s, err := New(Config{Domain: "http://localhost:3000", ClientID: "spa", DistDir: dist,
		APIURL: "http://localhost:3000/api/private", DevTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, wasm
}

func TestServesPageSDKAndConfig(t *testing.T) {
	t.Parallel()
	s, wasm := newTestServer(t)
	tests := []struct {
		name         string
		path         string
		gzip         bool
		wantStatus   int
		wantType     string
		wantEncoding string
		wantBody     []byte // after decompression; nil skips
		wantContains string
	}{
		{name: "index page", path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantContains: `src="/silentauth/silentauth.js"`},
		{name: "app script", path: "/app.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantContains: "createClient"},
		{name: "config names the tenant", path: "/config.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8",
			wantContains: `window.SILENTAUTH_DEMO = {"apiUrl":"http://localhost:3000/api/private","audience":"","clientId":"spa","devTenant":true,"domain":"http://localhost:3000"`},
		{name: "wasm as application/wasm", path: "/silentauth/silentauth.wasm", wantStatus: 200, wantType: "application/wasm", wantBody: wasm},
		{name: "wasm gzipped when accepted", path: "/silentauth/silentauth.wasm", gzip: true, wantStatus: 200, wantType: "application/wasm", wantEncoding: "gzip", wantBody: wasm},
		{name: "loader script", path: "/silentauth/silentauth.js", gzip: true, wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantEncoding: "gzip", wantBody: []byte("window.silentauth = {};")},
		{name: "missing SDK file says how to build it", path: "/silentauth/silentauth.mjs", wantStatus: 404, wantContains: "make build"},
		{name: "other dist content stays private", path: "/silentauth/tools", wantStatus: 404},
		{name: "unknown page", path: "/nope.html", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Host = "localhost:8080"
			if tt.gzip {
				req.Header.Set("Accept-Encoding", "br, gzip")
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self' 'wasm-unsafe-eval'") ||
				res.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("CSP %q, Cache-Control %q", res.Header.Get("Content-Security-Policy"), res.Header.Get("Cache-Control"))
			}
			if tt.wantStatus != 200 {
				if !strings.Contains(rec.Body.String(), tt.wantContains) {
					t.Errorf("body %q lacks %q", rec.Body.String(), tt.wantContains)
				}
				return
			}
			if got := res.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Fatalf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			body := rec.Body.Bytes()
			if tt.wantEncoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body differs from the file (%d bytes, want %d)", len(body), len(tt.wantBody))
			}
			if !strings.Contains(string(body), tt.wantContains) {
				t.Errorf("body lacks %q", tt.wantContains)
			}
		})
	}
}

func TestCSPAllowsOnlyTheAuthorizationServer(t *testing.T) {
	t.Parallel()
	got := CSP("http://localhost:3000")
	for _, want := range []string{
		"script-src 'self' 'wasm-unsafe-eval'",
		"frame-src http://localhost:3000",
		"connect-src 'self' http://localhost:3000",
		"object-src 'none'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("CSP %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "unsafe-inline") || strings.Contains(got, "*") {
		t.Errorf("CSP %q is not strict", got)
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   bool
	}{
		{"gzip", true},
		{"br, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"br", false},
		{"", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Encoding", tt.header)
		if got := acceptsGzip(r); got != tt.want {
			t.Errorf("Accept-Encoding %q: %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"relative domain", Config{Domain: "localhost:3000", ClientID: "spa"}},
		{"no client id", Config{Domain: "http://localhost:3000"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", tt.name, tt.cfg)
		}
	}
}

func TestSDKFilesOutsideDistAreNotServed(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dist := filepath.Join(parent, "dist")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dist, "a"), 0o755))
	must(os.WriteFile(filepath.Join(dist, "silentauth.js"), []byte("sdk"), 0o644))
	must(os.WriteFile(filepath.Join(dist, "a", "inner.js"), []byte("inner"), 0o644))
	must(os.WriteFile(filepath.Join(parent, "secret.js"), []byte("SECRET"), 0o644))
	must(os.Symlink(filepath.Join(parent, "secret.js"), filepath.Join(dist, "link.js")))
	s, err := New(Config{Domain: "http://localhost:3000", ClientID: "spa", DistDir: dist})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	tests := []struct {
		name, path string
		want       int
	}{
		{"a file in dist is served", "/silentauth/silentauth.js", 200},
		{"escaped slashes and dot-dot do not leave dist", "/silentauth/a%2F..%2F..%2Fsecret.js", 404},
		{"escaped dot-dot alone does not leave dist", "/silentauth/..%2Fsecret.js", 404},
		{"escaped backslashes are refused", "/silentauth/..%5Csecret.js", 404},
		{"a subdirectory is not served either", "/silentauth/a%2Finner.js", 404},
		{"a symlink out of dist is not followed", "/silentauth/link.js", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Sent as written: a client must not clean the path first.
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.path
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tt.want, body)
			}
			if strings.Contains(string(body), "SECRET") {
				t.Fatalf("served the file outside dist: %q", body)
			}
		})
	}
}

func TestOnlyLocalHostNamesAreAnswered(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	tests := []struct {
		host string
		want int
	}{
		{"localhost:8080", 200},
		{"127.0.0.1:8080", 200},
		{"[::1]:8080", 200},
		{"localhost", 200},
		{"LOCALHOST:8080", 200},
		{"rebind.attacker.example:8080", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:8080", http.StatusMisdirectedRequest},
		{"localhost:80:80", http.StatusMisdirectedRequest},
		{"", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		for _, path := range []string{"/", "/config.js", "/silentauth/silentauth.js"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("Host %q %s: status %d, want %d", tt.host, path, rec.Code, tt.want)
			}
		}
	}
}
