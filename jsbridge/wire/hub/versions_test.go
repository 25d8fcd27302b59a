package hub

import (
	"testing"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
)

// coordBase is a worker base with Web Locks and BroadcastChannel that
// records the names asked for.
type coordBase struct {
	fakeBase
	leads, joins []string
}

func (b *coordBase) Lead(name string, onLead func()) (func(), error) {
	b.leads = append(b.leads, name)
	return func() {}, nil
}

type nopChannel struct{}

func (nopChannel) Post([]byte) error { return nil }
func (nopChannel) Close()            {}

func (b *coordBase) Join(name string, _ func([]byte)) (platform.Channel, error) {
	b.joins = append(b.joins, name)
	return nopChannel{}, nil
}

// An engine in the worker takes turns with the other engines of its
// configuration through the worker's own Web Locks and BroadcastChannel,
// under the names the engine gives (the configuration's, whatever the
// worker's version), and keeps its refresh token to itself. A worker
// without them leaves the engine renewing alone.
func TestAnEngineInTheWorkerCoordinatesByTheWorkersLocksAndKeepsItsRefreshToken(t *testing.T) {
	cases := []struct {
		name      string
		base      platform.Browser
		wantLocks bool
	}{
		{"a worker with Web Locks", &coordBase{}, true},
		{"a worker without them", fakeBase{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got platform.Browser
			h := New(Config{
				Base: tc.base,
				NewEngine: func(_ checksession.Options, b platform.Browser) (Engine, error) {
					got = b
					return &fakeEngine{b: b, destroyed: make(chan struct{})}, nil
				},
			})
			p := connect(h, "a", true)
			create(t, h, "a", p)
			if k, ok := got.(platform.RefreshCustody); !ok || !k.KeepsRefreshToken() {
				t.Error("the engine's browser does not keep the refresh token in the worker")
			}
			tc2, ok := got.(platform.TabCoordinator)
			if !ok {
				t.Fatal("the engine's browser is no TabCoordinator")
			}
			_, leadErr := tc2.Lead("silentauth:abc:renew", func() {})
			_, joinErr := tc2.Join("silentauth:abc", func([]byte) {})
			if tc.wantLocks {
				cb := tc.base.(*coordBase)
				if leadErr != nil || joinErr != nil {
					t.Fatalf("Lead: %v, Join: %v", leadErr, joinErr)
				}
				if len(cb.leads) != 1 || cb.leads[0] != "silentauth:abc:renew" || len(cb.joins) != 1 || cb.joins[0] != "silentauth:abc" {
					t.Errorf("the worker was asked for locks %v and channels %v, want the engine's names as given", cb.leads, cb.joins)
				}
				return
			}
			if leadErr == nil || joinErr == nil {
				t.Errorf("Lead: %v, Join: %v; want an error from each, so that the engine renews alone", leadErr, joinErr)
			}
		})
	}
}
