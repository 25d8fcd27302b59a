package devtenant

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sessionCookie names the tenant's login session cookie.
const sessionCookie = "devtenant_session"

// csrfCookie holds the browser's form token: every form of the login pages
// carries the same value in a hidden "csrf" field, and a POST whose field
// does not match the cookie is refused. A page on another site can learn a
// transaction id (it can start its own login), but it can neither read nor
// set this cookie, so it cannot log a victim's browser in as someone else.
const csrfCookie = "devtenant_csrf"

// csrfToken returns the browser's form token, setting the cookie on first use.
func (t *Tenant) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomID()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/u/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(t.issuer, "https:")})
	return v
}

// csrfOK checks a form POST's token against the browser's cookie.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	return err == nil && form != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// authRequest is a validated /authorize request.
type authRequest struct {
	client        *Client
	redirectURI   string
	responseType  string // "code", "id_token", "id_token token" or "token"
	responseMode  string // "web_message", "fragment" or "query"
	state         string
	nonce         string
	scope         string
	audience      string
	prompt        string
	maxAge        int // -1 when absent
	codeChallenge string
	dpopJKT       string
	loginHint     string
}

// transaction is an interactive login in progress, known to the forms by its id.
type transaction struct {
	id         string
	req        authRequest
	expiresAt  time.Time
	forceLogin bool
	user       *User
	authTime   time.Time
	sessionID  string
	mfaDone    bool
	consented  bool
	ruleDone   bool
}

// session is the tenant's login session, the thing prompt=none asks about.
type session struct {
	id        string
	user      *User
	authTime  time.Time
	expiresAt time.Time
	mfaDone   bool
}

// authError is an OAuth error; page errors are shown to the user and never sent to redirect_uri.
type authError struct {
	code, desc string
	page       bool
	status     int
}

func (e *authError) Error() string { return e.code + ": " + e.desc }

func pageErr(status int, code, desc string) *authError {
	return &authError{code: code, desc: desc, page: true, status: status}
}

func oauthErr(code, desc string) *authError { return &authError{code: code, desc: desc} }

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseAuthorize validates q in the order Auth0 does: client and redirect_uri
// first (failures stay on the tenant), then the web origin, then everything
// that can be reported back to the application. The returned request is
// usable for responding whenever the error is not a page error.
func (t *Tenant) parseAuthorize(q url.Values) (authRequest, *authError) {
	req := authRequest{
		redirectURI: q.Get("redirect_uri"),
		state:       q.Get("state"),
		nonce:       q.Get("nonce"),
		scope:       q.Get("scope"),
		audience:    q.Get("audience"),
		prompt:      q.Get("prompt"),
		maxAge:      -1,
		loginHint:   q.Get("login_hint"),
	}
	c := t.clients[q.Get("client_id")]
	if c == nil {
		return req, pageErr(http.StatusBadRequest, "invalid_request", fmt.Sprintf("Unknown client: %q", q.Get("client_id")))
	}
	req.client = c
	if !contains(c.Callbacks, req.redirectURI) {
		return req, pageErr(http.StatusForbidden, "unauthorized_client",
			fmt.Sprintf("Callback URL mismatch. %q is not in the list of allowed callback URLs of client %q", req.redirectURI, c.ID))
	}

	fields := strings.Fields(q.Get("response_type"))
	slices.Sort(fields)
	req.responseType = strings.Join(fields, " ")
	implicit := req.responseType != "code"

	mode := q.Get("response_mode")
	switch mode {
	case "":
		req.responseMode = "fragment"
		if !implicit {
			req.responseMode = "query"
		}
	case "web_message", "fragment", "query":
		req.responseMode = mode
	default:
		req.responseMode = "fragment"
		if !implicit {
			req.responseMode = "query"
		}
		return req, oauthErr("unsupported_response_mode", fmt.Sprintf("Unsupported response_mode: %q", mode))
	}
	if req.responseMode == "web_message" && !contains(c.WebOrigins, originOf(req.redirectURI)) {
		// Auth0 fails silently here on purpose: posting to an unregistered origin would leak the response.
		return req, pageErr(http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("The specified redirect_uri '%s' does not have a registered origin.", req.redirectURI))
	}

	switch req.responseType {
	case "code", "id_token", "id_token token", "token":
	case "":
		return req, oauthErr("invalid_request", "Missing required parameter: response_type")
	default:
		return req, oauthErr("unsupported_response_type", fmt.Sprintf("Unsupported response type: %q", q.Get("response_type")))
	}
	if implicit && req.responseMode == "query" {
		// Tokens in a query string end up in server logs and Referer headers.
		req.responseMode = "fragment"
		return req, oauthErr("invalid_request", "response_mode=query is not allowed with response types that return tokens")
	}
	if req.scope == "" {
		req.scope = "openid"
	}
	if strings.Contains(req.responseType, "id_token") {
		if !slices.Contains(strings.Fields(req.scope), "openid") {
			return req, oauthErr("invalid_request", "The id_token response type requires the openid scope")
		}
		if req.nonce == "" {
			return req, oauthErr("invalid_request", "Missing required parameter: nonce")
		}
	}
	switch req.prompt {
	case "", "none", "login":
	default:
		if slices.Contains(strings.Fields(req.prompt), "none") {
			return req, oauthErr("invalid_request", "prompt=none must not be combined with other values")
		}
		req.prompt = "login" // consent and select_account have no page of their own here
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return req, oauthErr("invalid_request", "max_age must be a non-negative integer")
		}
		req.maxAge = n
	}
	if req.responseType == "code" {
		challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
		if challenge != "" || c.Secret == "" {
			if challenge == "" {
				return req, oauthErr("invalid_request", "Parameter 'code_challenge' is required for public clients")
			}
			if method != "S256" {
				return req, oauthErr("invalid_request", "Parameter 'code_challenge_method' must be S256")
			}
			if len(challenge) != 43 {
				return req, oauthErr("invalid_request", "Parameter 'code_challenge' must be 43 base64url characters")
			}
		}
		req.codeChallenge = challenge
		req.dpopJKT = q.Get("dpop_jkt")
	}
	return req, nil
}

func (t *Tenant) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	t.mu.Lock()
	t.stats.Authorize++
	if q.Get("prompt") == "none" {
		t.stats.AuthorizePromptNone++
	}
	f := t.faults
	t.mu.Unlock()

	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if f.AuthorizeStatus500 {
		writeSilentPage(w, http.StatusInternalServerError, "Internal Server Error", "Fault switch AuthorizeStatus500 is on; this page posts nothing.")
		return
	}
	if f.NoMessage {
		writeSilentPage(w, http.StatusOK, "Authorization Response", "Fault switch NoMessage is on; this page posts nothing.")
		return
	}

	req, aerr := t.parseAuthorize(q)
	if aerr != nil {
		t.log.Info("authorize rejected", "client_id", q.Get("client_id"), "error", aerr.code, "description", aerr.desc)
		if aerr.page {
			writeSilentPage(w, aerr.status, aerr.code, aerr.desc)
			return
		}
		t.respond(w, r, req, errorParams(req, aerr))
		return
	}

	if req.prompt == "none" {
		t.mu.Lock()
		params, why := t.silentLocked(r, req)
		t.mu.Unlock()
		t.log.Info("authorize prompt=none", "client_id", req.client.ID, "response_type", req.responseType,
			"response_mode", req.responseMode, "result", why)
		t.respond(w, r, req, params)
		return
	}

	tx := &transaction{id: randomID(), req: req, forceLogin: req.prompt == "login"}
	t.mu.Lock()
	tx.expiresAt = t.now().Add(transactionLifetime)
	t.txs[tx.id] = tx
	t.mu.Unlock()
	t.advance(w, r, tx)
}

// silentLocked answers a prompt=none request from the session alone. Caller holds t.mu.
func (t *Tenant) silentLocked(r *http.Request, req authRequest) (map[string]any, string) {
	s := t.sessionLocked(r)
	var aerr *authError
	switch {
	case s == nil:
		aerr = oauthErr("login_required", "Login required")
	case maxAgeExceeded(req.maxAge, s.authTime, t.now()):
		aerr = oauthErr("login_required", "Login required")
	case t.needsMFALocked(s.user, s):
		// Auth0's words for an MFA step that prompt=none forbids.
		aerr = oauthErr("login_required", "Multifactor authentication required")
	case !t.consentedLocked(s.user, req):
		aerr = oauthErr("consent_required", "Consent required")
	case s.user.PendingRedirect:
		aerr = oauthErr("interaction_required", "Interaction required")
	}
	if aerr != nil {
		return errorParams(req, aerr), aerr.code
	}
	params, err := t.successLocked(req, s.user, s.authTime, s.id)
	if err != nil {
		return errorParams(req, oauthErr("server_error", err.Error())), "server_error"
	}
	return params, "success"
}

func maxAgeExceeded(maxAge int, authTime, now time.Time) bool {
	if maxAge < 0 {
		return false
	}
	return maxAge == 0 || now.Sub(authTime) > time.Duration(maxAge)*time.Second
}

// sessionLocked finds the live session named by the request's cookie. Caller holds t.mu.
func (t *Tenant) sessionLocked(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s := t.sessions[c.Value]
	if s == nil || !t.now().Before(s.expiresAt) {
		return nil
	}
	return s
}

// needsMFALocked says whether this authentication still lacks its second factor. Caller holds t.mu.
func (t *Tenant) needsMFALocked(u *User, s *session) bool {
	switch u.MFA {
	case MFAAlways:
		return true
	case MFAOncePerSession:
		return s == nil || !s.mfaDone
	}
	return false
}

func grantKey(u *User, c *Client, scope string) string { return u.Sub + "\x00" + c.ID + "\x00" + scope }

// consentedLocked is true for first-party clients and for third-party ones whose every scope was granted.
func (t *Tenant) consentedLocked(u *User, req authRequest) bool {
	if !req.client.ThirdParty {
		return true
	}
	for _, sc := range strings.Fields(req.scope) {
		if !t.grants[grantKey(u, req.client, sc)] {
			return false
		}
	}
	return true
}

// advance takes an interactive login to its next step, or finishes it.
func (t *Tenant) advance(w http.ResponseWriter, r *http.Request, tx *transaction) {
	t.mu.Lock()
	now := t.now()
	if tx.user == nil {
		s := t.sessionLocked(r)
		if s == nil || tx.forceLogin || maxAgeExceeded(tx.req.maxAge, s.authTime, now) {
			t.mu.Unlock()
			http.Redirect(w, r, "/u/login?state="+url.QueryEscape(tx.id), http.StatusFound)
			return
		}
		tx.user, tx.authTime, tx.sessionID = s.user, s.authTime, s.id
	}
	s := t.sessions[tx.sessionID]
	if !tx.mfaDone && t.needsMFALocked(tx.user, s) {
		t.mu.Unlock()
		http.Redirect(w, r, "/u/mfa?state="+url.QueryEscape(tx.id), http.StatusFound)
		return
	}
	if s == nil {
		// Authentication (password and any second factor) is complete: this is where the session starts.
		s = &session{id: randomID(), user: tx.user, authTime: tx.authTime, expiresAt: now.Add(t.sessTTL), mfaDone: tx.mfaDone}
		t.sessions[s.id] = s
		tx.sessionID = s.id
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
			MaxAge: int(t.sessTTL / time.Second), Secure: strings.HasPrefix(t.issuer, "https:"),
		})
	}
	if !t.consentedLocked(tx.user, tx.req) && !tx.consented {
		t.mu.Unlock()
		http.Redirect(w, r, "/u/consent?state="+url.QueryEscape(tx.id), http.StatusFound)
		return
	}
	if tx.user.PendingRedirect && !tx.ruleDone {
		t.mu.Unlock()
		http.Redirect(w, r, "/u/rule?state="+url.QueryEscape(tx.id), http.StatusFound)
		return
	}
	delete(t.txs, tx.id)
	params, err := t.successLocked(tx.req, tx.user, s.authTime, s.id)
	email := tx.user.Email
	t.mu.Unlock()
	if err != nil {
		params = errorParams(tx.req, oauthErr("server_error", err.Error()))
	}
	t.log.Info("authorize interactive", "client_id", tx.req.client.ID, "user", email, "response_type", tx.req.responseType)
	t.respond(w, r, tx.req, params)
}

// txFromForm finds the transaction named by the state field, or shows why it
// cannot; user is read under the lock since another request may be setting it.
func (t *Tenant) txFromForm(w http.ResponseWriter, r *http.Request) (tx *transaction, user *User) {
	if r.Method == http.MethodPost && !csrfOK(r) {
		renderPage(w, http.StatusForbidden, pageData{Title: "Form not accepted",
			Lines: []string{"This form was not submitted from this browser's login page. Start again from the application."}})
		return nil, nil
	}
	id := r.FormValue("state")
	t.mu.Lock()
	tx = t.txs[id]
	if tx != nil && !t.now().Before(tx.expiresAt) {
		delete(t.txs, id)
		tx = nil
	}
	if tx != nil {
		user = tx.user
	}
	t.mu.Unlock()
	if tx == nil {
		renderPage(w, http.StatusBadRequest, pageData{Title: "Login expired",
			Lines: []string{"This login page is no longer valid. Start again from the application."}})
	}
	return tx, user
}

// stepFromForm is txFromForm for the steps after the password (MFA,
// consent, rule): without a logged-in user they send the browser back to the
// login page. A nil transaction means the answer was already written.
func (t *Tenant) stepFromForm(w http.ResponseWriter, r *http.Request) (*transaction, *User) {
	tx, user := t.txFromForm(w, r)
	if tx != nil && user == nil {
		http.Redirect(w, r, "/u/login?state="+url.QueryEscape(tx.id), http.StatusFound)
		return nil, nil
	}
	return tx, user
}

// stepPosted is stepFromForm for a step whose GET only shows its page: it
// renders page's data (with the state and CSRF token added) and returns nil,
// or returns the posted answer's transaction and user.
func (t *Tenant) stepPosted(w http.ResponseWriter, r *http.Request, page func(*transaction, *User) pageData) (*transaction, *User) {
	tx, user := t.stepFromForm(w, r)
	if tx == nil {
		return nil, nil
	}
	if r.Method != http.MethodPost {
		p := page(tx, user)
		p.State, p.CSRF = tx.id, t.csrfToken(w, r)
		renderPage(w, http.StatusOK, p)
		return nil, nil
	}
	return tx, user
}

func (t *Tenant) users4page() []User {
	var us []User
	for _, u := range t.users {
		us = append(us, *u)
	}
	slices.SortFunc(us, func(a, b User) int { return strings.Compare(a.Email, b.Email) })
	return us
}

func (t *Tenant) handleLogin(w http.ResponseWriter, r *http.Request) {
	tx, _ := t.txFromForm(w, r)
	if tx == nil {
		return
	}
	page := pageData{Title: "Log in to " + tx.req.client.Name, Form: "login", Action: "/u/login", State: tx.id,
		Email: tx.req.loginHint, Users: t.users4page(), CSRF: t.csrfToken(w, r)}
	if r.Method != http.MethodPost {
		renderPage(w, http.StatusOK, page)
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	u := t.users[email]
	if u == nil || u.Password != r.PostFormValue("password") {
		page.Error, page.Email = "Wrong email or password.", email
		renderPage(w, http.StatusUnauthorized, page)
		return
	}
	t.mu.Lock()
	// A fresh login replaces whatever session the browser had.
	if c, err := r.Cookie(sessionCookie); err == nil {
		delete(t.sessions, c.Value)
	}
	tx.user, tx.authTime, tx.sessionID, tx.mfaDone = u, t.now(), "", false
	t.stats.Logins++
	t.mu.Unlock()
	t.log.Info("login", "user", u.Email)
	t.advance(w, r, tx)
}

func (t *Tenant) handleMFA(w http.ResponseWriter, r *http.Request) {
	tx, user := t.stepFromForm(w, r)
	if tx == nil {
		return
	}
	page := pageData{Title: "Verify your identity", Form: "mfa", Action: "/u/mfa", State: tx.id, Email: user.Email, CSRF: t.csrfToken(w, r)}
	if r.Method != http.MethodPost {
		renderPage(w, http.StatusOK, page)
		return
	}
	if r.PostFormValue("otp") != MFACode {
		page.Error = "That code is not valid."
		renderPage(w, http.StatusUnauthorized, page)
		return
	}
	t.mu.Lock()
	tx.mfaDone = true
	if s := t.sessions[tx.sessionID]; s != nil {
		s.mfaDone = true
	}
	t.mu.Unlock()
	t.advance(w, r, tx)
}

func (t *Tenant) handleConsent(w http.ResponseWriter, r *http.Request) {
	tx, user := t.stepPosted(w, r, func(tx *transaction, user *User) pageData {
		return pageData{Title: "Authorize " + tx.req.client.Name, Form: "consent", Action: "/u/consent",
			Client: tx.req.client.Name, Email: user.Email, Scopes: strings.Fields(tx.req.scope)}
	})
	if tx == nil {
		return
	}
	if r.PostFormValue("decision") != "accept" {
		t.mu.Lock()
		delete(t.txs, tx.id)
		t.mu.Unlock()
		t.respond(w, r, tx.req, errorParams(tx.req, oauthErr("access_denied", "User did not authorize the request")))
		return
	}
	t.mu.Lock()
	for _, sc := range strings.Fields(tx.req.scope) {
		t.grants[grantKey(user, tx.req.client, sc)] = true
	}
	tx.consented = true
	t.mu.Unlock()
	t.advance(w, r, tx)
}

func (t *Tenant) handleRule(w http.ResponseWriter, r *http.Request) {
	tx, _ := t.stepPosted(w, r, func(tx *transaction, user *User) pageData {
		return pageData{Title: "One more step", Form: "rule", Action: "/u/rule", Email: user.Email}
	})
	if tx == nil {
		return
	}
	t.mu.Lock()
	tx.ruleDone = true
	t.mu.Unlock()
	t.advance(w, r, tx)
}

func errorParams(req authRequest, e *authError) map[string]any {
	p := map[string]any{"error": e.code, "error_description": e.desc}
	if req.state != "" {
		p["state"] = req.state
	}
	return p
}

// respond delivers an authorization response in the request's response mode.
func (t *Tenant) respond(w http.ResponseWriter, r *http.Request, req authRequest, params map[string]any) {
	if req.responseMode == "web_message" {
		writeWebMessage(w, originOf(req.redirectURI), params)
		return
	}
	v := url.Values{}
	for k, val := range params {
		v.Set(k, fmt.Sprint(val))
	}
	target := req.redirectURI
	if req.responseMode == "query" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + v.Encode()
	} else {
		target += "#" + v.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// successLocked issues what the response type asks for. Caller holds t.mu.
func (t *Tenant) successLocked(req authRequest, u *User, authTime time.Time, sid string) (map[string]any, error) {
	p := map[string]any{}
	if req.state != "" {
		p["state"] = req.state
	}
	g := grant{client: req.client, user: u, scope: req.scope, audience: req.audience, nonce: req.nonce, authTime: authTime, sid: sid}
	if req.responseType == "code" {
		code := randomID()
		t.codes[code] = &authCode{grant: g, redirectURI: req.redirectURI, challenge: req.codeChallenge, dpopJKT: req.dpopJKT,
			expiresAt: t.now().Add(codeLifetime)}
		p["code"] = code
		return p, nil
	}
	wantAccess := strings.Contains(req.responseType, "token") && req.responseType != "id_token"
	tok, err := t.issueLocked(g, wantAccess, strings.Contains(req.responseType, "id_token"))
	if err != nil {
		return nil, err
	}
	if tok.access != "" {
		p["access_token"] = tok.access
		p["token_type"] = "Bearer"
		p["expires_in"] = tok.expiresIn
		p["scope"] = req.scope
	}
	if tok.id != "" {
		p["id_token"] = tok.id
	}
	return p, nil
}
