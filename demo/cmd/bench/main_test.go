package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantNames string
		wantQuick bool
		wantBase  string
		wantUsage bool
	}{
		{"all runs every benchmark but the refresh soak, in order", []string{"all"},
			"renewal firsttoken anonymous dpop multitab soak outage", false, "", false},
		{"named benchmarks run in the order given, once each", []string{"multitab", "firsttoken", "multitab"},
			"multitab firsttoken", false, "", false},
		{"the refresh soak runs when named", []string{"soak-refresh"}, "soak-refresh", false, "", false},
		{"flags come before the names", []string{"-quick", "-baseline", "/tmp/old/dist", "outage"},
			"outage", true, "/tmp/old/dist", false},
		{"no benchmark named is a usage error", []string{"-quick"}, "", true, "", true},
		{"an unknown benchmark is a usage error", []string{"firsttoken", "latency"}, "", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(tt.args, io.Discard)
			if tt.wantUsage {
				if !errors.Is(err, errUsage) {
					t.Fatalf("parse(%q) error %v, want a usage error", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.args, err)
			}
			if got := strings.Join(c.names, " "); got != tt.wantNames {
				t.Errorf("benchmarks %q, want %q", got, tt.wantNames)
			}
			if c.opts.Quick != tt.wantQuick || c.opts.Baseline != tt.wantBase {
				t.Errorf("options %+v, want quick %v, baseline %q", c.opts, tt.wantQuick, tt.wantBase)
			}
		})
	}
}

func TestRunRefusesADistWithoutTheSDK(t *testing.T) {
	err := run([]string{"-dist", t.TempDir(), "multitab"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("run with an empty dist: %v, want an error saying to run make build", err)
	}
}
