package apidoc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestContributingListsEveryE2ESuite: docs/contributing.md's table of
// end-to-end suites names every package under demo/e2e, so that a new suite
// comes with a line that says what it pins.
func TestContributingListsEveryE2ESuite(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "..", "demo", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	doc := read(t, "docs/contributing.md")
	suites := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		suites++
		if row := "| `demo/e2e/" + e.Name() + "` |"; !strings.Contains(doc, row) {
			t.Errorf("docs/contributing.md has no row %q in its end-to-end suites table", row)
		}
	}
	if suites == 0 {
		t.Fatal("no suites under demo/e2e: has the layout changed?")
	}
}

// TestContributingNamesTheSharedWorkerPass: the suites docs/contributing.md
// says `make e2e-worker` runs are the Makefile's E2E_WORKER_SUITES, no more
// and no fewer.
func TestContributingNamesTheSharedWorkerPass(t *testing.T) {
	var want []string
	for _, line := range strings.Split(read(t, "Makefile"), "\n") {
		if rest, ok := strings.CutPrefix(line, "E2E_WORKER_SUITES :="); ok {
			want = strings.Fields(rest)
		}
	}
	if len(want) == 0 {
		t.Fatal("the Makefile sets no E2E_WORKER_SUITES: has the layout changed?")
	}
	doc := read(t, "docs/contributing.md")
	_, after, ok := strings.Cut(doc, "`make e2e-worker` runs ")
	sentence, _, ok2 := strings.Cut(after, " again in the SharedWorker")
	if !ok || !ok2 {
		t.Fatal("docs/contributing.md has no sentence \"`make e2e-worker` runs … again in the SharedWorker\"")
	}
	var got []string
	for i, part := range strings.Split(sentence, "`") {
		if i%2 == 1 {
			got = append(got, part)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("docs/contributing.md says make e2e-worker runs %v; the Makefile's E2E_WORKER_SUITES is %v", got, want)
	}
}
