package devtenant

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestDevLoginSignsAUserInWithoutTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.authorize(map[string]string{"prompt": "none"}); e.mustWebMessage(r)["error"] != "login_required" {
		t.Fatalf("before /dev/login: %v", e.mustWebMessage(r))
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/dev/login", strings.NewReader(`{"email": "Demo@Example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	r := e.do(req)
	if r.status != http.StatusOK {
		t.Fatalf("/dev/login answered %d %q", r.status, r.body)
	}
	var out struct {
		Cookie struct{ Name, Value, Path string }
		Sub    string
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.Cookie.Name != SessionCookie || out.Cookie.Value == "" || out.Sub == "" {
		t.Fatalf("/dev/login body %q (%v)", r.body, err)
	}
	// The client's jar took the Set-Cookie: prompt=none now succeeds, for
	// that user, with no login form and no MFA step.
	msg := e.mustWebMessage(e.authorize(map[string]string{"prompt": "none"}))
	if msg["code"] == nil {
		t.Fatalf("after /dev/login prompt=none answered %v", msg)
	}
	if e.ten.Stats().Logins != 0 {
		t.Errorf("the form was used: %+v", e.ten.Stats())
	}
}

func TestDevLoginRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		body   string
		header map[string]string
		host   string
		want   int
	}{
		{"an unknown user", `{"email": "nobody@example.com"}`, map[string]string{"Content-Type": "application/json"}, "", 404},
		{"no email", `{}`, map[string]string{"Content-Type": "application/json"}, "", 400},
		{"a cross-site form post", `{"email": "demo@example.com"}`,
			map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", 403},
		{"a rebinding Host (off loopback)", `{"email": "demo@example.com"}`,
			map[string]string{"Content-Type": "application/json"}, "rebind.evil.example", 421},
		{"a GET", ``, nil, "", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPost
			if tt.want == 405 {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, e.srv.URL+"/dev/login", strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			if r := e.do(req); r.status != tt.want {
				t.Fatalf("answered %d %q, want %d", r.status, r.body, tt.want)
			}
			if n := len(e.ten.sessions); n != 0 {
				t.Fatalf("%d sessions after a refused /dev/login", n)
			}
		})
	}
}
