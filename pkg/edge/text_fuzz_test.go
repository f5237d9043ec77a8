package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonStrings decodes every string literal of a valid JSON document, keys
// included, in document order, the way RFC 8259 reads them: escapes of
// UTF-16 code units joined into characters. ok is false when a literal
// holds a code unit that is not part of a character (a lone surrogate) or
// the document is not valid UTF-8. It shares no code with wellFormedText.
func jsonStrings(b []byte) (strs []string, ok bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		var out []rune
		var units []uint16 // a run of \u escapes, decoded when it ends
		flush := func() bool {
			for _, r := range utf16.Decode(units) {
				if r == utf8.RuneError {
					return false // utf16.Decode's answer to an unpaired surrogate
				}
				out = append(out, r)
			}
			units = units[:0]
			return true
		}
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' && b[i+1] == 'u' {
				v, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
				if v == 0xFFFD {
					// Kept apart: utf16.Decode answers U+FFFD for errors too.
					if !flush() {
						return nil, false
					}
					out = append(out, 0xFFFD)
				} else {
					units = append(units, uint16(v))
				}
				i += 5
				continue
			}
			if !flush() {
				return nil, false
			}
			if b[i] == '\\' {
				i++
				out = append(out, map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[b[i]])
				continue
			}
			r, size := utf8.DecodeRune(b[i:])
			out = append(out, r)
			i += size - 1
		}
		if !flush() {
			return nil, false
		}
		strs = append(strs, string(out))
	}
	return strs, true
}

// FuzzWellFormedText cross-checks wellFormedText against jsonStrings on
// valid JSON, and checks what the check is for: a body it accepts decodes
// (encoding/json) to exactly the text that was sent. Seeds are in
// testdata/fuzz/FuzzWellFormedText.
func FuzzWellFormedText(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		want, ok := jsonStrings(b)
		if got := wellFormedText(b); got != ok {
			t.Fatalf("wellFormedText(%q) = %v, reference says %v", b, got, ok)
		}
		if !ok {
			return
		}
		var got []string
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // numbers are not the point, and 1e700 has no float64
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if s, isString := tok.(string); isString {
				got = append(got, s)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: encoding/json read %d strings, the reference %d", b, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: encoding/json read %q, the sender sent %q", b, got[i], want[i])
			}
		}
	})
}
