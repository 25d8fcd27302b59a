package checksession

import (
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// tokenCache is the session's state: the last result of each request, the
// user, the epoch and the longest lifetime the server gave. Every check a
// store depends on runs in the same critical section as the store, so that
// the end of a session cannot fall between them.
type tokenCache struct {
	clock       platform.Clock
	minValidity time.Duration // serve a token while it stays valid this long
	renewBefore time.Duration // renewBeforeExpiry: when a result is due
	backoffs    *backoffs     // cleared with the tokens

	mu      sync.Mutex
	results map[string]*AuthResult // request cacheKey → last result
	user    map[string]any
	// epoch counts the ends of sessions (logout, session_ended): a request
	// started in an earlier epoch must not bring its tokens back.
	epoch   int
	changed chan struct{} // closed and replaced whenever the cache changes
	// longest is the longest access-token lifetime the server gave this tab
	// in this session: a share from another tab cannot claim more.
	longest time.Duration
}

func newTokenCache(s *settings, clock platform.Clock, b *backoffs) *tokenCache {
	return &tokenCache{clock: clock, minValidity: s.minValidity, renewBefore: s.renewBeforeExpiry, backoffs: b,
		results: map[string]*AuthResult{}, changed: make(chan struct{})}
}

// wholeSecondSlack is added to MinValidity when serving from the cache:
// expires_in counts whole seconds, and servers stamp a token's exp from an
// issue time rounded down to the second (node-oidc-provider, most JWT
// libraries), so a token may expire up to a second before ExpiresAt.
const wholeSecondSlack = time.Second

// usable is the cached result for r while its access token stays valid for
// at least MinValidity (and wholeSecondSlack).
func (t *tokenCache) usable(r request) *AuthResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := t.results[r.cacheKey()]
	if res == nil || res.AccessToken == "" || res.ExpiresAt.IsZero() {
		return nil
	}
	if res.ExpiresAt.Sub(t.clock.Now()) >= t.minValidity+wholeSecondSlack {
		return res
	}
	return nil
}

// fresh is the cached result for r while it is not yet due for renewal.
func (t *tokenCache) fresh(r request) *AuthResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := t.results[r.cacheKey()]
	if res == nil || res.ExpiresAt.IsZero() || !t.clock.Now().Before(res.renewAt(t.renewBefore)) {
		return nil
	}
	return res
}

// latest is the cached result for r, whatever its age.
func (t *tokenCache) latest(r request) *AuthResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.results[r.cacheKey()]
}

// overtook is the result for r that arrived while r's request was on the
// network, in its epoch (not before, the one the request started from),
// while it is usable; else nil. Where the provider's cookie is blocked, a
// tab whose ask for the group's refresh token ran out tries the silent
// iframe, which answers login_required; a share from the holder arriving
// meanwhile shows the session goes on, and ending it would end it for
// every tab.
func (t *tokenCache) overtook(r request, epoch int, before *AuthResult) *AuthResult {
	t.mu.Lock()
	cur, sameSession := t.results[r.cacheKey()], t.epoch == epoch
	t.mu.Unlock()
	if !sameSession || cur == nil || cur == before || t.usable(r) != cur {
		return nil
	}
	return cur
}

// newestIDToken is the ID token a logout names.
func (t *tokenCache) newestIDToken() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return newestIDToken(t.results)
}

// currentUser is the claims of the last validated ID token, or nil.
func (t *tokenCache) currentUser() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.user
}

// currentEpoch is the epoch a request starting now belongs to.
func (t *tokenCache) currentEpoch() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.epoch
}

// longestLifetime is the longest access-token lifetime the server gave this
// tab in this session, or 0.
func (t *tokenCache) longestLifetime() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.longest
}

// refusal says why a result was not stored; the zero value: it was.
type refusal struct {
	ended bool   // the session ended since the result's request started
	have  bool   // the cache holds this access token already
	older bool   // the cache holds a token that expires later
	who   string // the result is for another user than the session's: what changed
}

func (f refusal) refused() bool { return f != refusal{} }

// storeOwn caches the result of this tab's own request, started in epoch,
// and records its lifetime as the server's. When sameUser, a result for
// another user than the session's is refused. then runs in the same
// critical section once res is stored: what must not interleave with the
// end of a session.
func (t *tokenCache) storeOwn(epoch int, sameUser bool, audience, scope string, res *AuthResult, then func()) refusal {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.epoch != epoch {
		return refusal{ended: true}
	}
	if sameUser {
		if who := otherUser(t.user, res.IDTokenPayload); who != "" {
			return refusal{who: who}
		}
	}
	t.storeLocked(audience, scope, res)
	t.noteLifetimeLocked(res)
	then()
	return refusal{}
}

// accept caches an interactive login's result in a new epoch: a silent
// request started before the login must not overwrite it.
func (t *tokenCache) accept(audience, scope string, res *AuthResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
	t.storeLocked(audience, scope, res)
	t.noteLifetimeLocked(res)
}

// adopt caches another tab's verified result for the audience and scope it
// was requested with, unless the session ended since epoch, this tab has
// that token or a newer one, or it is for another user.
func (t *tokenCache) adopt(epoch int, audience, scope string, res *AuthResult) refusal {
	key := request{audience: audience, scope: scope}.cacheKey()
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.results[key]
	switch {
	case t.epoch != epoch:
		return refusal{ended: true}
	case cur != nil && cur.AccessToken == res.AccessToken:
		return refusal{have: true} // a server may issue the same token twice
	case cur != nil && res.ExpiresAt.Before(cur.ExpiresAt):
		return refusal{older: true}
	}
	if who := otherUser(t.user, res.IDTokenPayload); who != "" {
		return refusal{who: who}
	}
	t.storeLocked(audience, scope, res)
	return refusal{}
}

// storeLocked caches a result for the audience and scope it was requested
// with; t.mu must be held.
func (t *tokenCache) storeLocked(audience, scope string, res *AuthResult) {
	t.results[request{audience: audience, scope: scope}.cacheKey()] = res
	if res.IDTokenPayload != nil {
		t.user = res.IDTokenPayload
	}
	t.notifyLocked()
}

// noteLifetimeLocked records the access-token lifetime the server gave this
// tab, which caps what a share may claim; t.mu must be held.
func (t *tokenCache) noteLifetimeLocked(res *AuthResult) {
	t.longest = max(t.longest, time.Duration(res.ExpiresIn)*time.Second)
}

// notify wakes whoever waits on changes, to look again.
func (t *tokenCache) notify() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notifyLocked()
}

func (t *tokenCache) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// changes is closed at the next change of the cache.
func (t *tokenCache) changes() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// forget drops every token, the backoffs and the user, and starts a new
// epoch so that requests in flight cannot bring them back.
func (t *tokenCache) forget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results = map[string]*AuthResult{}
	t.backoffs.clear()
	t.user = nil
	t.longest = 0
	t.epoch++
	t.notifyLocked()
}
