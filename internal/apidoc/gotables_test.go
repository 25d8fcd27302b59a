package apidoc

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/checksession"
)

// goCodes are checksession.ErrorCodes(); enders those that end a session.
func goCodes() (codes, enders []string) {
	for _, c := range checksession.ErrorCodes() {
		codes = append(codes, string(c))
		if checksession.EndsSession(c) {
			enders = append(enders, string(c))
		}
	}
	return codes, enders
}

// without is names less the ones in drop, sorted.
func without(names []string, drop map[string]bool) []string {
	var out []string
	for _, n := range names {
		if !drop[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

var (
	backticked = regexp.MustCompile("`([a-z_]+)`")
	// sessionEndedDoc is the comment on SilentAuthEventMap's session_ended.
	sessionEndedDoc = regexp.MustCompile(`(?s)/\*\*((?:[^*]|\*[^/])*)\*/\s*session_ended:`)
	loaderEvents    = regexp.MustCompile(`const EVENTS = \[([^\]]*)\]`)
	loaderCodes     = regexp.MustCompile(`(?:codedError|SilentAuthError)\("([a-z_]+)"`)
)

// TestGoTablesMatchDeclarations holds checksession's one table of error
// codes and one of events to silentauth.d.ts (codes API.md still marks as
// being built may be in Go alone), the codes that end a session to the
// session_ended docs, and the loader's event list and literal codes to Go's.
func TestGoTablesMatchDeclarations(t *testing.T) {
	dtsSrc := read(t, "wasm/loader/silentauth.d.ts")
	dts, err := ParseDTS(dtsSrc)
	if err != nil {
		t.Fatal(err)
	}
	_, building, err := ParseAPIMarkdown(read(t, "docs/API.md"))
	if err != nil {
		t.Fatal(err)
	}
	codes, enders := goCodes()
	if got, want := without(codes, building[Errors]), dts.Sorted(Errors); !slices.Equal(got, want) {
		t.Errorf("checksession.ErrorCodes %v, silentauth.d.ts ErrorCode %v (being built: %v)", got, want, building.Sorted(Errors))
	}

	m := sessionEndedDoc.FindStringSubmatch(dtsSrc)
	if m == nil {
		t.Fatal("silentauth.d.ts has no comment on session_ended")
	}
	var documented []string
	for _, c := range backticked.FindAllStringSubmatch(m[1], -1) {
		documented = append(documented, c[1])
	}
	sort.Strings(documented)
	if got := without(enders, building[Errors]); !slices.Equal(got, documented) {
		t.Errorf("codes that end a session: Go %v, session_ended's docs %v", got, documented)
	}

	var events []string
	for _, e := range checksession.EventNames() {
		events = append(events, string(e))
	}
	sort.Strings(events)
	if want := dts.Sorted(Events); !slices.Equal(events, want) {
		t.Errorf("checksession.EventNames %v, SilentAuthEventMap %v", events, want)
	}

	loader := read(t, "wasm/loader/common.js")
	lm := loaderEvents.FindStringSubmatch(loader)
	if lm == nil {
		t.Fatal("wasm/loader/common.js has no EVENTS list")
	}
	var jsEvents []string
	for _, e := range strings.Split(lm[1], ",") {
		jsEvents = append(jsEvents, strings.Trim(strings.TrimSpace(e), `"`))
	}
	sort.Strings(jsEvents)
	if !slices.Equal(jsEvents, events) {
		t.Errorf("the loader's EVENTS %v, checksession.EventNames %v", jsEvents, events)
	}
	for _, c := range loaderCodes.FindAllStringSubmatch(loader, -1) {
		if !slices.Contains(codes, c[1]) {
			t.Errorf("the loader makes errors with code %q, which checksession.ErrorCodes lacks", c[1])
		}
	}
}

// TestGoTablesCheckCanFail pins the patterns the check relies on.
func TestGoTablesCheckCanFail(t *testing.T) {
	src := "  /**\n   * `login_required` or `consent_required` from a renewal.\n   */\n  session_ended: SilentAuthError;"
	m := sessionEndedDoc.FindStringSubmatch(src)
	if m == nil || len(backticked.FindAllString(m[1], -1)) != 2 {
		t.Fatalf("session_ended's comment not read: %q", m)
	}
	js := `const EVENTS = ["renewed", "x"]; codedError("destroyed", "d"); new SilentAuthError("made_up", "")`
	if got := loaderEvents.FindStringSubmatch(js); got == nil || !strings.Contains(got[1], `"x"`) {
		t.Fatalf("EVENTS not read: %q", got)
	}
	if got := loaderCodes.FindAllStringSubmatch(js, -1); len(got) != 2 || got[1][1] != "made_up" {
		t.Fatalf("loader codes not read: %q", got)
	}
}
