package idtoken

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"strings"
	"testing"
	"time"
)

const testLeeway = 60 * time.Second

// newTestVerifier verifies iss's tokens with a fresh KeySet, 60 s leeway and
// clock as now.
func newTestVerifier(iss *idtokentest.Issuer, clock *fakeClock, edit func(*VerifierConfig)) *Verifier {
	cfg := VerifierConfig{
		Issuer:   iss.URL,
		ClientID: iss.ClientID,
		Leeway:   testLeeway,
		Now:      clock.Now,
		Keys:     newTestKeySet(iss.Fetch, clock),
	}
	if edit != nil {
		edit(&cfg)
	}
	return NewVerifier(cfg)
}

// Claim edits for the table below.
func set(name string, value any) func(map[string]any) {
	return func(c map[string]any) { c[name] = value }
}

func del(name string) func(map[string]any) {
	return func(c map[string]any) { delete(c, name) }
}

func at(d time.Duration) int64 { return idtokentest.Now.Add(d).Unix() }

// setUnusedBits re-encodes the last character of a 256-byte signature with
// its four unused bits set: the same bytes under lenient base64 decoding.
func setUnusedBits(raw string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	return raw[:len(raw)-1] + string(alphabet[last|0x0f])
}

func atHashOf(sum []byte) string { return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]) }

func TestVerify(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	stranger := idtokentest.SigningKey{Kid: "rsa-0", Private: idtokentest.RSAKey(t, 9)} // known kid, other key
	sha256Of := sha256.Sum256([]byte("access-token"))
	sha512Of := sha512.Sum512([]byte("access-token"))

	tests := []struct {
		name      string
		claims    []func(map[string]any)
		opts      []idtokentest.SignOpt
		raw       string // used instead of signing when not empty
		mangle    func(string) string
		config    func(*VerifierConfig)
		expected  func(*Expected) // starts from Expected{Nonce: idtokentest.Nonce}
		advance   time.Duration   // now is idtokentest.Now + advance
		wantCheck string          // "" means the token is valid
		wantDesc  string          // when set, the description contains it
	}{
		{name: "valid RS256 token passes"},
		{name: "valid ES256 token passes", opts: []idtokentest.SignOpt{idtokentest.WithAlg("ES256")}},
		{name: "valid PS256 token passes", opts: []idtokentest.SignOpt{idtokentest.WithAlg("PS256")}},
		{name: "token without kid passes when one key fits its alg", opts: []idtokentest.SignOpt{idtokentest.WithoutKid()}},

		{name: "two segments are malformed", raw: "eyJhbGciOiJSUzI1NiJ9.e30", wantCheck: "malformed"},
		{name: "header that is not base64url is malformed", raw: "!!!.e30.sig", wantCheck: "malformed"},
		{name: "claims that are not JSON are malformed", raw: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", wantCheck: "malformed"},
		{name: "token over 64 KiB is malformed", claims: []func(map[string]any){set("pad", strings.Repeat("x", 64<<10))},
			wantCheck: "malformed", wantDesc: "bytes, more than the 65536 allowed"},
		{name: "non-canonical base64 signature is malformed", mangle: setUnusedBits, wantCheck: "malformed"},
		{name: "non-string kid is malformed", opts: []idtokentest.SignOpt{idtokentest.WithHeader("kid", 7)}, wantCheck: "malformed"},
		{name: "critical header extension is malformed", opts: []idtokentest.SignOpt{idtokentest.WithHeader("crit", []string{"exp"})}, wantCheck: "malformed"},

		{name: "alg none is refused", opts: []idtokentest.SignOpt{idtokentest.WithAlg("none")}, wantCheck: "alg", wantDesc: `got "none"`},
		{name: "HS256 keyed with the RSA public key is refused", opts: []idtokentest.SignOpt{idtokentest.WithAlg("HS256")}, wantCheck: "alg", wantDesc: `got "HS256"`},
		{name: "alg outside the allow-list is refused", opts: []idtokentest.SignOpt{idtokentest.WithAlg("RS384")},
			config: func(c *VerifierConfig) { c.Algorithms = []string{"RS256"} }, wantCheck: "alg", wantDesc: `expected one of RS256 got "RS384"`},
		{name: "allow-list cannot enable none", opts: []idtokentest.SignOpt{idtokentest.WithAlg("none")},
			config: func(c *VerifierConfig) { c.Algorithms = []string{"none", "HS256", "RS256"} }, wantCheck: "alg", wantDesc: `expected one of RS256 got "none"`},
		{name: "allow-list cannot enable HS256", opts: []idtokentest.SignOpt{idtokentest.WithAlg("HS256")},
			config: func(c *VerifierConfig) { c.Algorithms = []string{"none", "HS256", "RS256"} }, wantCheck: "alg", wantDesc: `expected one of RS256 got "HS256"`},
		{name: "empty allow-list accepts nothing", config: func(c *VerifierConfig) { c.Algorithms = []string{} }, wantCheck: "alg"},
		{name: "ES256 header on an RSA kid is refused", opts: []idtokentest.SignOpt{idtokentest.WithAlg("ES256"), idtokentest.WithKid("rsa-0")}, wantCheck: "alg"},
		{name: "RS256 header on an EC kid is refused", opts: []idtokentest.SignOpt{idtokentest.WithKid("ec-0")}, wantCheck: "alg"},
		{name: "unknown alg is refused", opts: []idtokentest.SignOpt{idtokentest.WithHeader("alg", "XY999")}, wantCheck: "alg"},
		{name: "missing alg is refused", opts: []idtokentest.SignOpt{idtokentest.WithHeader("alg", nil)}, wantCheck: "alg", wantDesc: "got none"},

		{name: "tampered signature fails", opts: []idtokentest.SignOpt{idtokentest.WithBadSignature()}, wantCheck: "signature"},
		{name: "tampered ES256 signature fails", opts: []idtokentest.SignOpt{idtokentest.WithAlg("ES256"), idtokentest.WithBadSignature()}, wantCheck: "signature"},
		{name: "other key under a known kid fails", opts: []idtokentest.SignOpt{idtokentest.WithKey(stranger)}, wantCheck: "signature"},
		{name: "unknown kid fails", opts: []idtokentest.SignOpt{idtokentest.WithKid("who")}, wantCheck: "signature", wantDesc: `no key with kid "who"`},
		{name: "signature is checked before claims", opts: []idtokentest.SignOpt{idtokentest.WithBadSignature()},
			claims: []func(map[string]any){set("iss", "https://evil.example.com/")}, wantCheck: "signature"},

		{name: "other issuer fails", claims: []func(map[string]any){set("iss", "https://evil.example.com/")},
			wantCheck: "iss", wantDesc: `expected "https://login.example.com/" got "https://evil.example.com/"`},
		{name: "issuer without trailing slash fails", claims: []func(map[string]any){set("iss", "https://login.example.com")}, wantCheck: "iss"},
		{name: "missing issuer fails", claims: []func(map[string]any){del("iss")}, wantCheck: "iss", wantDesc: "got none"},

		{name: "missing sub fails", claims: []func(map[string]any){del("sub")}, wantCheck: "sub"},
		{name: "empty sub fails", claims: []func(map[string]any){set("sub", "")}, wantCheck: "sub"},
		{name: "numeric sub fails", claims: []func(map[string]any){set("sub", 42)}, wantCheck: "sub"},

		{name: "other audience fails", claims: []func(map[string]any){set("aud", "other")}, wantCheck: "aud", wantDesc: `expected "spa" got "other"`},
		{name: "missing audience fails", claims: []func(map[string]any){del("aud")}, wantCheck: "aud"},
		{name: "audience array with the client passes", claims: []func(map[string]any){set("aud", []string{"spa"})}},
		{name: "audience array without the client fails", claims: []func(map[string]any){set("aud", []string{"a", "b"})}, wantCheck: "aud"},
		{name: "audience array with a non-string fails", claims: []func(map[string]any){set("aud", []any{"spa", 1})}, wantCheck: "aud"},

		{name: "several audiences without azp fail", claims: []func(map[string]any){set("aud", []string{"spa", "api"})},
			wantCheck: "azp", wantDesc: `expected "spa" got none`},
		{name: "several audiences with azp of the client pass", claims: []func(map[string]any){set("aud", []string{"spa", "api"}), set("azp", "spa")}},
		{name: "several audiences with another azp fail", claims: []func(map[string]any){set("aud", []string{"spa", "api"}), set("azp", "api")}, wantCheck: "azp"},
		{name: "one audience with azp of the client passes", claims: []func(map[string]any){set("azp", "spa")}},
		{name: "one audience with another azp fails", claims: []func(map[string]any){set("azp", "other")}, wantCheck: "azp"},

		{name: "missing exp fails", claims: []func(map[string]any){del("exp")}, wantCheck: "exp"},
		{name: "non-numeric exp fails", claims: []func(map[string]any){set("exp", "tomorrow")}, wantCheck: "exp"},
		{name: "absurd exp fails", claims: []func(map[string]any){set("exp", 1e300)}, wantCheck: "exp"},
		{name: "expired within the leeway passes", advance: time.Hour + testLeeway},
		{name: "expired beyond the leeway fails", advance: time.Hour + testLeeway + time.Second,
			wantCheck: "exp", wantDesc: "token expired at 2026-03-01T13:00:00Z (now 2026-03-01T13:01:01Z, leeway 60s)"},
		{name: "fractional exp is honoured", claims: []func(map[string]any){set("exp", float64(at(time.Hour))+0.5)},
			advance: time.Hour + testLeeway + 600*time.Millisecond, wantCheck: "exp"},

		{name: "missing iat fails", claims: []func(map[string]any){del("iat")}, wantCheck: "iat"},
		{name: "iat in the future within the leeway passes", claims: []func(map[string]any){set("iat", at(testLeeway))}},
		{name: "iat in the future beyond the leeway fails", claims: []func(map[string]any){set("iat", at(testLeeway+time.Second))}, wantCheck: "iat"},

		{name: "nbf in the past passes", claims: []func(map[string]any){set("nbf", at(-time.Minute))}},
		{name: "nbf within the leeway passes", claims: []func(map[string]any){set("nbf", at(testLeeway))}},
		{name: "nbf beyond the leeway fails", claims: []func(map[string]any){set("nbf", at(testLeeway+time.Second))}, wantCheck: "nbf"},
		{name: "non-numeric nbf fails", claims: []func(map[string]any){set("nbf", true)}, wantCheck: "nbf"},

		{name: "other nonce fails", claims: []func(map[string]any){set("nonce", "replayed")}, wantCheck: "nonce",
			wantDesc: `nonce does not match`},
		{name: "missing nonce fails", claims: []func(map[string]any){del("nonce")}, wantCheck: "nonce"},
		{name: "nonce prefix fails", claims: []func(map[string]any){set("nonce", idtokentest.Nonce[:4])}, wantCheck: "nonce"},
		{name: "empty expected nonce skips the check", claims: []func(map[string]any){del("nonce")},
			expected: func(e *Expected) { e.Nonce = "" }},

		{name: "max_age with a recent auth_time passes", expected: func(e *Expected) { e.HasMaxAge, e.MaxAge = true, 10*time.Minute }},
		{name: "max_age without auth_time fails", claims: []func(map[string]any){del("auth_time")},
			expected: func(e *Expected) { e.HasMaxAge, e.MaxAge = true, 10*time.Minute }, wantCheck: "auth_time"},
		{name: "auth_time older than max_age within the leeway passes", claims: []func(map[string]any){set("auth_time", at(-10*time.Minute-testLeeway))},
			expected: func(e *Expected) { e.HasMaxAge, e.MaxAge = true, 10*time.Minute }},
		{name: "auth_time older than max_age beyond the leeway fails", claims: []func(map[string]any){set("auth_time", at(-10*time.Minute-testLeeway-time.Second))},
			expected: func(e *Expected) { e.HasMaxAge, e.MaxAge = true, 10*time.Minute }, wantCheck: "auth_time"},
		{name: "max_age=0 needs a fresh login", claims: []func(map[string]any){set("auth_time", at(-2*time.Minute))},
			expected: func(e *Expected) { e.HasMaxAge = true }, wantCheck: "auth_time"},
		{name: "old auth_time is fine without max_age", claims: []func(map[string]any){set("auth_time", at(-240*time.Hour))}},

		{name: "matching at_hash passes", claims: []func(map[string]any){set("at_hash", atHashOf(sha256Of[:]))},
			expected: func(e *Expected) { e.AccessToken = "access-token" }},
		{name: "at_hash of another access token fails", claims: []func(map[string]any){set("at_hash", atHashOf(sha256Of[:]))},
			expected: func(e *Expected) { e.AccessToken = "other-token" }, wantCheck: "at_hash"},
		{name: "at_hash under RS512 uses SHA-512", opts: []idtokentest.SignOpt{idtokentest.WithAlg("RS512")}, claims: []func(map[string]any){set("at_hash", atHashOf(sha512Of[:]))},
			expected: func(e *Expected) { e.AccessToken = "access-token" }},
		{name: "SHA-256 at_hash under RS512 fails", opts: []idtokentest.SignOpt{idtokentest.WithAlg("RS512")}, claims: []func(map[string]any){set("at_hash", atHashOf(sha256Of[:]))},
			expected: func(e *Expected) { e.AccessToken = "access-token" }, wantCheck: "at_hash"},
		{name: "absent at_hash passes when not required", expected: func(e *Expected) { e.AccessToken = "access-token" }},
		{name: "absent at_hash fails when required", expected: func(e *Expected) { e.AccessToken, e.RequireAtHash = "access-token", true },
			wantCheck: "at_hash", wantDesc: "missing"},
		{name: "required at_hash that matches passes", claims: []func(map[string]any){set("at_hash", atHashOf(sha256Of[:]))},
			expected: func(e *Expected) { e.AccessToken, e.RequireAtHash = "access-token", true }},

		{name: "iss is checked before exp", claims: []func(map[string]any){set("iss", "x")}, advance: 48 * time.Hour, wantCheck: "iss"},
		{name: "exp is checked before nonce", claims: []func(map[string]any){set("nonce", "x")}, advance: 48 * time.Hour, wantCheck: "exp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == "" {
				claims := iss.Claims(idtokentest.Now)
				for _, edit := range tt.claims {
					edit(claims)
				}
				raw = iss.Sign(t, claims, tt.opts...)
			}
			if tt.mangle != nil {
				raw = tt.mangle(raw)
			}
			clock := newFakeClock(idtokentest.Now.Add(tt.advance))
			v := newTestVerifier(iss, clock, tt.config)
			exp := Expected{Nonce: idtokentest.Nonce}
			if tt.expected != nil {
				tt.expected(&exp)
			}

			claims, err := v.Verify(context.Background(), raw, exp)
			if tt.wantCheck == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims["sub"] != "auth0|user-1" {
					t.Fatalf("claims[sub] = %v, want the token's subject", claims["sub"])
				}
				if _, ok := claims["exp"].(float64); !ok {
					t.Fatalf("claims[exp] is %T, want float64", claims["exp"])
				}
				return
			}
			if claims != nil {
				t.Errorf("Verify returned claims with an error")
			}
			wantTokenError(t, err, tt.wantCheck)
			// The expected nonce is this request's secret: no error text quotes it.
			if strings.Contains(err.Error(), idtokentest.Nonce) {
				t.Fatalf("error = %q quotes the expected nonce", err)
			}
			if !strings.Contains(err.Error(), tt.wantDesc) {
				t.Fatalf("error = %q, want it to contain %q", err, tt.wantDesc)
			}
		})
	}
}

func TestVerifyReturnsKeyFetchErrorsAsIs(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	raw := iss.Sign(t, iss.Claims(idtokentest.Now))
	tests := []struct {
		name  string
		fetch func(context.Context) ([]byte, error)
		want  error
	}{
		{"a fetch's failure is returned as it is", func(context.Context) ([]byte, error) { return nil, errFetch }, errFetch},
		{"a bad JWKS fails the jwks check", func(context.Context) ([]byte, error) { return []byte("<html>"), nil }, errJWKS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(VerifierConfig{Issuer: iss.URL, ClientID: iss.ClientID, Now: newFakeClock(idtokentest.Now).Now, Keys: NewKeySet(tt.fetch)})
			_, err := v.Verify(context.Background(), raw, Expected{Nonce: idtokentest.Nonce})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyAcceptsTokenSignedAfterRotation(t *testing.T) {
	iss := idtokentest.NewIssuer(t)
	clock := newFakeClock(idtokentest.Now)
	v := newTestVerifier(iss, clock, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, iss.Sign(t, iss.Claims(clock.Now())), Expected{Nonce: idtokentest.Nonce}); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	clock.Advance(30 * time.Minute)
	iss.Rotate(t)
	if _, err := v.Verify(ctx, iss.Sign(t, iss.Claims(clock.Now())), Expected{Nonce: idtokentest.Nonce}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := iss.Fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2 (initial, and one for the new kid)", n)
	}
}

func benchmarkVerify(b *testing.B, opts ...idtokentest.SignOpt) {
	iss := idtokentest.NewIssuer(b)
	clock := newFakeClock(idtokentest.Now)
	v := newTestVerifier(iss, clock, nil)
	raw := iss.Sign(b, iss.Claims(idtokentest.Now), opts...)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw, Expected{Nonce: idtokentest.Nonce}); err != nil {
		b.Fatal(err) // also warms the key cache
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw, Expected{Nonce: idtokentest.Nonce}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b) }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, idtokentest.WithAlg("ES256")) }
