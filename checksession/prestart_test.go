package checksession

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
)

// prestartBrowser is the fake browser of a page whose loader prestarted the
// first silent request.
type prestartBrowser struct {
	*fakeBrowser
	mu      sync.Mutex
	pre     *platform.PrestartedRequest
	takes   int
	settled []string // "adopt <url>" or "discard"
}

func (b *prestartBrowser) TakePrestarted(context.Context) *platform.PrestartedRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.takes++
	p := b.pre
	b.pre = nil
	return p
}

func (b *prestartBrowser) SettlePrestarted(adopt bool, u string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if adopt {
		b.settled = append(b.settled, "adopt "+u)
	} else {
		b.settled = append(b.settled, "discard")
	}
}

// prestarted is the request a loader builds from the default options:
// its own state, nonce and verifier, parameters in its own order.
func prestarted(edit func(q url.Values)) *platform.PrestartedRequest {
	p := &platform.PrestartedRequest{State: randomString(), Nonce: randomString(), CodeVerifier: randomString()}
	q := url.Values{}
	q.Set("response_mode", "web_message")
	q.Set("prompt", "none")
	q.Set("client_id", idtokentest.ClientID)
	q.Set("redirect_uri", pageOrigin)
	q.Set("response_type", "code")
	q.Set("scope", defaultScope)
	q.Set("state", p.State)
	q.Set("nonce", p.Nonce)
	q.Set("code_challenge", pkceChallenge(p.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	if edit != nil {
		edit(q)
	}
	p.URL = serverOrigin + "/authorize?" + q.Encode()
	return p
}

func TestPrestartedSilentRequest(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(q url.Values)
		adopt bool
	}{
		{"the same request with the loader's secrets is adopted", nil, true},
		{"another scope is discarded", func(q url.Values) { q.Set("scope", "openid") }, false},
		{"an extra parameter is discarded", func(q url.Values) { q.Set("audience", "https://api") }, false},
		{"a missing parameter is discarded", func(q url.Values) { q.Del("code_challenge_method") }, false},
		{"a challenge that is not the verifier's is discarded", func(q url.Values) { q.Set("code_challenge", pkceChallenge("other")) }, false},
		{"a short state is discarded", func(q url.Values) { q.Set("state", "abc") }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			pb := &prestartBrowser{fakeBrowser: fx.b, pre: prestarted(tc.edit)}
			if tc.name == "a short state is discarded" {
				pb.pre.State = "abc"
			}
			pre := *pb.pre
			c := fx.clientOn(pb)
			res, err := c.CheckSession(context.Background(), AuthorizeParams{})
			if err != nil {
				t.Fatalf("CheckSession: %v", err)
			}
			if len(pb.settled) != 1 {
				t.Fatalf("settled %v, want one decision", pb.settled)
			}
			f := fx.b.frame(0)
			if tc.adopt {
				if !strings.HasPrefix(pb.settled[0], "adopt ") || f.URL.String() != strings.TrimPrefix(pb.settled[0], "adopt ") {
					t.Fatalf("settled %v; frame opened at %s", pb.settled, f.URL)
				}
				if res.State != pre.State || f.param("nonce") != pre.Nonce {
					t.Errorf("state %q nonce %q, want the prestarted %q %q", res.State, f.param("nonce"), pre.State, pre.Nonce)
				}
			} else {
				if pb.settled[0] != "discard" {
					t.Fatalf("settled %v, want discard", pb.settled)
				}
				if res.State == pre.State || f.param("state") == pre.State {
					t.Error("a discarded request's state was used")
				}
			}
			if !f.isClosed() {
				t.Error("iframe left open")
			}
			// Only the first silent request can be the prestarted one.
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
				t.Fatalf("second CheckSession: %v", err)
			}
			if pb.takes != 2 || len(pb.settled) != 1 {
				t.Errorf("takes %d settled %v after a second request", pb.takes, pb.settled)
			}
		})
	}
}

func TestPrestartedResponseIsCheckedLikeAnyOther(t *testing.T) {
	fx := newFixture(t)
	pb := &prestartBrowser{fakeBrowser: fx.b, pre: prestarted(nil)}
	fx.frameResponse = func(f *fakeFrame) {
		// A message for another state, then one from another origin, then ours.
		q := f.URL.Query()
		other := fx.loggedIn(q)
		other["state"] = randomString()
		f.respond(other)
		f.post("https://evil.example.com", true, map[string]any{"type": "authorization_response", "response": fx.loggedIn(q)})
		f.respond(fx.loggedIn(q))
	}
	res, err := fx.clientOn(pb).CheckSession(context.Background(), AuthorizeParams{})
	if err != nil {
		t.Fatalf("CheckSession: %v", err)
	}
	if res.AccessToken == "" || !fx.logged("ignored a message") {
		t.Errorf("result %+v; logs should show the ignored messages", res)
	}
}

// earlyBrowser answers code exchanges as a head start that sent them early
// does: the server's answer, marked Early, sent at sent.
type earlyBrowser struct {
	*prestartBrowser
	sent time.Time
}

func (b earlyBrowser) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	r, err := b.prestartBrowser.Fetch(ctx, req)
	if r != nil && req.Method == "POST" && strings.Contains(string(req.Body), "grant_type=authorization_code") {
		early := *r
		early.Early, early.Sent = true, b.sent
		return &early, err
	}
	return r, err
}

// The tokens of an exchange the head start sent before the engine asked
// expire counting from when that request left: counted from the engine's
// ask, they would be served past their real expiry by as long as the
// engine took to start.
func TestAnEarlyCodeExchangesTokensExpireFromWhenItLeft(t *testing.T) {
	fx := newFixture(t)
	sent := fx.clock.Now().Add(-5 * time.Second)
	pb := &prestartBrowser{fakeBrowser: fx.b, pre: prestarted(nil)}
	res, err := fx.clientOn(earlyBrowser{pb, sent}).CheckSession(context.Background(), AuthorizeParams{})
	if err != nil {
		t.Fatalf("CheckSession: %v", err)
	}
	if want := sent.Add(time.Duration(fx.expiresIn) * time.Second); !res.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt %v, want %v: expires_in counted from when the early request left", res.ExpiresAt, want)
	}
}

func TestAnEarlyCodeExchangeIsSaidInADebugLine(t *testing.T) {
	const line = "the code exchange the head start sent early is adopted"
	for _, early := range []bool{true, false} {
		fx := newFixture(t)
		pb := &prestartBrowser{fakeBrowser: fx.b, pre: prestarted(nil)}
		var b platform.Browser = pb
		if early {
			b = earlyBrowser{pb, time.Time{}}
		}
		if _, err := fx.clientOn(b).CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatalf("CheckSession: %v", err)
		}
		if fx.logged(line) != early {
			t.Errorf("early %v: logged %q is %v; logs %q", early, line, !early, fx.logs)
		}
	}
}
