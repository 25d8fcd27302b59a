package checksession

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/plainjson"
	"github.com/silentauth/silentauth/checksession/platform"
)

// Refresh tokens (API.md, "Refresh tokens"): the pieces the renewal engine
// calls. A refresh token lives in a refreshTokens holder inside the Go
// runtime; with refreshTokenStorage "local" the holder also keeps it,
// encrypted, in a SecretStore. It never reaches an AuthResult, an event, a
// tab message other than the hand-over, or a log line.

func errMissingRefreshToken(why string) *Error {
	return newError(string(ErrMissingRefreshToken), "Missing Refresh Token: "+why)
}

// requestScope is the scope sent on the wire for scope: with
// useRefreshTokens, offline_access is added. Caches, the tab key and the
// refresh key keep the scope without it, so that a call naming the
// configured scope finds the configured scope's tokens, and tabs with the
// same configuration share whatever offline_access they asked for.
func (s *settings) requestScope(scope string) string {
	if !s.UseRefreshTokens || hasScope(scope, "offline_access") {
		return scope
	}
	if strings.TrimSpace(scope) == "" {
		return "offline_access"
	}
	return scope + " offline_access"
}

// refreshFallback reports whether the iframe is tried when no refresh token
// is held or the grant answers invalid_grant.
func (s *settings) refreshFallback() bool {
	return !s.UseRefreshTokens || !s.RefreshTokensNoFallback
}

// refreshKey names the stored refresh token. It is the tab group's key
// (tabKey) under its own prefix: clients that share a stored token must share
// the lock that keeps it from being presented twice, so two configurations
// that differ in anything the group's key names (a redirectUri, say) never
// read each other's token.
func (s *settings) refreshKey() string {
	return "silentauth:rt:" + strings.TrimPrefix(s.tabKey(), "silentauth:")
}

// refreshTokens holds this tab's refresh token. Only one grant may use it at
// a time (Take), and its answer decides what is held next (Replace, Return,
// Forget), so that a rotated token is never presented twice by this tab.
// With a store, every change is written through; the last write is always
// the current token, whatever order the writes finish in.
type refreshTokens struct {
	store platform.SecretStore // nil: memory only
	key   string

	mu    sync.Mutex
	token string
	out   bool   // a grant is using token
	gen   uint64 // bumped by Forget and Adopt: a lease from before them is stale
	// awaiting is the nonce this tab announced as the next in line for the
	// token (refreshgroup.go): the one hand-over it adopts is addressed to
	// it. heir is the nonce the next in line announced to this tab, the
	// one address it hands the token to.
	awaiting, heir string
	// changed is closed, and replaced, at every change of token.
	changed chan struct{}
	// spent remembers (hashed) the tokens this holder has redeemed, so that
	// a late hand-over of one of them is refused: presenting a rotated token
	// again would make the server revoke the whole family.
	spent map[[sha256.Size]byte]bool
	// loaded: the store was read once (Load).
	loaded bool
	// unsaved: the last write to the store failed, so the held token is
	// newer than the stored one (Reload keeps it).
	unsaved bool

	// The store is written by one write at a time, with no lock held
	// across it (a call into the page): writing is set while one runs, and
	// a change made meanwhile waits for it and writes next (persist).
	// asked counts the writes asked for, covered is the last ask a
	// finished write included, with its outcome in coveredErr; wrote is
	// closed, and replaced, as each write ends. writes counts the writes
	// started, for Reload to see one that began and ended while it read.
	writing    bool
	asked      uint64
	covered    uint64
	coveredErr error
	wrote      chan struct{}
	writes     uint64
}

// refreshLease is one grant's use of the token.
type refreshLease struct {
	Token string
	gen   uint64
}

// newRefreshTokens builds the holder for s; the store is b's SecretStore
// when refreshTokenStorage is "local" and b has one.
func newRefreshTokens(s *settings, b platform.Browser) *refreshTokens {
	h := &refreshTokens{key: s.refreshKey()}
	if st, ok := b.(platform.SecretStore); ok && s.RefreshTokenStorage == RefreshTokenStorageLocal {
		h.store = st
	}
	return h
}

// Load reads the stored token once, the first time it is called, if nothing
// is held yet. A token
// that fails to decrypt (a tampered value, a lost key) is deleted, and the
// error is returned for the debug log: the holder stays empty.
func (h *refreshTokens) Load(ctx context.Context) error {
	h.mu.Lock()
	first := !h.loaded
	h.loaded = true
	h.mu.Unlock()
	if h.store == nil || !first {
		return nil
	}
	tok, ok, err := h.store.Load(ctx, h.key)
	if err != nil {
		_ = h.store.Delete(ctx, h.key)
		return err
	}
	if !ok || tok == "" {
		return nil
	}
	h.mu.Lock()
	if h.token == "" && !h.out {
		h.token = tok
		h.signalLocked()
	}
	h.mu.Unlock()
	return nil
}

// signalLocked wakes whoever watches the token (Changed); h.mu must be held.
func (h *refreshTokens) signalLocked() {
	if h.changed != nil {
		close(h.changed)
	}
	h.changed = make(chan struct{})
}

// Changed is closed at the next change of the held token.
func (h *refreshTokens) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return h.changed
}

// Has reports whether a token is held (in use or not). It never waits.
func (h *refreshTokens) Has() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.token != ""
}

// Current is the held token without taking it: the one a logout revokes
// (the hand-over on pagehide is Handover, which gives it away). It never
// waits.
func (h *refreshTokens) Current() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.token, h.token != ""
}

// InUse reports whether a grant has the token out. It never waits.
func (h *refreshTokens) InUse() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out
}

// Take lends the token to one grant; false when none is held or another
// grant has it.
func (h *refreshTokens) Take() (refreshLease, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.token == "" || h.out {
		return refreshLease{}, false
	}
	h.out = true
	return refreshLease{Token: h.token, gen: h.gen}, true
}

// Replace ends a successful grant: rotated is the answer's new token, which
// replaces the lent one; "" (a server that does not rotate) keeps it. A
// lease from before a Forget or an Adopt changes nothing.
func (h *refreshTokens) Replace(ctx context.Context, l refreshLease, rotated string) error {
	h.mu.Lock()
	if l.gen != h.gen {
		h.mu.Unlock()
		return nil
	}
	h.out = false
	changed := rotated != "" && rotated != h.token
	if changed {
		h.markSpentLocked(h.token)
		h.token = rotated
		h.signalLocked()
	}
	h.mu.Unlock()
	if !changed {
		return nil
	}
	return h.persist(ctx)
}

// Return ends a grant that got no usable answer (network_error, a 5xx): the
// token is kept for the next try.
func (h *refreshTokens) Return(l refreshLease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l.gen == h.gen {
		h.out = false
	}
}

// Adopt holds a token that came from elsewhere: a code exchange's answer, or
// the hand-over of the tab that led the group. An empty token, and one this
// holder has already redeemed, are ignored.
func (h *refreshTokens) Adopt(ctx context.Context, token string) error {
	return h.adopt(ctx, token, nil)
}

// AdoptSince is Adopt only if nothing was adopted or forgotten since gen
// (Generation): a code exchange that started before a logout must not
// bring a refresh token back after it.
func (h *refreshTokens) AdoptSince(ctx context.Context, gen uint64, token string) error {
	return h.adopt(ctx, token, &gen)
}

// Generation is the holder's count of adoptions and forgets.
func (h *refreshTokens) Generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

func (h *refreshTokens) markSpentLocked(token string) {
	if token == "" {
		return
	}
	if h.spent == nil || len(h.spent) >= 256 {
		h.spent = map[[sha256.Size]byte]bool{} // a bound, not a history: rotations replace the oldest anyway
	}
	h.spent[sha256.Sum256([]byte(token))] = true
}

func (h *refreshTokens) adopt(ctx context.Context, token string, since *uint64) error {
	if token == "" {
		return nil
	}
	h.mu.Lock()
	if token == h.token || h.spent[sha256.Sum256([]byte(token))] || since != nil && *since != h.gen {
		h.mu.Unlock()
		return nil
	}
	h.token, h.out = token, false
	h.gen++
	h.awaiting = "" // a token is held: this tab is no longer in line for one
	h.signalLocked()
	h.mu.Unlock()
	return h.persist(ctx)
}

// Forget drops the token, here and in the store: invalid_grant, the end of
// the session, logout, or a hand-over to the next leader.
func (h *refreshTokens) Forget(ctx context.Context) error {
	h.mu.Lock()
	had := h.token != ""
	h.token, h.out = "", false
	h.gen++
	h.signalLocked()
	h.mu.Unlock()
	if !had && h.store == nil {
		return nil
	}
	return h.persist(ctx)
}

// handoverKind is the tab message that passes the refresh token to the tab
// next in line for it (refreshgroup.go). It is its own message, never a
// tabMessage, so that no result or error shared between tabs can carry the
// token. To is the nonce the next in line announced: a tab adopts only a
// hand-over addressed to its own nonce, once.
const handoverKind = "refresh_token_handover"

type handoverMessage struct {
	Kind         string `json:"kind"`
	To           string `json:"to"`
	RefreshToken string `json:"refresh_token"`
}

// Handover gives the token away to the tab next in line: it returns the
// message to post on the tab group's channel, addressed to the nonce that
// tab announced (NoteHeir), and forgets the token here, so that this tab,
// if it comes back from the back-forward cache, never presents a token the
// next holder has rotated. It does not touch the store (the next holder's
// rotation overwrites it) and never waits, so it may run in a pagehide
// listener. false when nothing is held, a grant has it out (that grant
// decides the token's fate), or no tab has announced itself next in line:
// then the token stays.
func (h *refreshTokens) Handover() ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.token == "" || h.out || h.heir == "" {
		return nil, false
	}
	// As encoding/json writes handoverMessage, without its reflection.
	b := []byte(`{"kind":"` + handoverKind + `","to":`)
	b = plainjson.AppendString(b, h.heir)
	b = append(plainjson.AppendString(append(b, `,"refresh_token":`...), h.token), '}')
	h.token, h.heir = "", ""
	h.gen++
	h.signalLocked()
	return b, true
}

// NoteHeir records the nonce of the tab that announced itself next in line
// for the token; the latest announcement counts.
func (h *refreshTokens) NoteHeir(nonce string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heir = nonce
}

// Await records the nonce this tab announced as next in line ("" when it
// is no longer in line): the only address of a hand-over it adopts.
func (h *refreshTokens) Await(nonce string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.awaiting = nonce
}

// errUnaskedHandover is AcceptHandover's refusal of a hand-over that is not
// addressed to the nonce this tab is waiting with.
var errUnaskedHandover = errors.New("refused a refresh-token hand-over this tab did not ask for (it is not addressed to this tab's nonce as the next in line)")

// AcceptHandover adopts the token from a tab message when it is a hand-over
// addressed to the nonce this tab is waiting with, and then stops waiting:
// the nonce is good for one hand-over. Any other hand-over is refused with
// errUnaskedHandover and changes nothing. handled is false for every other
// message, which the engine then reads as a tabMessage.
func (h *refreshTokens) AcceptHandover(ctx context.Context, data []byte) (handled bool, err error) {
	var m handoverMessage
	if json.Unmarshal(data, &m) != nil || m.Kind != handoverKind {
		return false, nil
	}
	h.mu.Lock()
	asked := h.awaiting != "" && m.To == h.awaiting
	if asked {
		h.awaiting = ""
	}
	h.mu.Unlock()
	if !asked {
		return true, errUnaskedHandover
	}
	return true, h.Adopt(ctx, m.RefreshToken)
}

// isHandover reports whether a tab message is a refresh-token hand-over.
func isHandover(data []byte) bool {
	var m struct {
		Kind string `json:"kind"`
	}
	return json.Unmarshal(data, &m) == nil && m.Kind == handoverKind
}

// Reload makes the stored token the held one; the engine calls it under
// the group's lock, before a grant. Every engine of the configuration on
// this origin (tabs, another version's worker) writes its rotations
// through to the same store while it holds that lock, so the stored token
// is the one not yet spent, and the copy held here may be one another
// engine has rotated since: presenting it would make the server revoke
// the whole family. Nothing stored means the token was forgotten elsewhere
// (logout, invalid_grant), and the copy here goes too.
//
// The held token stays when it is newer than the store can be: a grant
// has it out, or this holder's last write failed. A store that cannot be
// read leaves it too (the error is returned for the debug log). Without a
// store it does nothing.
func (h *refreshTokens) Reload(ctx context.Context) error {
	if h.store == nil {
		return nil
	}
	h.mu.Lock()
	h.loaded = true
	// A write under way holds a token newer than the store can be.
	gen, writes, keep := h.gen, h.writes, h.out || h.unsaved || h.writing
	h.mu.Unlock()
	if keep {
		return nil
	}
	tok, ok, err := h.store.Load(ctx, h.key)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.gen != gen || h.out || h.unsaved || h.writing || h.writes != writes:
		// Changed, or written, while the store was read: what is held is newer.
	case !ok || tok == "":
		if h.token != "" {
			h.token = ""
			h.gen++
			h.signalLocked()
		}
	case tok != h.token && !h.spent[sha256.Sum256([]byte(tok))]:
		h.token = tok
		h.gen++
		h.signalLocked()
	}
	return nil
}

// Drop forgets the token in this tab only and leaves the store alone:
// destroy. Never waits.
func (h *refreshTokens) Drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.token, h.out = "", false
	h.gen++
	h.signalLocked()
}

// DropSince is Drop only if nothing was adopted or forgotten since gen
// (Generation): a follower's stand-by copy from a hand-over, once a
// verified share says the new leader has rotated it. A token handed over
// while the share was being verified is the rotated one, and stays.
func (h *refreshTokens) DropSince(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen {
		h.token, h.out = "", false
		h.gen++
		h.signalLocked()
	}
}

// persist writes the current state, whatever it is by the time the write
// runs, so that racing writes end with the latest token stored. Writes run
// one at a time: a change made while one runs waits for it, then writes
// itself, unless a write that started after the change covered it. It
// returns the outcome of the write that covered this change.
func (h *refreshTokens) persist(ctx context.Context) (err error) {
	if h.store == nil {
		return nil
	}
	h.mu.Lock()
	h.asked++
	mine := h.asked
	for h.covered < mine && h.writing {
		if h.wrote == nil {
			h.wrote = make(chan struct{})
		}
		w := h.wrote
		h.mu.Unlock()
		<-w
		h.mu.Lock()
	}
	if h.covered >= mine {
		err := h.coveredErr
		h.mu.Unlock()
		return err
	}
	h.writing = true
	h.writes++
	covers, tok := h.asked, h.token // every change asked for so far
	h.mu.Unlock()
	// Deferred, so that a write cut short by a panic still ends: the next
	// change writes again.
	err = errors.New("the write to the store was cut short")
	defer func() {
		h.mu.Lock()
		h.writing = false
		h.unsaved = err != nil
		h.covered, h.coveredErr = covers, err
		if h.wrote != nil {
			close(h.wrote)
			h.wrote = nil
		}
		h.mu.Unlock()
	}()
	if tok == "" {
		err = h.store.Delete(ctx, h.key)
	} else {
		err = h.store.Save(ctx, h.key, tok)
	}
	return err
}

// refreshWith renews r's tokens with the refresh token in h: it takes the
// token, redeems it, keeps the rotated one (before the ID token is checked:
// the old one is spent either way), and returns a verified result, stored
// like a silent request's. The caller (the engine) decides what an error
// means: ErrMissingRefreshToken and ErrInvalidGrant fall back to the iframe
// when s.refreshFallback(), otherwise they end the session.
func (fl *authFlow) refreshWith(ctx context.Context, h *refreshTokens, r request) (*AuthResult, error) {
	if r.audience != fl.s.Audience {
		return nil, errMissingRefreshToken("the refresh token is for audience " + quote(fl.s.Audience) + ", not " + quote(r.audience))
	}
	m, err := fl.disc.metadata(ctx)
	if err != nil {
		return nil, err
	}
	if fl.tokenEndpoint.dpop != nil {
		// A key made just now drops a refresh token bound to the old one, before it is taken.
		if _, err := fl.tokenEndpoint.dpopKey(ctx); err != nil {
			return nil, err
		}
	}
	lease, ok := h.Take()
	if !ok {
		if h.Has() {
			return nil, errMissingRefreshToken("the refresh token is in use by another renewal")
		}
		return nil, errMissingRefreshToken("no refresh token is held")
	}
	// The scope without offline_access: a server may grant the refresh token
	// without recording offline_access in its scope (OIDC Core 11 drops it
	// without prompt=consent; node-oidc-provider does), and then refuses a
	// grant that asks for it with invalid_scope. Rotation needs no scope.
	fl.verifier.prefetchKeys(ctx, m, r.scope)
	sent := fl.clock.Now() // the expiry counts from here: the server issued the tokens after it
	tokens, err := fl.tokenEndpoint.refreshGrant(ctx, m, lease.Token, r.scope)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == string(ErrInvalidGrant) {
			_ = h.Forget(ctx) // spent, expired or revoked: it will never work again
		} else {
			h.Return(lease)
		}
		return nil, err
	}
	if err := h.Replace(ctx, lease, tokens.RefreshToken); err != nil {
		fl.log.debug("the rotated refresh token could not be stored: " + err.Error())
	}
	res, err := fl.verifier.refreshResult(ctx, m, tokens, sent)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// refreshResult checks a refresh grant's answer as a code exchange's is
// checked, without a nonce: an ID token from a refresh carries none.
func (l *lazyVerifier) refreshResult(ctx context.Context, m *serverMetadata, tokens *authResponse, received time.Time) (*AuthResult, error) {
	if tokens.AccessToken == "" {
		return nil, newError(string(ErrInvalidToken), "access_token: the refresh grant's answer carries no access token")
	}
	res := tokens.result(received)
	if tokens.IDToken != "" {
		claims, err := l.forIssuer(m).Verify(ctx, tokens.IDToken, idtoken.Expected{AccessToken: tokens.AccessToken})
		if err != nil {
			return nil, err
		}
		res.IDTokenPayload = claims
	}
	res.ExpiresAt = tokens.expiresAt(received, res.IDTokenPayload)
	return res, nil
}

// waitFor waits until this tab holds a refresh token (want) or holds none
// (!want); false when ctx (the client's) ended first.
func (h *refreshTokens) waitFor(ctx context.Context, want bool) bool {
	for {
		changed := h.Changed()
		if h.Has() == want {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}
