package apidoc

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// madeCode finds the codes the SDK's sources build errors with: Go's
// &Error{Code: "…"} and newError("…"), the loader's codedError("…") and
// new SilentAuthError("…").
var madeCode = regexp.MustCompile(`(?:codedError|new SilentAuthError|newError)\(\s*"([a-z_]+)"|Code:\s+"([a-z_]+)"`)

// TestEveryCodeTheSDKMakesIsInTheTable walks the SDK's sources (Go core,
// bridge, wasm main and JS loader): every error code written there is one
// of checksession.ErrorCodes, the table API.md and the declarations list.
func TestEveryCodeTheSDKMakesIsInTheTable(t *testing.T) {
	root := filepath.Join("..", "..") // the repository root, as read() takes it
	codes, _ := goCodes()
	known := map[string]bool{}
	for _, c := range codes {
		known[c] = true
	}
	seen := 0
	for _, dir := range []string{"checksession", "jsbridge", "wasm"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") ||
				!(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".js")) {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range madeCode.FindAllStringSubmatch(string(b), -1) {
				code := m[1] + m[2]
				seen++
				if !known[code] {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s makes an error with code %q, which is not in checksession.ErrorCodes", rel, code)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The walk must have found the codes it is there to check.
	if seen < 20 {
		t.Fatalf("found only %d error constructions: the pattern no longer matches the sources", seen)
	}
}
