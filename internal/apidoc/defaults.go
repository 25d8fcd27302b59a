package apidoc

import (
	"fmt"
	"regexp"
	"strings"
)

// OptionDefaults reads the default column of API.md's createClient options
// table: option name → the cell's text, code spans unwrapped. A row that
// names several options gives each the same default.
func OptionDefaults(md string) (map[string]string, error) {
	body, err := section(sections(md), "createClient(")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
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
		if len(cells) < 4 {
			continue
		}
		def := strings.TrimSpace(strings.ReplaceAll(cells[2], "`", ""))
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			if identOnly.MatchString(m[1]) {
				out[m[1]] = def
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("API.md's createClient section has no options table: has its layout changed?")
	}
	return out, nil
}

var (
	// docComment is a JSDoc comment and the option it documents.
	docComment = regexp.MustCompile(`(?s)/\*\*((?:[^*]|\*[^/])*)\*/\s*([A-Za-z_][A-Za-z0-9_]*)\??\s*:`)
	defaultTag = regexp.MustCompile(`@default[ \t]+([^\n*]*[^\s*])`)
)

// DTSDefaults reads the @default tag of each option's comment in the
// declarations' option types. Options without one are left out.
func DTSDefaults(src string) (map[string]string, error) {
	out := map[string]string{}
	for _, b := range []string{"interface BaseClientOptions", "type ClientOptions ="} {
		body, err := block(src, b)
		if err != nil {
			return nil, err
		}
		for _, m := range docComment.FindAllStringSubmatch(body, -1) {
			if d := defaultTag.FindStringSubmatch(m[1]); d != nil {
				out[m[2]] = d[1]
			}
		}
	}
	return out, nil
}

// CompareDefaults lists the options (those the declarations declare) whose
// default API.md does not give: no row, an empty default cell, or a cell
// that does not begin with the declarations' @default value.
func CompareDefaults(options []string, doc, dts map[string]string) []string {
	var problems []string
	for _, name := range options {
		cell, ok := doc[name]
		switch want, tagged := dts[name]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("docs/API.md's options table has no row for %q", name))
		case cell == "":
			problems = append(problems, fmt.Sprintf("docs/API.md gives option %q no default (write \"required\", \"none\" or the value)", name))
		case tagged && cell != want && !strings.HasPrefix(cell, want+" "):
			problems = append(problems, fmt.Sprintf("option %q: silentauth.d.ts says @default %s, docs/API.md's default is %q", name, want, cell))
		}
	}
	return problems
}
