package checksession

import (
	"context"
	"strings"
	"testing"
	"time"
)

// offlineBrowser is the fake browser on a device that knows it is offline.
type offlineBrowser struct{ *fakeBrowser }

func (offlineBrowser) Online() bool { return false }

var (
	_ Browser      = (*fakeBrowser)(nil)
	_ Connectivity = offlineBrowser{}
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
	fx.clock.waitArmed(t, 1, "the request's deadline")
	fx.clock.Advance(10 * time.Second)
	err = <-done
	if errCode(err) != ErrTimeout.Code || !strings.Contains(err.Error(), "The browser is offline") {
		t.Fatalf("got %v, want a timeout that says the browser is offline", err)
	}
}
