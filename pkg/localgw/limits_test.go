package localgw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// frame builds a masked client frame with a payload of n bytes, using the
// 7-bit, 16-bit or 64-bit length form as RFC 6455 requires.
func frame(n int) []byte {
	var b []byte
	b = append(b, 0x81) // FIN, text
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 1, 2, 3, 4) // mask key
	return append(b, bytes.Repeat([]byte{'x'}, n)...)
}

func TestFrameGuard(t *testing.T) {
	stream := bytes.Join([][]byte{frame(0), frame(125), frame(126), frame(300), frame(70000)}, nil)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			g := &frameGuard{src: wrap(bytes.NewReader(stream)), limit: 70000}
			got, err := io.ReadAll(g)
			if err != nil || !bytes.Equal(got, stream) {
				t.Fatalf("frames within the limit: %d of %d bytes, err %v", len(got), len(stream), err)
			}

			for _, limit := range []uint64{299, 69999} {
				g = &frameGuard{src: wrap(bytes.NewReader(stream)), limit: limit}
				got, err = io.ReadAll(g)
				if !errors.Is(err, errFrameTooLarge) || !g.tripped.Load() {
					t.Fatalf("limit %d: err %v", limit, err)
				}
				// Nothing of the offending frame's payload got through.
				before := len(frame(0)) + len(frame(125)) + len(frame(126))
				if limit == 69999 {
					before += len(frame(300))
				}
				header := 14
				if limit == 299 {
					header = 8
				}
				if len(got) < before || len(got) >= before+header {
					t.Errorf("limit %d: passed %d bytes, want the %d before the frame plus at most part of its header", limit, len(got), before)
				}
			}
		})
	}
}

func TestParseSelectionExpression(t *testing.T) {
	for expr, want := range map[string]string{
		"$request.body.action":     "action",
		"${request.body.action}":   "action",
		"$request.body.meta.route": "meta.route",
	} {
		got, err := parseSelectionExpression(expr)
		if err != nil || strings.Join(got, ".") != want {
			t.Errorf("%q: %v %v", expr, got, err)
		}
	}
	for _, expr := range []string{"$request.header.x", "action", "$request.body."} {
		if _, err := parseSelectionExpression(expr); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
}
