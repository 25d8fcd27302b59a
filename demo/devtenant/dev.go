package devtenant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// faultsJSON is Faults on the wire: durations as Go duration strings ("1.5s").
type faultsJSON struct {
	Delay                   string `json:"delay,omitempty"`
	AuthorizeStatus500      bool   `json:"authorize_status_500,omitempty"`
	NoMessage               bool   `json:"no_message,omitempty"`
	BadSignature            bool   `json:"bad_signature,omitempty"`
	WrongNonce              bool   `json:"wrong_nonce,omitempty"`
	WrongAudience           bool   `json:"wrong_audience,omitempty"`
	ExpiredIDToken          bool   `json:"expired_id_token,omitempty"`
	DiscoveryNotFound       bool   `json:"discovery_not_found,omitempty"`
	NoWebMessageInDiscovery bool   `json:"no_web_message_in_discovery,omitempty"`
	JWKSDown                bool   `json:"jwks_down,omitempty"`
	TokenLifetime           string `json:"token_lifetime,omitempty"`
}

// MarshalJSON writes snake_case names and durations as strings such as "2s".
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		AuthorizeStatus500: f.AuthorizeStatus500, NoMessage: f.NoMessage,
		BadSignature: f.BadSignature, WrongNonce: f.WrongNonce, WrongAudience: f.WrongAudience,
		ExpiredIDToken: f.ExpiredIDToken, DiscoveryNotFound: f.DiscoveryNotFound,
		NoWebMessageInDiscovery: f.NoWebMessageInDiscovery, JWKSDown: f.JWKSDown,
	}
	if f.Delay > 0 {
		j.Delay = f.Delay.String()
	}
	if f.TokenLifetime > 0 {
		j.TokenLifetime = f.TokenLifetime.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes; unknown fields are an error so a typo is not a silent no-op.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Faults{
		AuthorizeStatus500: j.AuthorizeStatus500, NoMessage: j.NoMessage,
		BadSignature: j.BadSignature, WrongNonce: j.WrongNonce, WrongAudience: j.WrongAudience,
		ExpiredIDToken: j.ExpiredIDToken, DiscoveryNotFound: j.DiscoveryNotFound,
		NoWebMessageInDiscovery: j.NoWebMessageInDiscovery, JWKSDown: j.JWKSDown,
	}
	var err error
	if j.Delay != "" {
		if out.Delay, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("delay: %w", err)
		}
	}
	if j.TokenLifetime != "" {
		if out.TokenLifetime, err = time.ParseDuration(j.TokenLifetime); err != nil {
			return fmt.Errorf("token_lifetime: %w", err)
		}
	}
	*f = out
	return nil
}

// DevHeader is the header that marks a request to /dev/* as deliberate.
// A page on another site cannot send a custom header without a CORS
// preflight, which the tenant never grants; a form or a text/plain fetch
// cannot send it at all. curl, Go tests and the bench send it (or a JSON
// body with Content-Type application/json, which also forces a preflight).
const DevHeader = "X-Devtenant"

// devOnly guards the /dev/* switches: they change what the tenant answers
// for every user, so only a deliberate request from this machine may use
// them. It checks, in order: the Host header names this machine (DNS
// rebinding gives another name), an Origin or Sec-Fetch-Site that is present
// says the request comes from the tenant itself, and a state-changing
// request carries DevHeader or a JSON content type.
func (t *Tenant) devOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.ownHost(r.Host) {
			http.Error(w, "/dev/*: Host "+strconv.Quote(r.Host)+" is not this tenant (localhost, 127.0.0.1 or the issuer's host)", http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != t.issuerOrigin() {
			http.Error(w, "/dev/*: requests from origin "+strconv.Quote(o)+" are refused", http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "/dev/*: a "+site+" request is refused", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if r.Header.Get(DevHeader) == "" && mt != "application/json" {
				http.Error(w, "/dev/*: send the header "+DevHeader+": 1 (or a JSON body with Content-Type: application/json)", http.StatusForbidden)
				return
			}
		}
		h(w, r)
	})
}

// ownHost reports whether a Host header names this tenant: a loopback name
// or the issuer's own host, with any port.
func (t *Tenant) ownHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	if u, err := url.Parse(t.issuer); err == nil && strings.EqualFold(u.Hostname(), host) {
		return true
	}
	return false
}

func (t *Tenant) issuerOrigin() string {
	u, err := url.Parse(t.issuer)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// handleDevFaults: GET reports the switches, POST replaces them all ({} clears).
func (t *Tenant) handleDevFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, t.Faults())
	case http.MethodPost:
		// A JSON content type forces a CORS preflight, which we never grant, so other sites cannot flip switches.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			http.Error(w, "POST /dev/faults wants Content-Type: application/json", http.StatusUnsupportedMediaType)
			return
		}
		var f Faults
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
			http.Error(w, "bad faults JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		t.SetFaults(f)
		t.log.Info("faults set", "faults", f)
		writeJSON(w, http.StatusOK, f)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (t *Tenant) handleDevStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, t.Stats())
}

// handleDevRotate rotates the keys; ?keep_old=true keeps the previous ones in the JWKS.
func (t *Tenant) handleDevRotate(w http.ResponseWriter, r *http.Request) {
	keep := r.URL.Query().Get("keep_old")
	if err := t.RotateKeys(keep == "true" || keep == "1"); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (t *Tenant) handleDevAction(f func()) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f()
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleDevLogin signs a user in without the login form: POST a JSON body
// {"email": "..."}; the answer sets the session cookie and tells it in its
// body ({"cookie": {"name", "value", "path"}, "sub"}), so that a test can
// hand it to the browser it drives (Playwright's addCookies, chromedp's
// network.SetCookie). Like every /dev/* switch it is refused off loopback.
func (t *Tenant) handleDevLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Email == "" {
		http.Error(w, `POST /dev/login wants a JSON body {"email": "demo@example.com"}`, http.StatusBadRequest)
		return
	}
	id, err := t.SignIn(body.Email)
	if err != nil {
		http.Error(w, "/dev/login: "+err.Error(), http.StatusNotFound)
		return
	}
	t.mu.Lock()
	sub := t.users[strings.ToLower(strings.TrimSpace(body.Email))].Sub
	t.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int(t.sessTTL / time.Second), Secure: strings.HasPrefix(t.issuer, "https:")})
	t.log.Info("dev login", "user", body.Email)
	writeJSON(w, http.StatusOK, map[string]any{
		"cookie": map[string]any{"name": sessionCookie, "value": id, "path": "/"},
		"sub":    sub,
	})
}

func (t *Tenant) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	// Auth0 serves discovery to any origin; SDKs read it from the browser.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	t.mu.Lock()
	t.stats.Discovery++
	f := t.faults
	t.mu.Unlock()
	if f.DiscoveryNotFound {
		http.NotFound(w, r)
		return
	}
	modes := []string{"query", "fragment"}
	if !f.NoWebMessageInDiscovery {
		modes = append(modes, "web_message")
	}
	d := map[string]any{
		"issuer":                                t.Issuer(),
		"authorization_endpoint":                t.issuer + "/authorize",
		"token_endpoint":                        t.issuer + "/oauth/token",
		"userinfo_endpoint":                     t.issuer + "/userinfo",
		"jwks_uri":                              t.issuer + "/.well-known/jwks.json",
		"end_session_endpoint":                  t.issuer + "/v2/logout",
		"response_types_supported":              []string{"code", "token", "id_token", "id_token token"},
		"response_modes_supported":              modes,
		"grant_types_supported":                 []string{"authorization_code", "implicit", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"dpop_signing_alg_values_supported":     []string{"ES256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported":                      []string{"aud", "auth_time", "email", "email_verified", "exp", "iat", "iss", "name", "nonce", "sid", "sub"},
		"prompt_values_supported":               []string{"none", "login"},
	}
	// RFC 7009 revocation, which logout uses to kill the refresh token.
	d["revocation_endpoint"] = t.issuer + "/oauth/revoke"
	d["revocation_endpoint_auth_methods_supported"] = []string{"none", "client_secret_post"}
	writeJSON(w, http.StatusOK, d)
}

func (t *Tenant) handleHome(w http.ResponseWriter, r *http.Request) {
	renderPage(w, http.StatusOK, pageData{
		Title: "silentauth dev tenant",
		Lines: []string{
			"This is a DEVELOPMENT authorization server. It keeps everything in memory and must only listen on localhost.",
			"Discovery: " + t.issuer + "/.well-known/openid-configuration",
		},
	})
}
