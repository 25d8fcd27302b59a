package apidoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// read is the file at rel, a path from the repository root: two levels
// above this package (internal/apidoc), in the SDK module itself, so the
// contract test runs without the demo module.
func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAPIDocMatchesDeclarations is the cross-check: every option, client
// method, event, error code and export in docs/API.md is declared in
// silentauth.d.ts and the other way round; an entry API.md marks as being
// built must not be declared yet.
func TestAPIDocMatchesDeclarations(t *testing.T) {
	doc, building, err := ParseAPIMarkdown(read(t, "docs/API.md"))
	if err != nil {
		t.Fatal(err)
	}
	dts, err := ParseDTS(read(t, "wasm/loader/silentauth.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Compare(doc, building, dts) {
		t.Error(p)
	}
	for _, kind := range Kinds {
		t.Logf("%s: %v (being built: %v)", kind, doc.Sorted(kind), building.Sorted(kind))
	}
}

// TestCompareCatchesDrift pins that the cross-check can fail: each edit of
// one side that the other does not follow is reported.
func TestCompareCatchesDrift(t *testing.T) {
	md := `## Loading
- ` + "`createClient(options)`" + `: x.
## createClient(options) → Promise<Client>
| option | default | meaning |
| --- | --- | --- |
| ` + "`domain`" + ` | required | x |
| ` + "`issuer`, `jwksUri`" + ` | discovery | x |
| ` + "`useRefreshTokens`" + ` | false | *(being built)* x |
## Client
- ` + "`checkSession(params?)`, `on(event, handler)`" + `: x.
### Parameters
- ` + "`notAMethod(x)`" + `: x.
## Errors
| ` + "`error`" + ` | when |
| --- | --- |
| ` + "`timeout`, `login_required`" + ` | x |
## Events
| event | payload | when |
| --- | --- | --- |
| ` + "`renewed`" + ` | AuthResult | x |
`
	dts := `
export interface BaseClientOptions {
  /** a comment: with colon */
  domain: string;
  issuer?: string;
  jwksUri?: string;
}
export type ClientOptions = BaseClientOptions & (
  | {
      clientId: string;
    }
  | {
      clientID: string;
    }
);
export type ErrorCode = "timeout" | "login_required" | (string & {});
export interface SilentAuthEventMap {
  renewed: AuthResult;
}
export interface Client {
  checkSession(params?: AuthorizeParams): Promise<AuthResult>;
  on<K extends SilentAuthEvent>(event: K, handler: H<K>): () => void;
}
export function createClient(options: ClientOptions): Promise<Client>;
`
	doc, building, err := ParseAPIMarkdown(md)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDTS(dts)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Compare(doc, building, d), "\n")
	for _, want := range []string{
		`silentauth.d.ts declares option "clientId", docs/API.md does not name it`,
		`silentauth.d.ts declares option "clientID", docs/API.md does not name it`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "notAMethod") || strings.Contains(got, "useRefreshTokens") || strings.Count(got, "\n") != 1 {
		t.Errorf("unexpected problems:\n%s", got)
	}

	for _, tc := range []struct{ name, md, dts, want string }{
		{"an option only the docs name", md, strings.Replace(dts, "jwksUri?: string;", "", 1), `docs/API.md names option "jwksUri"`},
		{"a method only the declarations have", md, strings.Replace(dts, "  on<K", "  off(x: string): void;\n  on<K", 1), `declares client method "off"`},
		{"an error code only the docs name", strings.Replace(md, "`timeout`, ", "`timeout`, `invalid_grant`, ", 1), dts, `names error code "invalid_grant"`},
		{"an event only the declarations have", md, strings.Replace(dts, "renewed: AuthResult;", "renewed: AuthResult;\n  renew_error: E;", 1), `declares event "renew_error"`},
		{"a being-built mark that outlived the work", md, strings.Replace(dts, "domain: string;", "domain: string;\n  useRefreshTokens?: boolean;", 1), `marks option "useRefreshTokens" *(being built)*, but silentauth.d.ts declares it`},
		{"an export only the declarations have", md, dts + "export function stats(): Promise<S>;\n", `declares export "stats"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, building, err := ParseAPIMarkdown(tc.md)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDTS(tc.dts)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(Compare(doc, building, d), "\n"); !strings.Contains(got, tc.want) {
				t.Errorf("want %q among:\n%s", tc.want, got)
			}
		})
	}
}

// TestEveryOptionHasItsDefaultInAPIDoc: every option the declarations
// declare has a row in API.md's options table with a default, and where
// the declarations give @default, API.md gives the same value.
func TestEveryOptionHasItsDefaultInAPIDoc(t *testing.T) {
	md, dtsSrc := read(t, "docs/API.md"), read(t, "wasm/loader/silentauth.d.ts")
	doc, err := OptionDefaults(md)
	if err != nil {
		t.Fatal(err)
	}
	dts, err := ParseDTS(dtsSrc)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := DTSDefaults(dtsSrc)
	if err != nil {
		t.Fatal(err)
	}
	if len(tagged) < 5 {
		t.Fatalf("only %d @default tags read from silentauth.d.ts: has its layout changed?", len(tagged))
	}
	for _, p := range CompareDefaults(dts.Sorted(Options), doc, tagged) {
		t.Error(p)
	}
}

// TestCompareDefaultsCatchesDrift pins that the defaults check can fail.
func TestCompareDefaultsCatchesDrift(t *testing.T) {
	md := `## createClient(options) → Promise<Client>
| option | default | meaning |
| --- | --- | --- |
| ` + "`timeoutInSeconds`" + ` | ` + "`60`" + ` | x |
| ` + "`sessionCheckIntervalInSeconds`" + ` | ` + "`0`" + ` (off) | x |
| ` + "`issuer`, `jwksUri`" + ` | from discovery | x |
| ` + "`clientID`" + ` | | x |
`
	dts := `
export interface BaseClientOptions {
  /**
   * A comment.
   * @default 60
   */
  timeoutInSeconds?: number;
  /** @default 0 */
  sessionCheckIntervalInSeconds?: number;
  /** Default: from discovery. */
  issuer?: string;
  jwksUri?: string;
}
export type ClientOptions = BaseClientOptions & ({ clientID: string });
`
	doc, err := OptionDefaults(md)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := DTSDefaults(dts)
	if err != nil {
		t.Fatal(err)
	}
	if tagged["timeoutInSeconds"] != "60" || tagged["sessionCheckIntervalInSeconds"] != "0" || len(tagged) != 2 {
		t.Fatalf("@default tags read as %v", tagged)
	}
	for _, tc := range []struct {
		name    string
		options []string
		doc     map[string]string
		want    string // "" for no problem
	}{
		{"a matching default, and one with a remark after it", []string{"timeoutInSeconds", "sessionCheckIntervalInSeconds", "issuer", "jwksUri"}, doc, ""},
		{"an empty default cell", []string{"clientID"}, doc, `gives option "clientID" no default`},
		{"an option without a row", []string{"wasmUrl"}, doc, `has no row for "wasmUrl"`},
		{"a default that differs", []string{"timeoutInSeconds"}, map[string]string{"timeoutInSeconds": "600"}, `says @default 60, docs/API.md's default is "600"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(CompareDefaults(tc.options, tc.doc, tagged), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
