package main

import (
	"io"
	"os"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    options
		wantErr bool
	}{
		{name: "defaults make renewals visible within a minute", args: nil,
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "environment sets the ports", env: map[string]string{"SILENTAUTH_TENANT_PORT": "4000", "SILENTAUTH_APP_PORT": "9000"},
			want: options{tenantPort: 4000, appPort: 9000, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "flags win over the environment", env: map[string]string{"SILENTAUTH_APP_PORT": "9000"}, args: []string{"-app-port", "9100", "-token-lifetime", "10s"},
			want: options{tenantPort: 3000, appPort: 9100, tokenLifetime: 10 * time.Second, sessionLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "another provider", args: []string{"-issuer", "https://op.example/", "-client-id", "abc"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, dist: "dist", issuer: "https://op.example/", clientID: "abc"}},
		{name: "refresh-token lifetime from the environment, overridden by the flag", env: map[string]string{"SILENTAUTH_REFRESH_TOKEN_LIFETIME": "1h"}, args: []string{"-refresh-token-lifetime", "5m"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, refreshLifetime: 5 * time.Minute, dist: "dist", clientID: "spa"}},
		{name: "refresh-token lifetime from the environment", env: map[string]string{"SILENTAUTH_REFRESH_TOKEN_LIFETIME": "1h"},
			want: options{tenantPort: 3000, appPort: 8080, tokenLifetime: 45 * time.Second, sessionLifetime: time.Hour, refreshLifetime: time.Hour, dist: "dist", clientID: "spa"}},
		{name: "another provider needs a client id", args: []string{"-issuer", "https://op.example/"}, wantErr: true},
		{name: "bad environment value is an error", env: map[string]string{"SILENTAUTH_APP_PORT": "x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SILENTAUTH_TENANT_PORT", "SILENTAUTH_APP_PORT", "SILENTAUTH_TOKEN_LIFETIME",
				"SILENTAUTH_SESSION_LIFETIME", "SILENTAUTH_DIST", "SILENTAUTH_ISSUER", "SILENTAUTH_CLIENT_ID", "SILENTAUTH_AUDIENCE", "SILENTAUTH_REFRESH_TOKEN_LIFETIME"} {
				t.Setenv(k, tt.env[k])
				if _, set := tt.env[k]; !set {
					unsetenv(t, k)
				}
			}
			got, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// unsetenv removes key for this test; t.Setenv already arranged its restoration.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
