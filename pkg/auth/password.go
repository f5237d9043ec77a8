package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/minichatbar/minichat/pkg/chat"
)

var _ chat.Passwords = BcryptPasswords{}

// BcryptPasswords hashes passwords with bcrypt, an adaptive hash whose
// comparison is constant-time. Cost 0 means bcrypt.DefaultCost. Passwords
// are pre-hashed with SHA-256 because bcrypt reads only 72 bytes and the
// protocol allows 128 characters.
type BcryptPasswords struct {
	Cost int
}

// Hash returns the bcrypt hash of password.
func (b BcryptPasswords) Hash(password string) (string, error) {
	cost := b.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword(prehash(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Verify reports whether password matches hash.
func (BcryptPasswords) Verify(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), prehash(password)) == nil
}

func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}
