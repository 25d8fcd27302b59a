package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// engineTab is one engine of a configuration on the origin, as the tab
// group sees it: a tab with the in-page engine, or (custody) the engine in
// one version's SharedWorker, which keeps its refresh token to itself. A
// non-nil store is refreshTokenStorage "local"'s, shared by every engine
// of the origin.
type engineTab struct {
	*fakeBrowser
	*tabHub
	*memSecretStore
	custody bool
}

func (e engineTab) KeepsRefreshToken() bool { return e.custody }

// engineTabWithoutStore is engineTab for refreshTokenStorage "memory": no
// SecretStore at all.
type engineTabWithoutStore struct {
	*fakeBrowser
	*tabHub
	custody bool
}

func (e engineTabWithoutStore) KeepsRefreshToken() bool { return e.custody }

// engines opens one client per entry of custody (true: a worker engine)
// in one tab group, with useRefreshTokens; store, when non-nil, is the
// origin's refreshTokenStorage "local".
func engines(t *testing.T, fx *fixture, store *memSecretStore, custody ...bool) ([]*Client, *tabHub) {
	t.Helper()
	hub := newTabHub()
	var clients []*Client
	for _, k := range custody {
		o := fx.options()
		o.UseRefreshTokens = true
		var b platform.Browser = engineTabWithoutStore{fx.b, hub, k}
		if store != nil {
			o.RefreshTokenStorage = RefreshTokenStorageLocal
			b = engineTab{fx.b, hub, store, k}
		}
		c, err := NewClient(o, b, fx.clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Destroy)
		clients = append(clients, c)
	}
	return clients, hub
}

// refusals counts the refresh grants the server refused: a token presented
// that it had rotated already, which a server with reuse detection answers
// with invalid_grant and by revoking the family.
type refusals struct {
	mu sync.Mutex
	n  int
}

func countRefusals(s *issuingServer) *refusals {
	r := &refusals{}
	s.fx.b.routes[serverOrigin+"/oauth/token"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		resp, err := s.token(req)
		if err == nil && strings.Contains(string(resp.Body), `"invalid_grant"`) {
			r.mu.Lock()
			r.n++
			r.mu.Unlock()
		}
		return resp, err
	}
	return r
}

func (r *refusals) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

// Two engines of one configuration side by side (two versions' workers
// after a deploy, or a worker and a tab with the in-page engine) renew
// once per period between them and never present a token the server has
// rotated: with memory storage each engine spends only the family its own
// code exchange began; with local storage the engine holding the lock
// re-reads the stored token, which the other engine may have rotated.
func TestEnginesSideBySideRenewOnceAndNeverReuseARefreshToken(t *testing.T) {
	cases := []struct {
		name    string
		local   bool
		custody []bool
	}{
		{"two worker versions, memory storage", false, []bool{true, true}},
		{"two worker versions, local storage", true, []bool{true, true}},
		{"a worker and an in-page engine, memory storage", false, []bool{true, false}},
		{"a worker and an in-page engine, local storage", true, []bool{true, false}},
		{"two in-page tabs, local storage", true, []bool{false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			srv := newIssuingServer(fx)
			refused := countRefusals(srv)
			var store *memSecretStore
			if tc.local {
				store = &memSecretStore{m: map[string]string{}}
			}
			clients, _ := engines(t, fx, store, tc.custody...)
			for i, c := range clients {
				if _, err := checkAdvancing(t, fx, c); err != nil {
					t.Fatalf("engine %d's first checkSession: %v", i, err)
				}
			}
			cookiesBlocked(fx) // from here on only a refresh token can renew
			grants := len(srv.presented())
			events := len(fx.eventList())
			// Three renewal periods: both engines' timers come due three times.
			end := fx.clock.Now().Add(3*time.Minute + time.Second)
			advanceUntil(t, fx, 4*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, clients...)
			presented := srv.presented()[grants:]
			if len(presented) != 3 {
				t.Errorf("%d refresh grants in three periods, want 3 (one per period between the engines): %v; logs %q",
					len(presented), presented, fx.logs[max(0, len(fx.logs)-8):])
			}
			if n := refused.count(); n != 0 {
				t.Errorf("the server refused %d refresh grants (a rotated token presented again): %v", n, srv.presented())
			}
			seen := map[string]bool{}
			for _, rt := range srv.presented() {
				if seen[rt] {
					t.Errorf("refresh token %s presented twice: %v", rt, srv.presented())
				}
				seen[rt] = true
			}
			for _, e := range fx.eventList()[events:] {
				if e != string(EventRenewed) {
					t.Errorf("events %v after the first checkSessions, want only renewed", fx.eventList()[events:])
					break
				}
			}
			want, _ := clients[0].GetTokenSilently(context.Background(), AuthorizeParams{})
			for i, c := range clients {
				if tok, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err != nil || tok != want {
					t.Errorf("engine %d serves %q (%v), engine 0 %q", i, tok, err, want)
				}
			}
			// The second engine goes (its version's last tab closed): the
			// first renews alone, with a token nobody has spent.
			clients[1].Destroy()
			grants = len(srv.presented())
			end = fx.clock.Now().Add(time.Minute + time.Second)
			advanceUntil(t, fx, 2*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, clients[0])
			if got := len(srv.presented()) - grants; got != 1 {
				t.Errorf("%d refresh grants in the period after the second engine went, want 1", got)
			}
			if n := refused.count(); n != 0 {
				t.Errorf("after the second engine went the server refused %d refresh grants: %v", n, srv.presented())
			}
			if _, err := clients[0].GetTokenSilently(context.Background(), AuthorizeParams{}); err != nil {
				t.Errorf("the first engine alone: %v", err)
			}
		})
	}
}

// An engine in custody takes no part in the hand-over: it never asks for
// the group's refresh token, answers no ask, hands nothing over when it is
// destroyed, and takes no token another tab posts, so that a script on
// the origin can neither read its token nor switch its account.
func TestAnEngineInCustodyHandsNoRefreshTokenOverAndTakesNone(t *testing.T) {
	cases := []struct {
		name string
		// act does it to the custody engine c through a channel of its
		// group; posted collects what the group saw.
		act func(t *testing.T, fx *fixture, c *Client, post func(any))
	}{
		{"an ask for the refresh token, as older versions made it", func(t *testing.T, fx *fixture, c *Client, post func(any)) {
			post(map[string]any{"kind": "refresh_token_wanted"})
		}},
		{"an ask for a renewal", func(t *testing.T, fx *fixture, c *Client, post func(any)) {
			post(map[string]any{"kind": kindRenewalWanted})
		}},
		{"a next-in-line announcement, then destroy", func(t *testing.T, fx *fixture, c *Client, post func(any)) {
			post(map[string]any{"kind": kindNextInLine, "nonce": "n-1"})
			waitFor(t, "the announcement to be read", func() bool { return c.idle() })
			c.Destroy()
		}},
		{"destroy", func(t *testing.T, fx *fixture, c *Client, post func(any)) {
			c.Destroy()
		}},
		{"an unsolicited hand-over", func(t *testing.T, fx *fixture, c *Client, post func(any)) {
			post(map[string]any{"kind": handoverKind, "refresh_token": "rt-FORGED"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			newIssuingServer(fx)
			clients, hub := engines(t, fx, nil, true)
			c := clients[0]
			if _, err := checkAdvancing(t, fx, c); err != nil {
				t.Fatal(err)
			}
			held, ok := c.refresh.Current()
			if !ok {
				t.Fatal("the engine holds no refresh token after its code exchange")
			}
			var mu sync.Mutex
			var seen []string
			ch, err := hub.Join(c.s.tabKey(), func(b []byte) { mu.Lock(); seen = append(seen, string(b)); mu.Unlock() })
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			tc.act(t, fx, c, func(v any) {
				b, _ := json.Marshal(v)
				if err := ch.Post(b); err != nil {
					t.Fatal(err)
				}
			})
			waitFor(t, "the engine to settle", func() bool { return c.idle() })
			mu.Lock()
			defer mu.Unlock()
			for _, m := range seen {
				if strings.Contains(m, handoverKind) || strings.Contains(m, held) {
					t.Errorf("the engine posted %s: its refresh token left it", m)
				}
			}
			if !strings.Contains(tc.name, "destroy") {
				if now, _ := c.refresh.Current(); now != held {
					t.Errorf("holding %q, want its own %q", now, held)
				}
			}
		})
	}
}

// A worker engine without a refresh token renews with the silent iframe,
// without first asking the group for one (the ask would wait for an answer
// that never comes in custody), and its share says nothing about a spent
// token, so that an in-page tab keeps the token of its own family.
func TestAnEngineInCustodyNeitherAsksForNorSpendsAnothersToken(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv := newIssuingServer(fx)
	clients, hub := engines(t, fx, nil, false, true)
	page, worker := clients[0], clients[1]
	if _, err := checkAdvancing(t, fx, page); err != nil {
		t.Fatal(err)
	}
	pageToken, _ := page.refresh.Current()
	var mu sync.Mutex
	var seen []string
	ch, err := hub.Join(page.s.tabKey(), func(b []byte) { mu.Lock(); seen = append(seen, string(b)); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	frames := fx.b.frameCount()
	if _, err := worker.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatalf("the worker engine's checkSession: %v; logs %q", err, fx.logs)
	}
	waitFor(t, "the engines to settle", func() bool { return allIdle(clients) })
	// The worker engine may be answered by the group (renewal_wanted: the
	// page renews with its own token and shares the verified result) or
	// renew with the iframe; never both, and never with the page's token.
	if got := fx.b.frameCount() - frames; got > 1 {
		t.Errorf("%d iframes for the worker engine's first renewal, want at most 1", got)
	}
	for _, rt := range srv.presented() {
		if rt == pageToken {
			t.Errorf("the worker engine presented the page's refresh token %s", rt)
		}
	}
	mu.Lock()
	for _, m := range seen {
		if strings.Contains(m, "refresh_token_wanted") || strings.Contains(m, kindNextInLine) {
			t.Errorf("the worker engine asked the group for a refresh token: %s", m)
		}
		if strings.Contains(m, `"via"`) {
			t.Errorf("the worker engine's share says a group token was spent: %s", m)
		}
	}
	mu.Unlock()
	if now, _ := page.refresh.Current(); now != pageToken {
		t.Errorf("the in-page engine holds %q after the worker's share, want its own %q", now, pageToken)
	}
}

func TestReloadTakesWhatTheStoreHolds(t *testing.T) {
	ctx := context.Background()
	s, err := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: RefreshTokenStorageLocal}.validate(pageOrigin)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		// set up holder h over store st, whose stored token is then
		// written by another engine (other: "" deletes it).
		setup func(h *refreshTokens, st *failingStore)
		other string
		want  string
	}{
		{"another engine's rotation replaces the spent copy", func(h *refreshTokens, _ *failingStore) {
			_ = h.Adopt(ctx, "a")
		}, "b", "b"},
		{"a token forgotten elsewhere goes here too", func(h *refreshTokens, _ *failingStore) {
			_ = h.Adopt(ctx, "a")
		}, "", ""},
		{"nothing held: the stored token is taken", func(*refreshTokens, *failingStore) {}, "b", "b"},
		{"a token lent to a grant stays", func(h *refreshTokens, _ *failingStore) {
			_ = h.Adopt(ctx, "a")
			h.Take()
		}, "b", "a"},
		{"a token whose write failed stays", func(h *refreshTokens, st *failingStore) {
			st.saveErr = errors.New("quota exceeded")
			_ = h.Adopt(ctx, "a")
			st.saveErr = nil
		}, "b", "a"},
		{"a store that cannot be read leaves the token", func(h *refreshTokens, st *failingStore) {
			_ = h.Adopt(ctx, "a")
			st.loadErr = errors.New("the key is gone")
		}, "b", "a"},
		{"a token this holder spent is not taken back", func(h *refreshTokens, _ *failingStore) {
			_ = h.Adopt(ctx, "b")
			l, _ := h.Take()
			_ = h.Replace(ctx, l, "c")
		}, "b", "c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &failingStore{memSecretStore: &memSecretStore{m: map[string]string{}}}
			h := newRefreshTokens(s, storeBrowser{newFakeBrowser(), st.memSecretStore})
			h.store = st
			tc.setup(h, st)
			st.mu.Lock()
			if tc.other == "" {
				delete(st.m, h.key)
			} else {
				st.m[h.key] = tc.other
			}
			st.mu.Unlock()
			err := h.Reload(ctx)
			if (err != nil) != (st.loadErr != nil) {
				t.Errorf("Reload: %v", err)
			}
			if got, _ := h.Current(); got != tc.want {
				t.Errorf("holding %q after Reload, want %q", got, tc.want)
			}
		})
	}
	t.Run("memory storage reads nothing", func(t *testing.T) {
		m, _ := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true}.validate(pageOrigin)
		st := &memSecretStore{m: map[string]string{}}
		h := newRefreshTokens(m, storeBrowser{newFakeBrowser(), st})
		_ = h.Adopt(ctx, "a")
		st.m[h.key] = "b"
		if err := h.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := h.Current(); got != "a" {
			t.Errorf("holding %q, want a: memory storage has no store to read", got)
		}
	})
}

// failingStore is memSecretStore whose writes can be made to fail.
type failingStore struct {
	*memSecretStore
	saveErr error
}

func (s *failingStore) Save(ctx context.Context, k, v string) error {
	if s.saveErr != nil {
		return fmt.Errorf("save %s: %w", k, s.saveErr)
	}
	return s.memSecretStore.Save(ctx, k, v)
}
