package bench

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestScope(t *testing.T) {
	tests := []struct {
		name     string
		f        func(s *Scope, trace *[]string)
		wantErr  string // "" for success
		wantRan  []string
		verbose  bool
		wantLog  string
		hideLogs string
	}{
		{
			name: "a benchmark that returns passes and its cleanups run last registered first",
			f: func(s *Scope, trace *[]string) {
				s.Cleanup(func() { *trace = append(*trace, "cleanup 1") })
				s.Cleanup(func() { *trace = append(*trace, "cleanup 2") })
				*trace = append(*trace, "body")
			},
			wantRan: []string{"body", "cleanup 2", "cleanup 1"},
		},
		{
			name: "Fatalf ends the benchmark there, fails it with the message and still runs the cleanups",
			f: func(s *Scope, trace *[]string) {
				s.Cleanup(func() { *trace = append(*trace, "cleanup") })
				s.Fatalf("no token after %d s", 10)
				*trace = append(*trace, "after Fatalf")
			},
			wantErr: "no token after 10 s",
			wantRan: []string{"cleanup"},
		},
		{
			name: "Errorf fails the benchmark but lets it go on",
			f: func(s *Scope, trace *[]string) {
				s.Errorf("first %s", "problem")
				*trace = append(*trace, "went on")
			},
			wantErr: "first problem",
			wantRan: []string{"went on"},
		},
		{
			name: "SkipNow ends the benchmark without failing it",
			f: func(s *Scope, trace *[]string) {
				s.Skip("no Chromium")
				*trace = append(*trace, "after Skip")
			},
		},
		{
			name: "a child's failure fails the parent, which goes on after the child's cleanups",
			f: func(s *Scope, trace *[]string) {
				ok := s.Run("child", func(c *Scope) {
					c.Cleanup(func() { *trace = append(*trace, "child cleanup") })
					c.Fatal("child broke")
				})
				*trace = append(*trace, "parent went on", map[bool]string{true: "child passed", false: "child failed"}[ok])
			},
			wantErr: "child broke",
			wantRan: []string{"child cleanup", "parent went on", "child failed"},
		},
		{
			name:    "Logf is printed when verbose",
			verbose: true,
			f:       func(s *Scope, _ *[]string) { s.Logf("console: %s", "hello") },
			wantLog: "console: hello",
		},
		{
			name:     "Logf is quiet unless verbose, Progressf is not",
			f:        func(s *Scope, _ *[]string) { s.Logf("console: %s", "hello"); s.Progressf("step %d", 2) },
			wantLog:  "step 2",
			hideLogs: "console: hello",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace []string
			var out bytes.Buffer
			err := RunScope("x", tt.verbose, &out, func(s *Scope) { tt.f(s, &trace) })
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if strings.Join(trace, ",") != strings.Join(tt.wantRan, ",") {
				t.Errorf("ran %q, want %q", trace, tt.wantRan)
			}
			if !strings.Contains(out.String(), tt.wantLog) {
				t.Errorf("printed %q, want it to hold %q", out.String(), tt.wantLog)
			}
			if tt.hideLogs != "" && strings.Contains(out.String(), tt.hideLogs) {
				t.Errorf("printed %q, want no %q", out.String(), tt.hideLogs)
			}
		})
	}
}

func TestScopeUndoesSetenvAndTempDirWhenItEnds(t *testing.T) {
	const key = "SILENTAUTH_SCOPE_TEST"
	t.Setenv(key, "before")
	var dir, during string
	_ = RunScope("x", false, nil, func(s *Scope) {
		s.Setenv(key, "during")
		during = os.Getenv(key)
		dir = s.TempDir()
		if err := os.WriteFile(dir+"/f", []byte("x"), 0o644); err != nil {
			s.Fatal(err)
		}
	})
	if during != "during" {
		t.Errorf("inside the scope %s = %q, want %q", key, during, "during")
	}
	if got := os.Getenv(key); got != "before" {
		t.Errorf("after the scope %s = %q, want %q back", key, got, "before")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the scope's temp dir %s is still there (%v)", dir, err)
	}
}

func TestScopeContextEndsWithTheScope(t *testing.T) {
	var s0 *Scope
	_ = RunScope("x", false, nil, func(s *Scope) {
		s0 = s
		if s.Context().Err() != nil {
			s.Fatal("context done while the benchmark runs")
		}
	})
	if s0.Context().Err() == nil {
		t.Error("the scope's context is still live after the scope ended")
	}
}
