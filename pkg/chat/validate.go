package chat

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits of protocol v1.
const (
	MaxContentChars  = 1000
	MaxClientIDLen   = 64
	MinPasswordChars = 8
	MaxPasswordChars = 128
	MaxAvatarChars   = 256
	MaxPageLimit     = 100
	DefaultPageLimit = 50
	MaxSearchResults = 20
)

// The name rules are checked byte by byte rather than with regexp: every
// message checks a room name or a user id, and a regexp match cost 2% of
// the server's CPU under make bench's load.

// nameOf reports whether s is lo to hi bytes of A-Z a-z 0-9 and punct.
func nameOf(s string, lo, hi int, punct string) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(punct, c) >= 0) {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a UUID in lower-case hex. Server-made ids
// (user and message ids) are UUIDs; anything else cannot exist, so it is
// refused before it reaches a store key.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func badInput(field, rule string) error { return &InputError{Field: field, Rule: rule} }

// ValidUsername checks the username rule.
func ValidUsername(s string) error {
	if !nameOf(s, 3, 32, "_.-") {
		return badInput("username", "3 to 32 characters of A-Z a-z 0-9 _ . -")
	}
	return nil
}

// ValidPassword checks the password rule.
func ValidPassword(s string) error {
	if !utf8.ValidString(s) {
		return badInput("password", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n < MinPasswordChars || n > MaxPasswordChars {
		return badInput("password", "8 to 128 characters")
	}
	return nil
}

// ValidRoom checks the room name rule.
func ValidRoom(s string) error {
	if !nameOf(s, 1, 64, "_-") {
		return badInput("room", "1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	return nil
}

// ValidClientID checks an optional client request id: empty, or 1..64
// printable ASCII characters.
func ValidClientID(s string) error {
	if len(s) > MaxClientIDLen {
		return badInput("id", "at most 64 printable ASCII characters")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return badInput("id", "at most 64 printable ASCII characters")
		}
	}
	return nil
}

// ValidID checks a server-made id (userId, messageId) named field.
func ValidID(field, s string) error {
	if !isUUID(s) {
		return badInput(field, "not a valid id")
	}
	return nil
}

// ValidText checks message text named field: 1..1000 Unicode characters,
// valid UTF-8, no control characters but tab, CR and LF.
func ValidText(field, s string) error {
	return validText(field, s, MaxContentChars)
}

func validText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return badInput(field, "must be valid UTF-8")
	}
	n := 0
	for _, r := range s {
		n++
		if unicode.IsControl(r) && r != '\t' && r != '\r' && r != '\n' {
			return badInput(field, "must not contain control characters")
		}
	}
	if n < 1 || n > max {
		return badInput(field, "1 to "+strconv.Itoa(max)+" characters")
	}
	return nil
}

// ValidAvatar checks an avatar: 1..256 characters of text without control
// characters (an emoji, or a file key once uploaded avatars exist).
func ValidAvatar(s string) error {
	return validText("avatar", s, MaxAvatarChars)
}
