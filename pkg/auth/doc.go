// Package auth provides the token and password adapters of the chat
// domain: HS256 JSON Web Tokens (github.com/golang-jwt/jwt/v5) with a
// pinned algorithm, required expiry, issuer and audience, and bcrypt
// password hashes.
package auth
