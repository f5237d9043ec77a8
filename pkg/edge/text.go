package edge

import (
	"strconv"
	"unicode/utf8"
)

// wellFormedText reports whether a JSON body is valid UTF-8 and escapes no
// lone surrogate. encoding/json would turn either into U+FFFD, storing text
// the sender never sent; the protocol refuses it instead.
func wellFormedText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // an escaped character, possibly a backslash
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			return false
		}
		next := i + 6
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := hex4(b, next+2)
			if !ok || b[next] != '\\' || b[next+1] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			next += 6
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		}
		i = next - 1
	}
	return true
}

// hex4 reads the four hex digits at b[at:].
func hex4(b []byte, at int) (uint64, bool) {
	if at < 0 || at+4 > len(b) {
		return 0, false
	}
	r, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	return r, err == nil
}
