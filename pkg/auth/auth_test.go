package auth_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokensRoundTrip(t *testing.T) {
	tok, err := auth.NewJWTTokens(secret)
	if err != nil {
		t.Fatal(err)
	}
	id := chat.Identity{UserID: "u1", Username: "alice"}
	s, exp, err := tok.Issue(id)
	if err != nil || time.Until(exp) < 23*time.Hour {
		t.Fatalf("issue: %v, exp %v", err, exp)
	}
	got, err := tok.Verify(s)
	if err != nil || got != id {
		t.Fatalf("verify = %+v, %v", got, err)
	}
}

func TestWeakSecretRefused(t *testing.T) {
	if _, err := auth.NewJWTTokens([]byte("short")); !errors.Is(err, auth.ErrWeakSecret) {
		t.Fatalf("err = %v", err)
	}
}

func TestHostileTokensRefused(t *testing.T) {
	now := time.Now()
	tok, _ := auth.NewJWTTokens(secret)
	good := jwt.MapClaims{
		"sub": "u1", "name": "alice", "iss": auth.DefaultIssuer, "aud": auth.DefaultAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	unsigned := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := sign(t, jwt.SigningMethodHS256, secret, good)
	parts := strings.Split(valid, ".")
	cases := map[string]string{
		"alg none":          unsigned(good),
		"HS512 same secret": sign(t, jwt.SigningMethodHS512, secret, good),
		"wrong secret":      sign(t, jwt.SigningMethodHS256, []byte("ffffffffffffffffffffffffffffffff"), good),
		"expired":           sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())),
		"no exp":            sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)),
		"wrong issuer":      sign(t, jwt.SigningMethodHS256, secret, with("iss", "someone-else")),
		"wrong audience":    sign(t, jwt.SigningMethodHS256, secret, with("aud", "other-app")),
		"no subject":        sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)),
		"not yet valid":     sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())),
		"tampered payload":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","name":"admin"}`)) + "." + parts[2],
		"garbage":           "not.a.token",
		"empty":             "",
	}
	if _, err := tok.Verify(valid); err != nil {
		t.Fatalf("the untampered token must pass: %v", err)
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := tok.Verify(s); !errors.Is(err, chat.ErrUnauthorized) {
				t.Fatalf("err = %v, want unauthorized", err)
			}
		})
	}
}

func TestPasswords(t *testing.T) {
	p := auth.BcryptPasswords{Cost: 4}
	long := strings.Repeat("x", 100)
	h, err := p.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify(h, long) {
		t.Fatal("right password refused")
	}
	// bcrypt alone would ignore everything after byte 72.
	if p.Verify(h, strings.Repeat("x", 99)+"y") {
		t.Fatal("password differing after byte 72 accepted")
	}
	if p.Verify(h, "") || p.Verify("not-a-hash", long) {
		t.Fatal("wrong password or hash accepted")
	}
}
