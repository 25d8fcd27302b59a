package soak

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

func TestOutageFiguresCountRequestsPerMinuteRecoveryAndCallerSpeed(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	sc := OutageScenario("x", OPAuthError, 10*time.Second, 2*time.Minute, 30*time.Second)
	from := start.Add(10 * time.Second)
	to := from.Add(2 * time.Minute)
	ms := func(t time.Time) float64 { return float64(t.UnixMilli()) }
	hit := func(at time.Time, path, method string) nodeop.Hit {
		return nodeop.Hit{At: at, Path: path, Method: method}
	}
	r := &Record{Scenario: sc, Start: start, End: start.Add(sc.Duration),
		Hits: []nodeop.Hit{
			hit(start.Add(5*time.Second), "/auth", "GET"),     // the minute before
			hit(from, "/auth", "GET"),                         // minute 1
			hit(from.Add(2*time.Second), "/token", "POST"),    // minute 1
			hit(from.Add(3*time.Second), "/token", "OPTIONS"), // not a renewal
			hit(from.Add(4*time.Second), "/jwks", "GET"),      // not a renewal
			hit(from.Add(90*time.Second), "/auth", "GET"),     // minute 2
			hit(to.Add(time.Second), "/auth", "GET"),          // after
		},
		Tabs: []TabRecord{
			{Calls: []Call{{At: ms(from), MS: 1000, Error: "timeout"}, {At: ms(from.Add(time.Second)), MS: 2, Error: "timeout"},
				{At: ms(to.Add(5 * time.Second)), MS: 500, Token: "a"}}},
			{Calls: []Call{{At: ms(from.Add(time.Minute)), MS: 3, Error: "timeout"}, {At: ms(to.Add(20 * time.Second)), MS: 0, Token: "b"}}},
		},
	}
	f := ComputeOutage(r)
	if len(f.PerMinute) != 2 || f.PerMinute[0] != 2 || f.PerMinute[1] != 1 || f.Before != 1 || f.Requests() != 3 {
		t.Errorf("per minute %v (before %d, %d in all), want [2 1] (1, 3)", f.PerMinute, f.Before, f.Requests())
	}
	if f.MinGapSec != 2 {
		t.Errorf("shortest gap %v s, want 2", f.MinGapSec)
	}
	if f.AllRecovered != 20 || f.Recovered[0] != 5.5 {
		t.Errorf("recovered %v (all %v), want [5.5 20] (20)", f.Recovered, f.AllRecovered)
	}
	if f.Calls != 3 || f.Failed != 3 || f.MaxMS != 1000 || f.P50MS != 3 {
		t.Errorf("calls %d failed %d p50 %v max %v, want 3, 3, 3, 1000", f.Calls, f.Failed, f.P50MS, f.MaxMS)
	}
	r.Tabs[1].Calls = r.Tabs[1].Calls[:1]
	if f := ComputeOutage(r); f.AllRecovered != -1 {
		t.Errorf("a tab that never got a token again: all recovered %v, want -1", f.AllRecovered)
	}
}
