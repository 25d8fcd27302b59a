package safego

import (
	"strings"
	"testing"
)

func TestAPanicBecomesADescriptionNamingTheGoroutineAndTheSite(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func()
		want []string // in the description
	}{
		{"a panic with a value", func() { panic("boom") },
			[]string{"silentauth: the test's goroutine panicked: boom", "(at ", "safego.Test", "this is a bug in silentauth"}},
		{"a runtime error", func() {
			var m map[string]int
			m["x"] = 1
		}, []string{"panicked: assignment to entry in nil map", "(at "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			Go("the test's goroutine", tc.fn, func(d string) { got <- d })
			d := <-got
			for _, w := range tc.want {
				if !strings.Contains(d, w) {
					t.Errorf("description %q lacks %q", d, w)
				}
			}
		})
	}
}

func TestNoPanicCallsNothing(t *testing.T) {
	ran := false
	Run("quiet", func() { ran = true }, func(d string) { t.Errorf("onPanic called with %q", d) })
	if !ran {
		t.Fatal("fn did not run")
	}
}

func TestANilOnPanicStillRecovers(t *testing.T) {
	Run("unwatched", func() { panic("boom") }, nil) // reaching the next line is the test
}
