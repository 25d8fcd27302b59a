// Package apidoc reads the names docs/API.md and the TypeScript
// declarations (wasm/loader/silentauth.d.ts) each define: options, client
// methods, events, error codes and module exports. Its test fails when the
// two disagree, so neither can drift from the other.
package apidoc

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Kinds of names compared.
const (
	Options = "option"
	Methods = "client method"
	Events  = "event"
	Errors  = "error code"
	Exports = "export"
)

// Kinds lists every kind, in report order.
var Kinds = []string{Options, Methods, Events, Errors, Exports}

// Names is one document's names of each kind.
type Names map[string]map[string]bool

func (n Names) add(kind, name string) {
	if n[kind] == nil {
		n[kind] = map[string]bool{}
	}
	n[kind][name] = true
}

// Sorted lists the names of a kind.
func (n Names) Sorted(kind string) []string {
	var out []string
	for k := range n[kind] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BeingBuilt marks an entry that API.md specifies and the SDK does not have yet.
const BeingBuilt = "*(being built)*"

var (
	codeSpan  = regexp.MustCompile("`([^`]+)`")
	callName  = regexp.MustCompile("`([A-Za-z]+)\\(")
	identOnly = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// sections splits markdown into its "## " sections by heading text.
func sections(md string) map[string]string {
	out := map[string]string{}
	var head string
	var body strings.Builder
	flush := func() {
		if head != "" {
			out[head] = body.String()
		}
		body.Reset()
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "## ") {
			flush()
			head = strings.TrimPrefix(line, "## ")
			continue
		}
		body.WriteString(line + "\n")
	}
	flush()
	return out
}

// section finds the section whose heading starts with prefix.
func section(secs map[string]string, prefix string) (string, error) {
	for h, body := range secs {
		if strings.HasPrefix(h, prefix) {
			return body, nil
		}
	}
	return "", fmt.Errorf("API.md has no section %q", "## "+prefix)
}

// tableNames returns the code spans in the first cell of each table row
// after the header, split into the marked-as-being-built ones and the rest.
func tableNames(body string) (names, building []string) {
	row := 0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "|") {
			row = 0
			continue
		}
		row++
		if row <= 2 { // the header and the separator
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		marked := strings.Contains(line, BeingBuilt)
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			if !identOnly.MatchString(m[1]) {
				continue
			}
			if marked {
				building = append(building, m[1])
			} else {
				names = append(names, m[1])
			}
		}
	}
	return names, building
}

// ParseAPIMarkdown reads API.md's names, and those marked as being built.
func ParseAPIMarkdown(md string) (names, building Names, err error) {
	names, building = Names{}, Names{}
	secs := sections(md)
	tables := []struct{ kind, heading string }{
		{Options, "createClient("}, {Events, "Events"}, {Errors, "Errors"},
	}
	for _, tb := range tables {
		body, err := section(secs, tb.heading)
		if err != nil {
			return nil, nil, err
		}
		n, b := tableNames(body)
		for _, x := range n {
			names.add(tb.kind, x)
		}
		for _, x := range b {
			building.add(tb.kind, x)
		}
	}
	lists := []struct{ kind, heading string }{{Methods, "Client"}, {Exports, "Loading"}}
	for _, l := range lists {
		body, err := section(secs, l.heading)
		if err != nil {
			return nil, nil, err
		}
		// Only the list items before any "### " subsection.
		if i := strings.Index(body, "\n### "); i >= 0 {
			body = body[:i]
		}
		for _, line := range strings.Split(body, "\n") {
			if !strings.HasPrefix(line, "- `") {
				continue
			}
			head, _, _ := strings.Cut(line, ":")
			found := false
			for _, m := range callName.FindAllStringSubmatch(head, -1) {
				names.add(l.kind, m[1])
				found = true
			}
			if !found {
				if m := codeSpan.FindStringSubmatch(head); m != nil && identOnly.MatchString(m[1]) {
					names.add(l.kind, m[1])
				}
			}
		}
	}
	for _, kind := range Kinds {
		if len(names[kind]) == 0 {
			return nil, nil, fmt.Errorf("API.md names no %s: has its layout changed?", kind)
		}
	}
	return names, building, nil
}

// block returns the text between the braces that follow the first match of
// start, or up to the first ";" at depth 0 for a type alias.
func block(src, start string) (string, error) {
	i := strings.Index(src, start)
	if i < 0 {
		return "", fmt.Errorf("silentauth.d.ts has no %q", start)
	}
	rest := src[i+len(start):]
	depth := 0
	for j, r := range rest {
		switch r {
		case '{', '(':
			depth++
		case '}', ')':
			depth--
			if depth == 0 && r == '}' && !strings.HasPrefix(start, "type ") {
				return rest[:j+1], nil
			}
		case ';':
			if depth == 0 && strings.HasPrefix(start, "type ") {
				return rest[:j], nil
			}
		}
	}
	return "", fmt.Errorf("silentauth.d.ts: %q does not end", start)
}

var (
	propName   = regexp.MustCompile(`(?m)^\s+([A-Za-z_][A-Za-z0-9_]*)\??\s*:`)
	methodName = regexp.MustCompile(`(?m)^\s+([A-Za-z_][A-Za-z0-9_]*)\s*(<[^>]*>)?\(`)
	literal    = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"`)
	exported   = regexp.MustCompile(`(?m)^export (?:declare )?(?:function|class|const) ([A-Za-z_][A-Za-z0-9_]*)`)
	comment    = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
)

// ParseDTS reads the declarations' names.
func ParseDTS(src string) (Names, error) {
	src = comment.ReplaceAllString(src, "")
	n := Names{}
	for _, b := range []string{"interface BaseClientOptions", "type ClientOptions ="} {
		body, err := block(src, b)
		if err != nil {
			return nil, err
		}
		for _, m := range propName.FindAllStringSubmatch(body, -1) {
			n.add(Options, m[1])
		}
	}
	body, err := block(src, "interface Client ")
	if err != nil {
		return nil, err
	}
	for _, m := range methodName.FindAllStringSubmatch(body, -1) {
		n.add(Methods, m[1])
	}
	body, err = block(src, "interface SilentAuthEventMap")
	if err != nil {
		return nil, err
	}
	for _, m := range propName.FindAllStringSubmatch(body, -1) {
		n.add(Events, m[1])
	}
	body, err = block(src, "type ErrorCode =")
	if err != nil {
		return nil, err
	}
	for _, m := range literal.FindAllStringSubmatch(body, -1) {
		n.add(Errors, m[1])
	}
	for _, m := range exported.FindAllStringSubmatch(src, -1) {
		n.add(Exports, m[1])
	}
	return n, nil
}

// Compare lists every disagreement: a name in one document and not the
// other, and a being-built mark on a name the declarations already have.
func Compare(doc, building, dts Names) []string {
	var problems []string
	for _, kind := range Kinds {
		for _, name := range doc.Sorted(kind) {
			if !dts[kind][name] {
				problems = append(problems, fmt.Sprintf("docs/API.md names %s %q, silentauth.d.ts does not declare it (declare it, or mark it %s in API.md)", kind, name, BeingBuilt))
			}
		}
		for _, name := range building.Sorted(kind) {
			if dts[kind][name] {
				problems = append(problems, fmt.Sprintf("docs/API.md marks %s %q %s, but silentauth.d.ts declares it: remove the mark", kind, name, BeingBuilt))
			}
		}
		for _, name := range dts.Sorted(kind) {
			if !doc[kind][name] && !building[kind][name] {
				problems = append(problems, fmt.Sprintf("silentauth.d.ts declares %s %q, docs/API.md does not name it", kind, name))
			}
		}
	}
	return problems
}
