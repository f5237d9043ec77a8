package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/minichatbar/minichat/pkg/chat"
)

// MinSecretLen is the shortest HS256 secret accepted: shorter keys can be
// brute-forced offline from any token.
const MinSecretLen = 32

// Defaults of JWTTokens.
const (
	DefaultIssuer   = "minichat"
	DefaultAudience = "minichat-clients"
	DefaultTTL      = 24 * time.Hour
	DefaultLeeway   = 30 * time.Second
)

// ErrWeakSecret is returned by NewJWTTokens for a secret shorter than
// MinSecretLen.
var ErrWeakSecret = errors.New("auth: JWT secret must be at least 32 bytes")

var _ chat.Tokens = (*JWTTokens)(nil)

// JWTTokens issues and verifies HS256 tokens.
type JWTTokens struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	now      func() time.Time
}

// JWTOption configures JWTTokens.
type JWTOption func(*JWTTokens)

// WithTTL sets how long issued tokens live.
func WithTTL(d time.Duration) JWTOption { return func(t *JWTTokens) { t.ttl = d } }

// WithClock sets the clock used to issue and verify tokens (tests).
func WithClock(now func() time.Time) JWTOption { return func(t *JWTTokens) { t.now = now } }

// WithIssuer sets the issuer and audience written and required.
func WithIssuer(issuer, audience string) JWTOption {
	return func(t *JWTTokens) { t.issuer, t.audience = issuer, audience }
}

// NewJWTTokens returns a token adapter signing with secret.
func NewJWTTokens(secret []byte, opts ...JWTOption) (*JWTTokens, error) {
	if len(secret) < MinSecretLen {
		return nil, ErrWeakSecret
	}
	t := &JWTTokens{
		secret:   append([]byte(nil), secret...),
		issuer:   DefaultIssuer,
		audience: DefaultAudience,
		ttl:      DefaultTTL,
		leeway:   DefaultLeeway,
		now:      time.Now,
	}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

type claims struct {
	Username string `json:"name"`
	jwt.RegisteredClaims
}

// Issue returns a signed token for id.
func (t *JWTTokens) Issue(id chat.Identity) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	c := claims{
		Username: id.Username,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.UserID,
			Issuer:    t.issuer,
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks the signature (HS256 only: "none" and every other
// algorithm are refused), exp (required), nbf, iss and aud.
func (t *JWTTokens) Verify(token string) (chat.Identity, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithLeeway(t.leeway),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return chat.Identity{}, fmt.Errorf("%w: %v", chat.ErrUnauthorized, err)
	}
	if c.Subject == "" || c.Username == "" {
		return chat.Identity{}, fmt.Errorf("%w: token without subject", chat.ErrUnauthorized)
	}
	return chat.Identity{UserID: c.Subject, Username: c.Username}, nil
}
