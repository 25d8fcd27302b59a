package checksession

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/plainjson"
	"github.com/silentauth/silentauth/checksession/platform"
)

// This file holds the tab group: tabs of one origin with the same client
// configuration renew once between them. A tab that needs a renewal takes
// the group's lock, re-reads what the group shared meanwhile, and renews
// only if that is still not fresh enough; its result reaches every tab,
// which verifies it before using it.

// maxTabMessageBytes bounds a message from another tab: a result with an ID
// token is a few kilobytes; anything larger is not the group's.
const maxTabMessageBytes = 64 << 10

// What tabs tell each other. Only "renewed" carries data, and that data is
// verified before use; the other two are obeyed only as "forget the tokens
// and stop renewing", which a forger gains nothing from.
const (
	kindRenewing     = "renewing"     // this tab holds the lock and sent a request
	kindRenewed      = "renewed"      // ...which brought this result
	kindRenewFailed  = "renew_failed" // ...which failed; the next tab may try
	kindSessionEnded = "session_ended"
	kindLoggedOut    = "logged_out"
	// kindRenewalWanted asks the tabs holding a refresh token for a
	// result newer than the one the asker has (Have), shared as "renewed":
	// the asker holds no refresh token. A forger gains a result it could
	// read on the channel anyway, and one grant at a time (groupAsks.answer).
	kindRenewalWanted = "renewal_wanted"
	// kindNextInLine announces, with a fresh nonce, the tab granted the
	// custody lock: the next in line for the group's refresh token.
	kindNextInLine = "refresh_token_next_in_line"
)

// viaRefreshToken marks a shared result that a refresh token brought: the
// token it was redeemed with is spent, so stand-by copies are dropped.
const viaRefreshToken = "refresh_token"

// peerWait bounds how long a tab that got the lock waits for the result of
// the tab that held it before (a BroadcastChannel message can arrive after
// the lock): a crashed holder costs the group that long, no more.
const peerWait = time.Second

type tabMessage struct {
	Kind   string        `json:"kind"`
	Result *sharedResult `json:"result,omitempty"`
	Via    string        `json:"via,omitempty"` // with Result: viaRefreshToken, or empty
	// Backoff is the group's schedule after a failure (kindRenewFailed).
	Backoff *sharedBackoff `json:"backoff,omitempty"`
	// Nonce is the address of the next in line (kindNextInLine).
	Nonce string `json:"nonce,omitempty"`
	// Have names the access token the asker has (kindRenewalWanted), as
	// tokenTag writes it: a holder that has no other renews.
	Have string `json:"have,omitempty"`
}

// tokenTag is a short digest of an access token, "" for none: enough to
// tell two tokens apart without posting either.
func tokenTag(res *AuthResult) string {
	if res == nil || res.AccessToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(res.AccessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// sharedResult is a result as the group sees it: tokens and timing, never
// claims (a receiving tab reads those from the ID token it verified).
type sharedResult struct {
	AccessToken  string `json:"access_token,omitempty"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	ExpiresAtMs  int64  `json:"expires_at_ms,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	Scope        string `json:"scope,omitempty"`
	Audience     string `json:"audience,omitempty"`
	RequestScope string `json:"request_scope"`
}

// tabKey names the lock and channel: tabs share renewals only when their
// client configuration is the same.
func (s *settings) tabKey() string {
	sum := sha256.Sum256([]byte(s.domain.String() + "\x00" + s.ClientID + "\x00" + s.ResponseType + "\x00" +
		s.Scope + "\x00" + s.Audience + "\x00" + s.RedirectURI))
	return "silentauth:" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// group is this client's membership of its tab group.
type group struct {
	s         *settings
	clock     platform.Clock
	log       logger
	browser   platform.Browser // whether it is online
	destroyed context.Context  // the client's: cancelled by Destroy
	custody   bool             // the engine keeps its refresh token to itself (RefreshCustody)
	tokens    *tokenCache
	refresh   *refreshTokens
	asks      *groupAsks    // renewals by the group's refresh-token holder
	handover  *pageHandover // armed by a refresh token handed over
	// adopting counts results from other tabs being verified (adopt).
	adopting atomic.Int32
	// followBackoff is the renewer's: the schedule another tab's failure left.
	followBackoff func(*sharedBackoff)
	// engine takes what other tabs tell: a result, the end of the session.
	engine groupEngine

	coord platform.TabCoordinator // nil: this tab renews alone
	name  string

	mu      sync.Mutex
	channel platform.Channel
	left    bool
	// joining is closed when the join under way (if any) has ended: the
	// channel is opened outside mu, and a second join waits for the first.
	joining chan struct{}
	// peerRenewing is set while another tab announced a request and has
	// not told its outcome yet.
	peerRenewing bool
	// failures counts the failures other tabs told (renew_failed), and
	// failedWith is the schedule the last one shared (nil: none), for a
	// tab that asked the group for a renewal (groupAsks.ask).
	failures   uint64
	failedWith *sharedBackoff
}

// groupEngine is what the tab group hands to the renewal core (engine):
// what other tabs tell about the session.
type groupEngine interface {
	// adopt takes another tab's result once its ID token is verified.
	adopt(sr *sharedResult, spent, asked bool, gen uint64)
	// endedElsewhere ends this tab's session: another tab's did.
	endedElsewhere(logout bool)
}

// join opens the group's channel once a session is known, so that results
// and logouts reach this tab. The channel is opened, and closed, outside
// g.mu: those are calls into the page.
func (g *group) join() {
	g.mu.Lock()
	if w := g.joining; w != nil {
		g.mu.Unlock()
		<-w // the join under way: the channel is open when it returns
		return
	}
	coord := g.coord
	if coord == nil || g.channel != nil || g.left {
		g.mu.Unlock()
		return
	}
	done := make(chan struct{})
	g.joining = done
	g.mu.Unlock()
	defer close(done)

	ch, err := coord.Join(g.name, g.received)
	g.mu.Lock()
	g.joining = nil
	left := g.left
	switch {
	case err != nil:
		g.coord = nil
	case !left:
		g.channel = ch
	}
	g.mu.Unlock()
	switch {
	case err != nil:
		g.log.debug("tabs: cannot open the broadcast channel (" + err.Error() + "); this tab renews alone")
	case left: // destroyed while the channel opened
		ch.Close()
	case g.s.UseRefreshTokens && !g.custody: // an engine in custody takes no token
		go g.asks.queue(coord, g.name+":rt")
	}
}

// leave closes the channel for good (destroy).
func (g *group) leave() {
	g.mu.Lock()
	g.left = true
	ch := g.channel
	g.channel = nil
	g.mu.Unlock()
	if ch != nil {
		ch.Close()
	}
}

// lock takes the group's renewal lock and returns its release. It returns
// without the lock as soon as needed reports false (another tab's result
// arrived while this one waited), and after wait: a holder that keeps the
// lock that long is frozen or stuck, and the group must not go without
// tokens because of it.
//
// A tab that is offline when the lock comes hands it on once and queues
// again: its own request can only fail (after the iframe's error page has
// loaded, a second or two), while a tab queued behind it may be online and
// renew for both. When no tab was waiting the lock comes straight back and
// this tab renews, failing fast as it would have.
func (g *group) lock(ctx context.Context, wait time.Duration, needed func() bool) (release func()) {
	noop := func() {}
	g.mu.Lock()
	coord := g.coord
	g.mu.Unlock()
	if coord == nil {
		return noop
	}
	var granted chan struct{}
	lead := func() error {
		ch := make(chan struct{})
		var once sync.Once
		var err error
		release, err = coord.Lead(g.name+":renew", func() {
			once.Do(func() { close(ch) })
		})
		granted = ch
		return err
	}
	if err := lead(); err != nil {
		g.log.debug("tabs: no Web Locks (" + err.Error() + "); this tab renews alone")
		return noop
	}
	timer := g.clock.NewTimer(wait)
	defer timer.Stop()
	handedOn := false
	for {
		changed := g.tokens.changes()
		if !needed() {
			release()
			return noop
		}
		select {
		case <-granted:
			if !handedOn && offline(g.browser) {
				handedOn = true
				g.log.debug("tabs: offline; handing the renewal lock to a tab that may be online")
				release()
				if err := lead(); err != nil {
					return noop
				}
				continue
			}
			g.awaitPeer(ctx)
			return release
		case <-changed:
		case <-timer.C():
			g.log.debug("tabs: the tab holding the renewal lock kept it " + wait.String() + " (frozen?); renewing without it")
			release()
			return noop
		case <-ctx.Done():
			release()
			return noop
		}
	}
}

// awaitPeer waits, after the lock was granted, for the outcome of a request
// another tab announced and for the verification of a result received, so
// that the re-read sees them.
func (g *group) awaitPeer(ctx context.Context) {
	bound := g.clock.NewTimer(peerWait)
	defer bound.Stop()
	for {
		changed := g.tokens.changes() // before the check, so no wake-up is lost
		g.mu.Lock()
		waiting := g.peerRenewing
		g.mu.Unlock()
		if !waiting && g.adopting.Load() == 0 {
			return
		}
		select {
		case <-changed:
		case <-bound.C():
			g.log.debug("tabs: the tab that renewed before did not tell its outcome; renewing")
			g.setPeerRenewing(false)
			return
		case <-ctx.Done():
			return
		}
	}
}

// failed is the count of failures other tabs told, and the schedule the
// last one shared.
func (g *group) failed() (uint64, *sharedBackoff) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failures, g.failedWith
}

// peerIsRenewing reports whether another tab announced a request and has
// not told its outcome yet.
func (g *group) peerIsRenewing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peerRenewing
}

func (g *group) setPeerRenewing(on bool) {
	g.mu.Lock()
	g.peerRenewing = on
	g.mu.Unlock()
	g.tokens.notify()
}

// share tells the other tabs about a result for the default request.
func (g *group) share(res *AuthResult, r request) {
	if res.IDToken == "" {
		return // nothing another tab could verify
	}
	msg := tabMessage{Kind: kindRenewed, Result: shareOf(res, r)}
	// An engine in custody spent its own token, of which no tab holds a
	// copy to drop (a stored one is re-read under the lock instead).
	if res.viaRefresh && !g.custody {
		msg.Via = viaRefreshToken
	}
	g.post(msg)
}

// shareOf is what the group sees of a result: tokens and timing, nothing else.
func shareOf(res *AuthResult, r request) *sharedResult {
	var at int64
	if !res.ExpiresAt.IsZero() {
		at = res.ExpiresAt.UnixMilli()
	}
	return &sharedResult{
		AccessToken: res.AccessToken, IDToken: res.IDToken, ExpiresIn: res.ExpiresIn, ExpiresAtMs: at,
		TokenType: res.TokenType, Scope: res.Scope, Audience: r.audience, RequestScope: r.scope,
	}
}

// post tells the other tabs msg; false when this tab has no channel.
func (g *group) post(msg tabMessage) bool {
	return g.postRaw(msg.appendJSON(nil))
}

// appendJSON writes m as encoding/json would, without its reflection, which
// costs milliseconds of first-call compiling in the browser on the path to
// the first token (the result is shared as soon as it is in).
func (m tabMessage) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"kind":`...)
	dst = plainjson.AppendString(dst, m.Kind)
	if r := m.Result; r != nil {
		sep := byte('{')
		name := func(n string) {
			dst = append(append(append(dst, sep, '"'), n...), '"', ':')
			sep = ','
		}
		text := func(n, v string, always bool) {
			if v != "" || always {
				name(n)
				dst = plainjson.AppendString(dst, v)
			}
		}
		number := func(n string, v int64) {
			if v != 0 {
				name(n)
				dst = strconv.AppendInt(dst, v, 10)
			}
		}
		dst = append(dst, `,"result":`...)
		text("access_token", r.AccessToken, false)
		text("id_token", r.IDToken, true)
		number("expires_in", r.ExpiresIn)
		number("expires_at_ms", r.ExpiresAtMs)
		text("token_type", r.TokenType, false)
		text("scope", r.Scope, false)
		text("audience", r.Audience, false)
		text("request_scope", r.RequestScope, true)
		dst = append(dst, '}')
	}
	if m.Via != "" {
		dst = append(dst, `,"via":`...)
		dst = plainjson.AppendString(dst, m.Via)
	}
	if m.Backoff != nil {
		dst = m.Backoff.appendJSON(append(dst, `,"backoff":`...))
	}
	if m.Nonce != "" {
		dst = plainjson.AppendString(append(dst, `,"nonce":`...), m.Nonce)
	}
	if m.Have != "" {
		dst = plainjson.AppendString(append(dst, `,"have":`...), m.Have)
	}
	return append(dst, '}')
}

// postRaw posts b as it is; false when this tab has no channel or the post
// failed.
func (g *group) postRaw(b []byte) bool {
	g.mu.Lock()
	ch := g.channel
	g.mu.Unlock()
	if ch == nil {
		return false
	}
	if err := ch.Post(b); err != nil {
		g.log.debug("tabs: could not tell the other tabs: " + err.Error())
		return false
	}
	return true
}

// joined reports whether this tab has the group's channel open.
func (g *group) joined() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.channel != nil
}

// received handles what another tab posted. It runs on the channel's
// delivery goroutine, so the verification of a result moves to its own.
func (g *group) received(data []byte) {
	defer g.log.recoverTo("a message from another tab")
	if len(data) > maxTabMessageBytes {
		g.log.debug("tabs: ignored a message of " + strconv.Itoa(len(data)) + " bytes")
		return
	}
	if g.custody {
		if isHandover(data) {
			g.log.debug("tabs: ignored a refresh-token hand-over: this engine keeps its own refresh token")
			return
		}
	} else if g.s.UseRefreshTokens {
		if handled, err := g.refresh.AcceptHandover(g.destroyed, data); handled {
			switch {
			case errors.Is(err, errUnaskedHandover):
				g.log.debug("tabs: " + err.Error())
				return
			case err != nil:
				g.log.debug("tabs: the group's refresh token could not be stored: " + err.Error())
			default:
				g.log.debug("tabs: received the group's refresh token as the next in line")
			}
			g.handover.listen()
			g.tokens.notify()
			return
		}
	}
	var msg tabMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		g.log.debug("tabs: ignored an unreadable message")
		return
	}
	switch msg.Kind {
	case kindRenewalWanted:
		g.asks.answer(msg.Have)
	case kindNextInLine:
		if g.s.UseRefreshTokens && !g.custody && msg.Nonce != "" {
			g.refresh.NoteHeir(msg.Nonce)
		}
	case kindRenewing:
		g.setPeerRenewing(true)
	case kindRenewFailed:
		g.followBackoff(msg.Backoff) // before the lock's next holder re-reads
		g.mu.Lock()
		g.failures++
		g.failedWith = msg.Backoff
		g.mu.Unlock()
		g.setPeerRenewing(false)
	case kindRenewed:
		if msg.Result == nil || msg.Result.IDToken == "" {
			g.log.debug("tabs: ignored a result without an ID token")
			g.setPeerRenewing(false)
			return
		}
		g.adopting.Add(1)
		g.setPeerRenewing(false)
		// An engine in custody holds no copy of another's token: what the
		// sharer spent is its own.
		spent := msg.Via == viaRefreshToken && !g.custody
		gen := g.refresh.Generation() // what the holder had when the share came
		// Whether this tab is asking is read as the share comes, not when
		// the goroutine starts: the ask may end in between, and the share
		// that answers it would then be dropped.
		asked := g.asks.asking.Load() > 0
		go g.engine.adopt(msg.Result, spent, asked, gen)
	case kindSessionEnded, kindLoggedOut:
		g.setPeerRenewing(false)
		g.engine.endedElsewhere(msg.Kind == kindLoggedOut)
	default:
		g.log.debug("tabs: ignored a message of unknown kind")
	}
}

// adopt takes another tab's result after verifying its ID token, with the
// claims from that token, never from the message. spent marks a result a
// refresh token brought: once it is verified, and only then, this tab drops
// the stand-by copy of that token it held when the share came (gen), so
// that a forged share cannot make every tab drop the group's refresh token.
// asked: this tab was asking its group for a renewal when the share came.
func (eng *engine) adopt(sr *sharedResult, spent, asked bool, gen uint64) {
	defer func() {
		// The end of one shared result's verification, whatever its
		// outcome, for a renewal waiting on it.
		eng.group.adopting.Add(-1)
		eng.tokens.notify()
	}()
	defer eng.log.recoverTo("a result from another tab")
	r := request{audience: sr.Audience, scope: sr.RequestScope}
	dropsToken := spent && eng.s.UseRefreshTokens && eng.refresh.Has()
	// A tab that asked the group for a renewal takes its result, session or not.
	if r.cacheKey() != eng.renewer.defaultKey || !eng.renewer.hasSession() && !dropsToken && !asked {
		eng.log.debug("tabs: ignored a result this tab has no session for")
		return
	}
	epoch := eng.tokens.currentEpoch()
	ctx, cancel := context.WithTimeout(eng.ctx, fetchTimeout)
	defer cancel()
	res, err := eng.flow.verifyShared(ctx, sr, eng.tokens.longestLifetime)
	if err != nil {
		eng.log.debug("tabs: ignored a result from another tab: " + err.Error())
		return
	}
	if dropsToken {
		eng.refresh.DropSince(gen) // a stand-by copy of the token that was just redeemed
	}
	if !eng.renewer.hasSession() && !asked {
		return
	}
	switch refused := eng.tokens.adopt(epoch, sr.Audience, sr.RequestScope, res); {
	case refused.older:
		eng.log.debug("tabs: ignored a result older than this tab's")
		return
	case refused.who != "":
		eng.log.debug("tabs: ignored a result for another user (" + refused.who + ")")
		return
	case refused.refused():
		return // the session ended, or this tab has the token already
	}
	eng.log.debug("tabs: took the result another tab renewed")
	eng.renewer.got(res, false)
	eng.events.emit(EventRenewed, res)
}

// verifyShared checks a shared ID token as this tab's own (signature, iss,
// aud, exp, and at_hash when present) and bounds the access token's expiry
// by when that ID token was issued, and by the longest lifetime the server
// gave this tab (longestLifetime, read once the token is verified), so that
// an old result replayed later cannot pass for a fresh one.
func (fl *authFlow) verifyShared(ctx context.Context, sr *sharedResult, longestLifetime func() time.Duration) (*AuthResult, error) {
	m, err := fl.disc.metadata(ctx)
	if err != nil {
		return nil, err
	}
	claims, err := fl.verifier.forIssuer(m).Verify(ctx, sr.IDToken, idtoken.Expected{AccessToken: sr.AccessToken})
	if err != nil {
		return nil, err
	}
	res := &AuthResult{AccessToken: sr.AccessToken, IDToken: sr.IDToken, IDTokenPayload: claims,
		ExpiresIn: sr.ExpiresIn, TokenType: sr.TokenType, Scope: sr.Scope}
	iat, ok := numberClaim(claims, "iat")
	if !ok {
		return nil, tokenError("iat", "the shared ID token carries no iat, so its age cannot be told")
	}
	// A tab shares a result as soon as its request lands, so the ID token
	// of a genuine share is moments old; an older one is a replay.
	issued := time.Unix(iat, 0)
	if age := fl.clock.Now().Sub(issued); age > shareMaxAge+fl.s.leeway {
		return nil, tokenError("iat", "the shared ID token was issued "+age.Round(time.Second).String()+
			" before the share arrived, more than "+(shareMaxAge+fl.s.leeway).String()+": a replayed share is not used")
	}
	// The expiry is the message's, capped by what the server can have given:
	// the ID token's own lifetime and the longest access-token lifetime this
	// session has seen from the server itself.
	expiresAt := time.UnixMilli(sr.ExpiresAtMs)
	if sr.ExpiresIn > 0 {
		expiresAt = minTime(expiresAt, issued.Add(time.Duration(sr.ExpiresIn)*time.Second+fl.s.leeway))
	}
	if exp, ok := numberClaim(claims, "exp"); ok {
		expiresAt = minTime(expiresAt, time.Unix(exp, 0))
	}
	if longest := longestLifetime(); longest > 0 {
		expiresAt = minTime(expiresAt, issued.Add(longest+fl.s.leeway))
	}
	if sr.ExpiresAtMs <= 0 || !fl.clock.Now().Before(expiresAt) {
		return nil, tokenError("exp", "the shared access token has expired")
	}
	res.ExpiresAt = expiresAt
	res.received = expiresAt.Add(-time.Duration(sr.ExpiresIn) * time.Second)
	return res, nil
}

// shareMaxAge bounds how long before its share a shared ID token may have
// been issued (plus the clock leeway): a share is posted as its request
// lands, and a message older than that is a replay or a tab that slept.
const shareMaxAge = time.Minute

// endedElsewhere is the end of the session in another tab: this tab forgets
// its tokens and stops renewing, whatever the message said.
func (eng *engine) endedElsewhere(logout bool) {
	if !eng.renewer.signOut() {
		return
	}
	why := "the session ended in another tab"
	var rt string
	if logout {
		why = "logged out in another tab"
		rt = eng.tokenEndpoint.refreshTokenToRevoke(eng.ctx) // the group's token may be here, not in the tab that logged out
	}
	eng.tokens.forget()
	eng.marker.clear()
	eng.refreshToken.forget()
	if rt != "" {
		go func() {
			defer eng.log.recoverTo("the revocation at logout")
			eng.tokenEndpoint.revokeRefreshToken(eng.ctx, rt)
		}()
	}
	e := &Error{Code: string(ErrLoginRequired), Description: why}
	eng.log.debug("session ended: " + why)
	eng.events.emit(EventSessionEnded, e)
}
