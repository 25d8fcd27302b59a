package apidoc

import (
	"os"
	"path/filepath"
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
