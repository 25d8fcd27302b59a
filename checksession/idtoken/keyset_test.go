package idtoken

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"errors"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable now for KeySet and Verifier.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Errors the tests expect: a fetch's own, and failed checks.
var (
	errFetch     = errors.New("Failed to fetch")
	errJWKS      = &Error{Check: "jwks"}
	errSignature = &Error{Check: "signature"}
)

// newTestKeySet is a KeySet over fetch with a fake clock.
func newTestKeySet(fetch func(context.Context) ([]byte, error), clock *fakeClock) *KeySet {
	return NewKeySet(fetch, WithClock(clock.Now))
}

// wantTokenError fails t unless err is a failed check named check.
func wantTokenError(t *testing.T, err error, check string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Check != check {
		t.Fatalf("error = %v (%T), want the check %q failed", err, err, check)
	}
}

func TestKeySetPicksKeyByKidAndAlg(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	rsaKey, ecKey := iss.RSA(), iss.EC()
	other := idtokentest.SigningKey{Kid: "rsa-other", Private: idtokentest.RSAKey(t, 7)}
	p384 := idtokentest.SigningKey{Kid: "ec-384", Private: idtokentest.ECKeyOn(t, elliptic.P384(), 0)}
	otherEC := idtokentest.SigningKey{Kid: "ec-1", Private: idtokentest.ECKey(t, 1)}
	with := func(jwk map[string]any, name string, value any) map[string]any {
		out := map[string]any{}
		for k, v := range jwk {
			out[k] = v
		}
		if value == nil {
			delete(out, name)
		} else {
			out[name] = value
		}
		return out
	}

	tests := []struct {
		name      string
		jwks      []byte
		kid, alg  string
		want      crypto.PublicKey // nil: an error naming wantCheck
		wantCheck string
	}{
		{"RSA kid gives its key for RS256", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey), idtokentest.JWKOf(ecKey)), "rsa-0", "RS256", rsaKey.Public(), ""},
		{"RSA key also serves PS256", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey)), "rsa-0", "PS256", rsaKey.Public(), ""},
		{"P-256 kid gives its key for ES256", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey), idtokentest.JWKOf(ecKey)), "ec-0", "ES256", ecKey.Public(), ""},
		{"P-384 key serves ES384", idtokentest.KeySetDoc(idtokentest.JWKOf(p384)), "ec-384", "ES384", p384.Public(), ""},
		{"key without use is usable", idtokentest.KeySetDoc(with(idtokentest.JWKOf(rsaKey), "use", nil)), "rsa-0", "RS256", rsaKey.Public(), ""},
		{"RSA kid asked for ES256 is alg confusion", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey)), "rsa-0", "ES256", nil, "alg"},
		{"EC kid asked for RS256 is alg confusion", idtokentest.KeySetDoc(idtokentest.JWKOf(ecKey)), "ec-0", "RS256", nil, "alg"},
		{"oversized EC coordinate is skipped", idtokentest.KeySetDoc(with(idtokentest.JWKOf(ecKey), "y", strings.Repeat("A", 107))), "ec-0", "ES256", nil, "signature"},
		{"P-256 key refused for ES384", idtokentest.KeySetDoc(idtokentest.JWKOf(ecKey)), "ec-0", "ES384", nil, "alg"},
		{"P-384 key refused for ES256", idtokentest.KeySetDoc(idtokentest.JWKOf(p384)), "ec-384", "ES256", nil, "alg"},
		{"key whose alg is RS512 refused for RS256", idtokentest.KeySetDoc(with(idtokentest.JWKOf(rsaKey), "alg", "RS512")), "rsa-0", "RS256", nil, "alg"},
		{"key whose alg matches is used", idtokentest.KeySetDoc(with(idtokentest.JWKOf(rsaKey), "alg", "RS256")), "rsa-0", "RS256", rsaKey.Public(), ""},
		{"encryption key is ignored", idtokentest.KeySetDoc(with(idtokentest.JWKOf(rsaKey), "use", "enc")), "rsa-0", "RS256", nil, "signature"},
		{"symmetric key never serves HS256", idtokentest.KeySetDoc(map[string]any{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}), "h", "HS256", nil, "signature"},
		{"unknown kid names signature", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey)), "nope", "RS256", nil, "signature"},
		{"no kid with one usable key picks it", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey), idtokentest.JWKOf(ecKey)), "", "RS256", rsaKey.Public(), ""},
		{"no kid with two usable keys fails", idtokentest.KeySetDoc(idtokentest.JWKOf(rsaKey), idtokentest.JWKOf(other)), "", "RS256", nil, "signature"},
		{"broken RSA entry is skipped, the rest still work", idtokentest.KeySetDoc(with(idtokentest.JWKOf(other), "n", "!!"), idtokentest.JWKOf(rsaKey)), "rsa-0", "RS256", rsaKey.Public(), ""},
		{"EC point off the curve is skipped", idtokentest.KeySetDoc(with(idtokentest.JWKOf(ecKey), "y", idtokentest.JWKOf(otherEC)["y"])), "ec-0", "ES256", nil, "signature"},
		{"EC point off the curve is not a known kid for RS256 either", idtokentest.KeySetDoc(with(idtokentest.JWKOf(ecKey), "y", idtokentest.JWKOf(otherEC)["y"])), "ec-0", "RS256", nil, "signature"},
		{"no kid: an EC point off the curve is not counted", idtokentest.KeySetDoc(with(idtokentest.JWKOf(ecKey), "y", idtokentest.JWKOf(otherEC)["y"]), idtokentest.JWKOf(otherEC)), "", "ES256", otherEC.Public(), ""},
		{"padded base64url is accepted", idtokentest.KeySetDoc(with(idtokentest.JWKOf(rsaKey), "e", "AQAB")), "rsa-0", "RS256", rsaKey.Public(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := newTestKeySet(func(context.Context) ([]byte, error) { return tt.jwks, nil }, newFakeClock(idtokentest.Now))
			got, err := ks.Key(context.Background(), tt.kid, tt.alg)
			if tt.want == nil {
				wantTokenError(t, err, tt.wantCheck)
				return
			}
			if err != nil {
				t.Fatalf("Key: %v", err)
			}
			if eq, ok := got.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(tt.want) {
				t.Fatalf("Key returned %T, not the expected key", got)
			}
		})
	}
}

// An RS256 token must not pay for the EC entries of its issuer's JWKS: their
// points become keys only when a token asks for them.
func TestKeySetMakesECKeysOnlyWhenAskedFor(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	jwks := idtokentest.KeySetDoc(idtokentest.JWKOf(iss.RSA()), idtokentest.JWKOf(iss.EC()))
	ks := newTestKeySet(func(context.Context) ([]byte, error) { return jwks, nil }, newFakeClock(idtokentest.Now))
	ecEntry := func() *jsonWebKey {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		for _, k := range ks.keys {
			if k.kty == "EC" {
				return k
			}
		}
		t.Fatal("no EC entry kept")
		return nil
	}
	if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); err != nil {
		t.Fatal(err)
	}
	if e := ecEntry(); e.key != nil || e.point == nil {
		t.Fatalf("after an RS256 lookup the EC entry holds key %v, point %d bytes; want no key yet", e.key, len(e.point))
	}
	if _, err := ks.Key(context.Background(), "ec-0", "ES256"); err != nil {
		t.Fatal(err)
	}
	if e := ecEntry(); e.key == nil || e.point != nil {
		t.Fatalf("after an ES256 lookup the EC entry holds key %v, point %d bytes; want the key", e.key, len(e.point))
	}
}

func TestKeySetRejectsUnusableDocuments(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", "<html>"},
		{"no keys array", `{"issuer":"x"}`},
		{"keys not an array", `{"keys":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := newTestKeySet(func(context.Context) ([]byte, error) { return []byte(tt.body), nil }, newFakeClock(idtokentest.Now))
			_, err := ks.Key(context.Background(), "k", "RS256")
			if !errors.Is(err, errJWKS) {
				t.Fatalf("Key error = %v, want the jwks check failed", err)
			}
		})
	}
}

// step is one Key call in a scripted KeySet test.
type step struct {
	advance     time.Duration // clock moves before the call
	rotate      bool          // issuer rotates its RSA key before the call
	kid         string        // "" with current: the issuer's current RSA kid
	current     bool
	wantFetches int32
	wantCheck   string // "" means Key succeeds
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	ks := newTestKeySet(iss.Fetch, clock)
	for i, s := range steps {
		clock.Advance(s.advance)
		if s.rotate {
			iss.Rotate(t)
		}
		kid := s.kid
		if s.current {
			kid = iss.RSA().Kid
		}
		_, err := ks.Key(context.Background(), kid, "RS256")
		if s.wantCheck == "" && err != nil {
			t.Fatalf("step %d (kid %q): %v", i, kid, err)
		}
		if s.wantCheck != "" {
			wantTokenError(t, err, s.wantCheck)
		}
		if got := iss.Fetches.Load(); got != s.wantFetches {
			t.Fatalf("step %d (kid %q): %d fetches so far, want %d", i, kid, got, s.wantFetches)
		}
	}
}

func TestKeySetRotationAndRefetchLimit(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"known kid is served from cache", []step{
			{current: true, wantFetches: 1},
			{current: true, wantFetches: 1},
			{advance: 30 * time.Minute, current: true, wantFetches: 1},
		}},
		{"new kid after rotation refetches once and passes", []step{
			{current: true, wantFetches: 1},
			{advance: 30 * time.Minute, rotate: true, current: true, wantFetches: 2},
			{current: true, wantFetches: 2},
		}},
		{"unknown kid fails after exactly one fetch", []step{
			{kid: "forged", wantFetches: 1, wantCheck: "signature"},
		}},
		{"unknown kid refetches once, then not again within the cooldown", []step{
			{current: true, wantFetches: 1},
			{advance: refetchCooldown, kid: "forged-1", wantFetches: 2, wantCheck: "signature"},
			{kid: "forged-2", wantFetches: 2, wantCheck: "signature"},
			{advance: refetchCooldown - time.Second, kid: "forged-3", wantFetches: 2, wantCheck: "signature"},
			{advance: time.Second, kid: "forged-4", wantFetches: 3, wantCheck: "signature"},
		}},
		{"rotation within the cooldown is picked up once it ends", []step{
			{current: true, wantFetches: 1},
			{rotate: true, current: true, wantFetches: 1, wantCheck: "signature"},
			{advance: refetchCooldown, current: true, wantFetches: 2},
		}},
		{"known kid of the wrong type does not refetch", []step{
			{current: true, wantFetches: 1},
			{advance: 30 * time.Minute, kid: "ec-0", wantFetches: 1, wantCheck: "alg"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

func TestKeySetFloodOfUnknownKidsFetchesOnce(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	ks := newTestKeySet(iss.Fetch, clock)
	if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute)
	for i := range 1000 {
		_, err := ks.Key(context.Background(), "forged-"+string(rune('a'+i%26)), "RS256")
		wantTokenError(t, err, "signature")
	}
	if got := iss.Fetches.Load(); got != 2 {
		t.Fatalf("1000 unknown kids caused %d fetches, want 2 (initial + one refetch)", got)
	}
}

// waitingCtx reports, once, when a caller starts waiting on it (Done).
type waitingCtx struct {
	context.Context
	once    sync.Once
	waiting func()
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(c.waiting)
	return c.Context.Done()
}

func TestKeySetConcurrentCallersShareOneFetch(t *testing.T) {
	const callers = 20
	iss := idtokentest.NewIssuer(t)
	var waiting sync.WaitGroup
	waiting.Add(callers)
	allWaiting := make(chan struct{})
	go func() { waiting.Wait(); close(allWaiting) }()

	var fetches atomic.Int32
	var fetchedEarly atomic.Bool
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		fetches.Add(1)
		select {
		case <-allWaiting:
		case <-time.After(5 * time.Second):
			fetchedEarly.Store(true) // callers are not waiting on a shared fetch
		}
		return iss.JWKS(), nil
	}, newFakeClock(idtokentest.Now))

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			ctx := &waitingCtx{Context: context.Background(), waiting: waiting.Done}
			_, err := ks.Key(ctx, "rsa-0", "RS256")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Key: %v", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d concurrent callers caused %d fetches, want 1", callers, n)
	}
	if fetchedEarly.Load() {
		t.Errorf("the fetch finished before all %d callers were waiting on it", callers)
	}
}

func TestKeySetFetchFailureIsRememberedBriefly(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	var fail atomic.Bool
	var fetches atomic.Int32
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		fetches.Add(1)
		if fail.Load() {
			return nil, errFetch
		}
		return iss.JWKS(), nil
	}, clock)

	tests := []struct {
		name        string
		fail        bool
		advance     time.Duration
		kid         string
		wantErr     error // nil: success
		wantFetches int32
	}{
		{"first fetch fails with network_error", true, 0, "rsa-0", errFetch, 1},
		{"a call right after gets the remembered error without fetching", false, 0, "rsa-0", errFetch, 1},
		{"still remembered just before the negative cache ends", false, FailedFetchTTL - time.Millisecond, "rsa-0", errFetch, 1},
		{"once it ends the next call fetches again and succeeds", false, time.Second, "rsa-0", nil, 2},
		{"failed refetch for a new kid is network_error", true, 30 * time.Minute, "rsa-new", errFetch, 3},
		{"failed refetch keeps the cached keys while they are fresh", true, 0, "rsa-0", nil, 3},
		{"failed refetch does not start the cooldown", false, FailedFetchTTL, "rsa-new", errSignature, 4},
	}
	for _, tt := range tests {
		fail.Store(tt.fail)
		clock.Advance(tt.advance)
		_, err := ks.Key(context.Background(), tt.kid, "RS256")
		if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Fatalf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
		}
		if got := fetches.Load(); got != tt.wantFetches {
			t.Fatalf("%s: %d fetches, want %d", tt.name, got, tt.wantFetches)
		}
	}
}

func TestKeySetFiftyTokensDuringAnOutageFetchOnce(t *testing.T) {
	clock := newFakeClock(idtokentest.Now)
	var fetches atomic.Int32
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		fetches.Add(1)
		return nil, errFetch
	}, clock)
	for range 50 {
		_, err := ks.Key(context.Background(), "rsa-0", "RS256")
		if !errors.Is(err, errFetch) {
			t.Fatalf("error = %v, want the fetch's error", err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("50 tokens while the JWKS answered 503 made %d fetches, want 1", n)
	}
}

func TestKeySetKeysExpireAfterTheirMaxAge(t *testing.T) {
	tests := []struct {
		name         string
		maxAge       time.Duration // what the server said; -1: nothing
		stillCached  time.Duration // a call this long after the fetch uses the cache
		refetchAfter time.Duration // a call this long after the fetch fetches again
	}{
		{"max-age is honoured", 10 * time.Minute, 10*time.Minute - time.Second, 10 * time.Minute},
		{"no max-age means the default", -1, DefaultKeyMaxAge - time.Second, DefaultKeyMaxAge},
		{"a huge max-age is capped", 365 * 24 * time.Hour, MaxKeyMaxAge - time.Second, MaxKeyMaxAge},
		{"max-age=0 is raised to the floor", 0, MinKeyMaxAge - time.Second, MinKeyMaxAge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := idtokentest.NewIssuer(t)
			clock := newFakeClock(idtokentest.Now)
			ks := NewKeySetWithMaxAge(func(ctx context.Context) ([]byte, time.Duration, error) {
				b, err := iss.Fetch(ctx)
				return b, tt.maxAge, err
			})
			ks.now = clock.Now
			key := func() {
				t.Helper()
				if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); err != nil {
					t.Fatal(err)
				}
			}
			key()
			clock.Advance(tt.stillCached)
			key()
			if n := iss.Fetches.Load(); n != 1 {
				t.Fatalf("%s after the fetch: %d fetches, want 1 (cached)", tt.stillCached, n)
			}
			clock.Advance(tt.refetchAfter - tt.stillCached)
			key()
			if n := iss.Fetches.Load(); n != 2 {
				t.Fatalf("%s after the fetch: %d fetches, want 2 (expired)", tt.refetchAfter, n)
			}
		})
	}
}

func TestKeySetExpiredKeysAreNotUsedWhenTheRefetchFails(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	var fail atomic.Bool
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		if fail.Load() {
			return nil, errFetch
		}
		return iss.JWKS(), nil
	}, clock)
	if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	clock.Advance(DefaultKeyMaxAge)
	if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); !errors.Is(err, errFetch) {
		t.Fatalf("an expired key set whose refetch failed gave %v, want network_error", err)
	}
}

func TestMaxAgeFromCacheControl(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", -1},
		{"public", -1},
		{"public, max-age=600", 600 * time.Second},
		{"max-age=15, stale-while-revalidate=15, stale-if-error=86400", 15 * time.Second},
		{`MAX-AGE="60"`, 60 * time.Second},
		{"no-store", 0},
		{"max-age=60, no-cache", 0},
		{"max-age=-5", -1},
		{"max-age=abc", -1},
		{"max-age=99999999999999999999", -1},
		{"max-age=31536000", MaxKeyMaxAge},
	}
	for _, tt := range tests {
		if got := MaxAgeFromCacheControl(tt.header); got != tt.want {
			t.Errorf("MaxAgeFromCacheControl(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestKeySetCallerGivingUpDoesNotFailOthers(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	release := make(chan struct{})
	started := make(chan struct{})
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		close(started)
		<-release
		return iss.JWKS(), ctx.Err()
	}, newFakeClock(idtokentest.Now))

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := ks.Key(ctx, "rsa-0", "RS256"); first <- err }()
	<-started
	second := make(chan error, 1)
	go func() { _, err := ks.Key(context.Background(), "rsa-0", "RS256"); second <- err }()

	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("the other caller got %v, want the key", err)
	}
}

func TestKeySetWaitersGetTheirOwnFetchError(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		fetches.Add(1)
		<-release
		return nil, errFetch
	}, newFakeClock(idtokentest.Now))

	const callers = 2
	var waiting sync.WaitGroup
	waiting.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			_, err := ks.Key(&waitingCtx{Context: context.Background(), waiting: waiting.Done}, "k", "RS256")
			errs <- err
		}()
	}
	waiting.Wait()
	close(release)
	a, b := <-errs, <-errs
	if !errors.Is(a, errFetch) || !errors.Is(b, errFetch) {
		t.Fatalf("errors = %v, %v; want the fetch's error for both", a, b)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestKeySetPrefetchFetchesOnlyWhenAKeyCallWould(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	var fail atomic.Bool
	var fetches atomic.Int32
	release := make(chan struct{})
	ks := newTestKeySet(func(ctx context.Context) ([]byte, error) {
		fetches.Add(1)
		<-release
		if fail.Load() {
			return nil, errFetch
		}
		return iss.JWKS(), nil
	}, clock)
	inflight := func() *fetchCall {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		return ks.inflight
	}
	// settle lets the fetch under way, if any, end, and waits until it has.
	settle := func() {
		if inflight() == nil {
			return
		}
		release <- struct{}{}
		deadline := time.Now().Add(5 * time.Second)
		for inflight() != nil {
			if time.Now().After(deadline) {
				t.Fatal("the prefetch did not end")
			}
			runtime.Gosched()
		}
	}
	prefetch := func() { ks.Prefetch(context.Background()) }

	steps := []struct {
		name        string
		do          func()
		wantFetches int32
	}{
		{"an empty set starts a fetch", prefetch, 1},
		{"a second prefetch while it is under way adds none", func() {
			first := inflight()
			prefetch()
			if inflight() != first {
				t.Fatal("a second prefetch replaced the fetch under way")
			}
		}, 1},
		{"a Key call after it uses the prefetched keys", func() {
			settle()
			if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); err != nil {
				t.Fatalf("Key after the prefetch: %v", err)
			}
		}, 1},
		{"fresh keys are not fetched again", prefetch, 1},
		{"keys past their max age are", func() { clock.Advance(DefaultKeyMaxAge + time.Second); prefetch(); settle() }, 2},
		{"a failed fetch", func() { fail.Store(true); clock.Advance(DefaultKeyMaxAge + time.Second); prefetch(); settle() }, 3},
		{"is not repeated within FailedFetchTTL", prefetch, 3},
		{"and its error is what Key returns then", func() {
			if _, err := ks.Key(context.Background(), "rsa-0", "RS256"); !errors.Is(err, errFetch) {
				t.Fatalf("Key after a failed prefetch: %v, want %v", err, errFetch)
			}
		}, 3},
		{"after FailedFetchTTL it is tried again", func() { fail.Store(false); clock.Advance(FailedFetchTTL); prefetch(); settle() }, 4},
	}
	for _, s := range steps {
		s.do()
		// A fetch starts in its own goroutine: give it time to be counted.
		deadline := time.Now().Add(2 * time.Second)
		for fetches.Load() < s.wantFetches && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		if got := fetches.Load(); got != s.wantFetches {
			t.Fatalf("%s: %d fetches, want %d", s.name, got, s.wantFetches)
		}
	}
	settle()
}
