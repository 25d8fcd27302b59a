package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    Dist
	}{
		{"no samples give an empty distribution", nil, Dist{}},
		{"an odd count's median is the middle sample", []float64{5, 1, 3}, Dist{N: 3, Median: 3, P95: 5, Mean: 3, Min: 1, Max: 5}},
		{"an even count's median is the mean of the middle two", []float64{4, 1, 2, 3}, Dist{N: 4, Median: 2.5, P95: 4, Mean: 2.5, Min: 1, Max: 4}},
		{"p95 is the nearest rank: the 19th of 20", seq(20), Dist{N: 20, Median: 10.5, P95: 19, Mean: 10.5, Min: 1, Max: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarise(tt.samples); got != tt.want {
				t.Errorf("Summarise(%v) = %+v, want %+v", tt.samples, got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	var s []float64
	for i := n; i >= 1; i-- {
		s = append(s, float64(i))
	}
	return s
}

func TestGoPackage(t *testing.T) {
	tests := []struct{ name, fn, want string }{
		{"a runtime function is its package", "runtime.mallocgc", "runtime"},
		{"a module path's underscores stand for slashes", "$github.com_silentauth_silentauth_checksession.(*Client).renew", "github.com_silentauth_silentauth_checksession"},
		{"a name without a dot is kept whole", "wasm_pc_f_loop", "wasm_pc_f_loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := goPackage(tt.fn); got != tt.want {
				t.Errorf("goPackage(%q) = %q, want %q", tt.fn, got, tt.want)
			}
		})
	}
}

func TestPhasesTakeEachStepFromTheMarkBefore(t *testing.T) {
	rounds := map[string][]map[string]float64{"x": {
		{"frame": 1, "message": 11, "resolved": 12},
		{"frame": 3, "message": 23, "resolved": 26},
	}}
	got := phases(rounds)["x"]
	want := []PhaseStep{{"call → frame", 2, 2}, {"frame → message", 15, 2}, {"message → resolved", 2, 2}}
	if len(got) != len(want) {
		t.Fatalf("phases = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCDNHandler(t *testing.T) {
	f := CDNFile{Name: HashedName("silentauth.wasm", []byte("raw")), Type: "application/wasm",
		Raw: []byte("raw"), Gzip: []byte("gz"), Brotli: []byte("br")}
	tests := []struct {
		name, path, accept string
		wantStatus         int
		wantEncoding       string
		wantBody           string
	}{
		{"brotli where the browser takes it", "/cdn/1/" + f.Name, "gzip, deflate, br", 200, "br", "br"},
		{"gzip where the browser takes no brotli", "/cdn/1/" + f.Name, "gzip", 200, "gzip", "gz"},
		{"the raw file where the browser takes neither", "/cdn/1/" + f.Name, "", 200, "", "raw"},
		{"another run's segment serves the same file", "/cdn/7/" + f.Name, "br", 200, "br", "br"},
		{"a name with no file is not found", "/cdn/1/silentauth.wasm", "br", 404, "", ""},
	}
	h := CDNHandler([]CDNFile{f})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.accept != "" {
				r.Header.Set("Accept-Encoding", tt.accept)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			if got := w.Header().Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			if w.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", w.Body.String(), tt.wantBody)
			}
			if got := w.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q, want a year, immutable", got)
			}
		})
	}
}

func TestHashedNameChangesWithTheContent(t *testing.T) {
	a, b := HashedName("silentauth.js", []byte("a")), HashedName("silentauth.js", []byte("b"))
	if a == b {
		t.Errorf("two contents got one name %q", a)
	}
	if len(a) != len("silentauth..js")+16 || a[:11] != "silentauth." || a[len(a)-3:] != ".js" {
		t.Errorf("HashedName = %q, want silentauth.<16 hex>.js", a)
	}
}

func TestSmapsPrivateKB(t *testing.T) {
	const smaps = `55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234   /usr/lib/chromium/chromium
Private_Clean:       900 kB
Private_Dirty:         0 kB
7f0000000000-7f0000200000 rwxp 00000000 00:00 0
Private_Clean:         0 kB
Private_Dirty:      1500 kB
7f1000000000-7f1000100000 r-xp 00000000 00:00 0      [anon:v8]
Private_Clean:        10 kB
Private_Dirty:        20 kB
7f2000000000-7f2004000000 rw-p 00000000 00:00 0
Rss:                4000 kB
Private_Clean:         0 kB
Private_Dirty:      4000 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0      [stack]
Private_Dirty:       100 kB
`
	priv, exec := smapsPrivateKB(strings.NewReader(smaps))
	// Executable: the two anonymous executable mappings, not the binary's text.
	if priv != 900+1500+30+4000+100 || exec != 1500+30 {
		t.Errorf("smapsPrivateKB = %v private, %v executable; want 6530, 1530", priv, exec)
	}
}

func TestFurtherIsTheMeanStepAfterTheFirstTab(t *testing.T) {
	tests := []struct {
		name string
		mem  []float64
		want float64
	}{
		{"four tabs", []float64{60, 100, 130, 180}, 40},
		{"one tab has no further tab", []float64{60}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := further(tt.mem); got != tt.want {
				t.Errorf("further(%v) = %v, want %v", tt.mem, got, tt.want)
			}
		})
	}
}

func TestMemRatioRefusesADenominatorInTheNoise(t *testing.T) {
	tests := []struct {
		name string
		a, b float64
		want string
	}{
		{"a denominator of a megabyte or more divides", 33, 3, "11.0×"},
		{"a denominator under a megabyte is noise", 33, 0.4, "n/a (auth0-spa-js 0.4 MB, within the noise)"},
		{"a negative denominator is noise", 33, -3.4, "n/a (auth0-spa-js -3.4 MB, within the noise)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memRatio(tt.a, tt.b); got != tt.want {
				t.Errorf("memRatio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// Each multi-tab figure is the median of its rounds, per tab where it is
// per tab, so that one slow round moves none of them.
func TestMultiTabRowsAreTheMediansOfTheirRounds(t *testing.T) {
	round := func(first, second float64, tasks int, wasm float64) MultiTabRow {
		return MultiTabRow{Contender: "shared-worker", Mem: []float64{40, 40.1}, Exec: []float64{4, 4},
			FirstToken: []float64{first, second}, LongTasks: []int{tasks, 0}, LongTaskMs: []float64{float64(tasks) * 60, 0},
			WasmMemory: wasm, Load: fmt.Sprint(first)}
	}
	got := medianRow([]MultiTabRow{round(500, 120, 0, 6), round(900, 300, 2, 6.5), round(550, 110, 1, 7)})
	if got.Contender != "shared-worker" || got.Load != "550" {
		t.Errorf("contender %q, load %q; want the contender and the last round's load", got.Contender, got.Load)
	}
	if want := []float64{550, 120}; !slices.Equal(got.FirstToken, want) {
		t.Errorf("first tokens %v, want the per-tab medians %v", got.FirstToken, want)
	}
	if want := []int{1, 0}; !slices.Equal(got.LongTasks, want) {
		t.Errorf("long tasks %v, want %v", got.LongTasks, want)
	}
	if got.WasmMemory != 6.5 || !slices.Equal(got.Mem, []float64{40, 40.1}) {
		t.Errorf("wasm memory %v, memory %v; want the medians", got.WasmMemory, got.Mem)
	}
	if one := medianRow([]MultiTabRow{round(500, 120, 0, 6)}); !slices.Equal(one.FirstToken, []float64{500, 120}) {
		t.Errorf("one round: %v, want it unchanged", one.FirstToken)
	}
}
