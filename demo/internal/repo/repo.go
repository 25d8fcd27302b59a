// Package repo finds this repository's root from a test or tool running
// anywhere inside it.
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Root walks up from the working directory to the directory holding both
// go.mod and package.json: the SDK module's root, where node_modules and
// dist/ live too. demo/ has a go.mod of its own (the demo module), so go.mod
// alone would stop there.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isFile(filepath.Join(dir, "package.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no directory with go.mod and package.json above the working directory")
		}
		dir = parent
	}
}

// MustRoot is Root for a test or a benchmark: it fails t when there is no
// root.
func MustRoot(t testing.TB) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
