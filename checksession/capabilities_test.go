package checksession

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
)

// offlineBrowser is the fake browser on a device that knows it is offline.
type offlineBrowser struct{ *fakeBrowser }

func (offlineBrowser) Online() bool { return false }

var (
	_ platform.Browser      = (*fakeBrowser)(nil)
	_ platform.Connectivity = offlineBrowser{}
)

func TestTimeoutOnAnOfflineDeviceSaysItIsOffline(t *testing.T) {
	fx := newFixture(t)
	fx.frameResponse = func(*fakeFrame) {} // the iframe never answers
	o := fx.options()
	o.Timeout = 10 * time.Second
	c, err := NewClient(o, offlineBrowser{fx.b}, fx.clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy)
	done := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	fx.clock.waitArmed(t, 2, "the request's deadline and its race")
	fx.clock.Advance(10 * time.Second)
	err = <-done
	if errCode(err) != string(ErrTimeout) || !strings.Contains(err.Error(), "The browser is offline") {
		t.Fatalf("got %v, want a timeout that says the browser is offline", err)
	}
}

func TestEveryVerifyCallerGetsItsOwnCopyOfAKeySetError(t *testing.T) {
	shared := newError(string(ErrNetwork), "jwks: no answer")
	iss := idtokentest.NewIssuer(t)
	v := tokenVerifier{idtoken.NewVerifier(idtoken.VerifierConfig{
		Issuer: iss.URL, ClientID: iss.ClientID, Now: func() time.Time { return idtokentest.Now },
		Keys: idtoken.NewKeySet(func(context.Context) ([]byte, error) { return nil, shared }),
	})}
	raw := iss.Sign(t, iss.Claims(idtokentest.Now))
	_, a := v.Verify(context.Background(), raw, idtoken.Expected{})
	_, b := v.Verify(context.Background(), raw, idtoken.Expected{})
	ea, okA := a.(*Error)
	eb, okB := b.(*Error)
	// Callers stamp their request's state on the error; sharing one would race.
	if !okA || !okB || ea == eb || ea == shared || ea.Code != string(ErrNetwork) {
		t.Fatalf("errors %v (%p) and %v (%p) from the shared %p, want two copies", a, ea, b, eb, shared)
	}
}

func TestFailedIDTokenChecksAreInvalidToken(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	v := tokenVerifier{idtoken.NewVerifier(idtoken.VerifierConfig{
		Issuer: iss.URL, ClientID: iss.ClientID, Now: func() time.Time { return idtokentest.Now },
		Keys: idtoken.NewKeySet(iss.Fetch),
	})}
	claims := iss.Claims(idtokentest.Now)
	claims["iss"] = "https://other.example/"
	_, err := v.Verify(context.Background(), iss.Sign(t, claims), idtoken.Expected{})
	if e, ok := err.(*Error); !ok || e.Code != string(ErrInvalidToken) || !strings.HasPrefix(e.Description, "iss: ") {
		t.Fatalf("got %v, want invalid_token naming iss", err)
	}
	bad := tokenVerifier{idtoken.NewVerifier(idtoken.VerifierConfig{
		Issuer: iss.URL, ClientID: iss.ClientID, Now: func() time.Time { return idtokentest.Now },
		Keys: idtoken.NewKeySet(func(context.Context) ([]byte, error) { return []byte("<html>"), nil }),
	})}
	_, err = bad.Verify(context.Background(), iss.Sign(t, iss.Claims(idtokentest.Now)), idtoken.Expected{})
	if e, ok := err.(*Error); !ok || e.Code != string(ErrServer) || !strings.HasPrefix(e.Description, "jwks: ") {
		t.Fatalf("got %v, want server_error naming jwks", err)
	}
}

func TestAFailedKeySetFetchIsForgottenBeforeTheNextRetry(t *testing.T) {
	if shortest := backoffDelay(1, 0); idtoken.FailedFetchTTL >= shortest {
		t.Fatalf("idtoken.FailedFetchTTL %v is not under the shortest retry delay %v: a retry would get the remembered failure", idtoken.FailedFetchTTL, shortest)
	}
}
