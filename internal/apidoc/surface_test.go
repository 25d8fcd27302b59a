package apidoc

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// goExports lists a package's exported identifiers at package scope as
// go doc -all shows them: constants, variables, functions and types,
// including the constants and constructors go doc files under a type, but
// not methods. vars are the exported variables among them.
func goExports(t *testing.T, dir string) (idents, vars []string) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	p, err := doc.NewFromFiles(fset, files, "example.com/"+filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	values := func(vs []*doc.Value, isVar bool) {
		for _, v := range vs {
			for _, n := range v.Names {
				if ast.IsExported(n) {
					idents = append(idents, n)
					if isVar {
						vars = append(vars, n)
					}
				}
			}
		}
	}
	values(p.Consts, false)
	values(p.Vars, true)
	for _, f := range p.Funcs {
		idents = append(idents, f.Name)
	}
	for _, typ := range p.Types {
		idents = append(idents, typ.Name)
		values(typ.Consts, false)
		values(typ.Vars, true)
		for _, f := range typ.Funcs {
			idents = append(idents, f.Name)
		}
	}
	return idents, vars
}

// TestCheckSessionSurfaceIsNarrow pins the engine package's public surface:
// what a Go application calls. The browser contract lives in
// checksession/platform and the plumbing in internal packages, so the
// engine's own exports stay few; and no exported variable makes a table
// (ErrorCodes, EventNames) writable by any importer.
func TestCheckSessionSurfaceIsNarrow(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		maxIdent int
	}{
		{"checksession", 45},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			idents, vars := goExports(t, filepath.Join("..", "..", filepath.FromSlash(tc.dir)))
			if len(idents) > tc.maxIdent {
				t.Errorf("%s exports %d identifiers, at most %d allowed: %s", tc.dir, len(idents), tc.maxIdent, strings.Join(idents, " "))
			}
			if len(vars) > 0 {
				t.Errorf("%s exports variables %v: make them functions or constants, so that no importer can change them", tc.dir, vars)
			}
		})
	}
}

// TestNoSDKPackageExportsAVariable extends the rule on tables to every
// package of the SDK a Go application can import: an exported variable is
// state any importer can change. Test helpers (idtokentest) are exempt.
func TestNoSDKPackageExportsAVariable(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, top := range []string{"checksession", "jsbridge"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			if strings.HasSuffix(path, "test") { // idtokentest: a test issuer
				return nil
			}
			if m, _ := filepath.Glob(filepath.Join(path, "*.go")); len(m) == 0 {
				return nil
			}
			if _, vars := goExports(t, path); len(vars) > 0 {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s exports variables %v", filepath.ToSlash(rel), vars)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
