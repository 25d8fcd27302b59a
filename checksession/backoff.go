package checksession

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/plainjson"
	"github.com/silentauth/silentauth/checksession/platform"
)

// This file holds the backoff after failed requests that may pass later
// (timeout, network error, 5xx, 429, and anything else that does not need
// the user): one schedule per configuration (request cache key), shared by
// the tab group for the default tokens, that every asker obeys — the
// renewal loop, a session poll, a caller, a 401 from client.fetch, another
// tab. While it runs, callers without a valid token get the last error at
// once, with RetryAfter, and no request leaves.

const (
	// backoffBase is the ceiling of the first delay; each failure doubles
	// it (2, 4, 8, 16 s) up to backoffCap.
	backoffBase = 2 * time.Second
	backoffCap  = 30 * time.Second
	// retryAfterCap bounds a server's Retry-After: a wrong header must not
	// keep a tab from its server for hours.
	retryAfterCap = 5 * time.Minute
	// earlyJitter spreads the attempt a comeback (online, visible) brings
	// forward, so that the tabs of a million devices that come back online
	// together do not ask in the same second.
	earlyJitter = 2 * time.Second
)

// backoffDelay is the wait after the n-th consecutive failure (n ≥ 1):
// drawn by u ∈ [0, 1) from the upper half of its ceiling, 2, 4, 8, 16, then
// 30 s. Jitter over the whole step keeps clients that failed together from
// retrying together; the lower bound keeps the long-run rate at the cap
// near two a minute (a draw from [0, cap] would average one every 15 s).
func backoffDelay(n int, u float64) time.Duration {
	ceiling := backoffCap
	if n < 6 {
		ceiling = min(backoffBase<<max(n-1, 0), backoffCap)
	}
	return ceiling/2 + time.Duration(u*float64(ceiling/2))
}

// backoff is one configuration's schedule. Its methods are pure: time and
// randomness come in as arguments, so a table pins them.
type backoff struct {
	failures int       // consecutive failures; 0: no backoff
	next     time.Time // no request before this
	err      *Error    // the last failure, what callers get meanwhile
	server   bool      // next was set by the server's Retry-After
	early    uint8     // bit per Comeback that already brought an attempt forward
	// holdsAll: the last failure was transient, so explicit checkSession
	// calls wait too.
	holdsAll bool
}

// running reports whether a request must wait: a backoff is on and its
// next attempt has not come, or an attempt is in flight.
func (b backoff) running(now time.Time, inFlight bool) bool {
	return b.failures > 0 && (now.Before(b.next) || inFlight)
}

// failed is b after one more failure at now: the server's wait (a
// Retry-After, capped) when it named one, else the next jittered delay.
func (b backoff) failed(now time.Time, e *Error, u float64) backoff {
	b.failures++
	b.err = e
	b.holdsAll = transient(e)
	if w := e.serverWait; w > 0 {
		b.next, b.server = now.Add(min(w, retryAfterCap)), true
	} else {
		b.next, b.server = now.Add(backoffDelay(b.failures, u)), false
	}
	return b
}

// comeback is b after signal k at now: the next attempt moves to within
// earlyJitter (by u), once per kind per backoff, and never before the
// server's Retry-After. moved reports whether it did.
func (b backoff) comeback(now time.Time, k platform.Comeback, u float64) (out backoff, moved bool) {
	bit := uint8(1) << k
	if b.failures == 0 || b.server || b.early&bit != 0 {
		return b, false
	}
	b.early |= bit
	at := now.Add(time.Duration(u * float64(earlyJitter)))
	if !at.Before(b.next) {
		return b, false
	}
	b.next = at
	return b, true
}

// answer is the last error as a caller gets it while b runs: a copy with
// RetryAfter, the whole seconds until the next attempt (at least one: an
// attempt in flight may answer any moment, but not for this caller).
func (b backoff) answer(now time.Time) *Error {
	e := *b.err
	e.RetryAfter = max(b.next.Sub(now), 0).Truncate(time.Second)
	if e.RetryAfter < b.next.Sub(now) || e.RetryAfter == 0 {
		e.RetryAfter += time.Second
	}
	return &e
}

// backoffs holds the schedules by request cache key.
type backoffs struct {
	rand func() float64 // [0, 1); tests set it

	mu sync.Mutex
	m  map[string]backoff
}

func newBackoffs() *backoffs {
	return &backoffs{rand: rand.Float64, m: map[string]backoff{}}
}

// failed records a failure of key's request; it returns the schedule.
func (bs *backoffs) failed(key string, now time.Time, e *Error) backoff {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key].failed(now, e, bs.rand())
	bs.m[key] = b
	return b
}

// succeeded ends key's backoff.
func (bs *backoffs) succeeded(key string) {
	bs.mu.Lock()
	delete(bs.m, key)
	bs.mu.Unlock()
}

// clear ends every backoff: the session ended.
func (bs *backoffs) clear() {
	bs.mu.Lock()
	bs.m = map[string]backoff{}
	bs.mu.Unlock()
}

// gate is the error a request for key gets instead of going out, or nil.
// explicit marks a checkSession the page made, which only a transient
// failure holds.
func (bs *backoffs) gate(key string, now time.Time, inFlight, explicit bool) *Error {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.m[key]
	if !b.running(now, inFlight) || explicit && !b.holdsAll {
		return nil
	}
	return b.answer(now)
}

// get is key's schedule (failures 0 when none runs).
func (bs *backoffs) get(key string) backoff {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.m[key]
}

// set replaces key's schedule: another tab's.
func (bs *backoffs) set(key string, b backoff) {
	bs.mu.Lock()
	bs.m[key] = b
	bs.mu.Unlock()
}

// comeback applies signal k to key's schedule; moved reports an attempt
// brought forward, to next.
func (bs *backoffs) comeback(key string, now time.Time, k platform.Comeback) (next time.Time, moved bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, moved := bs.m[key].comeback(now, k, bs.rand())
	bs.m[key] = b
	if b.failures == 0 {
		delete(bs.m, key)
	}
	return b.next, moved
}

// serverWait reads a Retry-After header (RFC 9110, 10.2.3: delay-seconds
// or an HTTP-date) on a 429 or 503; 0 when absent, unreadable or past.
func serverWait(status int, header map[string]string, now time.Time) time.Duration {
	if status != 429 && status != 503 {
		return 0
	}
	v := strings.TrimSpace(header["retry-after"])
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n >= int64(retryAfterCap/time.Second) {
			return retryAfterCap
		}
		return time.Duration(n) * time.Second
	}
	if at, err := time.Parse("Mon, 02 Jan 2006 15:04:05 GMT", v); err == nil && at.After(now) {
		return min(at.Sub(now), retryAfterCap)
	}
	return 0
}

// withServerWait marks e with the server's Retry-After on a 429 or 503,
// and as the answer of an overloaded or failing server on a 429 or 5xx.
func withServerWait(e *Error, status int, header map[string]string, now time.Time) *Error {
	e.serverWait = serverWait(status, header, now)
	e.overloaded = status == 429 || status >= 500
	return e
}

// transient reports a failure that may pass by itself, which holds every
// asker, explicit checkSession calls included: a timeout, no answer, a
// server error, an HTTP 429 or 5xx. Other failures that do not end the
// session (invalid_token, say) back off the renewal timer, polls and
// getTokenSilently, but a checkSession the page makes asks again: the page
// may know what changed.
func transient(e *Error) bool {
	switch e.Code {
	case string(ErrTimeout), string(ErrNetwork), string(ErrServer), "temporarily_unavailable":
		return true
	}
	return e.overloaded
}

// sharedBackoff is a schedule as the tab group sees it, in the renew_failed
// message of the lock holder: the group's schedule is the holder's.
type sharedBackoff struct {
	Failures    int    `json:"failures"`
	NextAtMs    int64  `json:"next_at_ms"`
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Server      bool   `json:"server,omitempty"`
	Early       int    `json:"early,omitempty"`
	HoldsAll    bool   `json:"holds_all,omitempty"`
}

// Bounds of a shared schedule: anything outside is not the group's.
const (
	maxSharedFailures    = 1 << 16
	maxSharedCodeLen     = 64
	maxSharedDescription = 1024
)

func shareBackoff(b backoff) *sharedBackoff {
	return &sharedBackoff{Failures: b.failures, NextAtMs: b.next.UnixMilli(), Error: b.err.Code,
		Description: truncate(b.err.Description, maxSharedDescription), Server: b.server, Early: int(b.early), HoldsAll: b.holdsAll}
}

// backoff checks a shared schedule's shape and returns it, or why not. A
// code that would end the session is refused: only a tab's own request
// can end it.
func (s *sharedBackoff) backoff(now time.Time) (backoff, string) {
	switch {
	case s.Failures < 1 || s.Failures > maxSharedFailures:
		return backoff{}, "failures out of range"
	case s.Early < 0 || s.Early > 3:
		return backoff{}, "early out of range"
	case !oauthCode(s.Error):
		return backoff{}, "error is not an OAuth error code"
	case len(s.Description) > maxSharedDescription:
		return backoff{}, "error_description too long"
	case EndsSession(&Error{Code: s.Error}):
		return backoff{}, "error " + s.Error + " ends a session, which no other tab's schedule may do"
	}
	next := time.UnixMilli(s.NextAtMs)
	// A schedule further out than any this SDK makes is not believed.
	if next.After(now.Add(retryAfterCap + time.Minute)) {
		return backoff{}, "next attempt too far ahead"
	}
	return backoff{failures: s.Failures, next: next, err: &Error{Code: s.Error, Description: s.Description},
		server: s.Server, early: uint8(s.Early), holdsAll: s.HoldsAll}, ""
}

// oauthCode reports an error code made of RFC 6749's error characters
// (%x20-21 / %x23-5B / %x5D-7E, no space here), short.
func oauthCode(s string) bool {
	if s == "" || len(s) > maxSharedCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// appendJSON writes s as encoding/json would (tabMessage.appendJSON's way).
func (s *sharedBackoff) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"failures":`...)
	dst = strconv.AppendInt(dst, int64(s.Failures), 10)
	dst = append(dst, `,"next_at_ms":`...)
	dst = strconv.AppendInt(dst, s.NextAtMs, 10)
	dst = append(dst, `,"error":`...)
	dst = plainjson.AppendString(dst, s.Error)
	if s.Description != "" {
		dst = append(dst, `,"error_description":`...)
		dst = plainjson.AppendString(dst, s.Description)
	}
	if s.Server {
		dst = append(dst, `,"server":true`...)
	}
	if s.Early != 0 {
		dst = append(dst, `,"early":`...)
		dst = strconv.AppendInt(dst, int64(s.Early), 10)
	}
	if s.HoldsAll {
		dst = append(dst, `,"holds_all":true`...)
	}
	return append(dst, '}')
}

// followBackoff takes the schedule another tab's failed request set: the
// lock holder's schedule is the group's. A schedule that fails its shape
// check is ignored (debug says why).
func (r *renewer) followBackoff(s *sharedBackoff) {
	if s == nil || !r.hasSession() {
		return
	}
	now := r.clock.Now()
	b, why := s.backoff(now)
	if why != "" {
		r.log.debug("tabs: ignored another tab's backoff: " + why)
		return
	}
	r.backoffs.set(r.defaultKey, b)
	r.log.debug("tabs: following the group's backoff after " + b.err.Code + "; the next attempt in " +
		max(b.next.Sub(now), 0).Round(time.Millisecond).String())
	r.poke()
}

// noteFailure starts or extends the backoff of key's tokens after a failure
// that may pass. The request's own callers get the error as it came (a
// page's CSP check explains a fresh failure; see the loader), the callers
// after them the backoff's answer. Errors that need the user, and a
// destroyed client's, start nothing.
func (bs *backoffs) noteFailure(key string, err error, now time.Time, log logger) error {
	e, ok := err.(*Error)
	if !ok || errors.Is(err, ErrDestroyed) || EndsSession(e) {
		return err
	}
	b := bs.failed(key, now, e)
	if log.debugging() {
		why := "backoff after " + strconv.Itoa(b.failures) + " failure(s)"
		if b.server {
			why = "the server's Retry-After (" + e.serverWait.String() + ", at most " + retryAfterCap.String() + ")"
		}
		log.debug("request failed (" + e.Code + "); no request before " + b.next.Format(time.RFC3339) +
			", " + b.next.Sub(now).Round(time.Millisecond).String() + " from now: " + why)
	}
	return err
}
