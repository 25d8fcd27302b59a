// Command jsmin minifies the loader bundles the build writes (make build):
// comments and whitespace go, local names shrink; what a page or a worker
// reads of them (the global silentauth, exports, option names, messages)
// stays. Comments that start with "!" are kept: the license notices.
//
//	jsmin in.js out.js
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/js"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: jsmin in.js out.js")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "jsmin:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	m := minify.New()
	var b bytes.Buffer
	if err := (&js.Minifier{}).Minify(m, &b, bytes.NewReader(src), nil); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}
