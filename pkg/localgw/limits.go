package localgw

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// errFrameTooLarge ends reading from a client that sent a frame whose
// payload exceeds Limits.FrameBytes.
var errFrameTooLarge = errors.New("localgw: frame exceeds the frame size limit")

// frameGuard passes a client's bytes through unchanged while following the
// RFC 6455 frame headers in them, and fails the read that would deliver the
// header of a frame longer than limit. The WebSocket library hides frames,
// so this is the only place that sees them.
type frameGuard struct {
	src   io.Reader
	limit uint64

	hdr  [14]byte // header being collected (at most 2+8+4 bytes)
	n    int      // header bytes collected
	need int      // header length, known once the second byte is in
	left uint64   // payload bytes of the current frame still to pass

	tripped atomic.Bool
}

func (f *frameGuard) Read(p []byte) (int, error) {
	if f.tripped.Load() {
		return 0, errFrameTooLarge
	}
	n, err := f.src.Read(p)
	headerStart := 0 // where in p the header being collected began
	for i := 0; i < n; {
		if f.left > 0 {
			skip := min(f.left, uint64(n-i))
			i += int(skip)
			f.left -= skip
			continue
		}
		if f.n == 0 {
			headerStart = i
		}
		f.hdr[f.n] = p[i]
		f.n++
		i++
		if f.n == 2 {
			f.need = headerLength(f.hdr[1])
		}
		if f.n < 2 || f.n < f.need {
			continue
		}
		length := payloadLength(f.hdr[:f.n])
		f.n, f.need = 0, 0
		if length > f.limit {
			f.tripped.Store(true)
			// Deliver only what precedes the offending frame.
			return headerStart, errFrameTooLarge
		}
		f.left = length
	}
	return n, err
}

// headerLength returns the length of a frame header from its second byte:
// 2 bytes, plus 2 or 8 of extended length, plus 4 of mask key.
func headerLength(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func payloadLength(hdr []byte) uint64 {
	switch l := hdr[1] & 0x7f; l {
	case 126:
		return uint64(hdr[2])<<8 | uint64(hdr[3])
	case 127:
		var v uint64
		for _, b := range hdr[2:10] {
			v = v<<8 | uint64(b)
		}
		return v
	default:
		return uint64(l)
	}
}

// guardedConn is the hijacked connection with its reads going through a
// frameGuard.
type guardedConn struct {
	net.Conn
	guard *frameGuard
}

func (c *guardedConn) Read(p []byte) (int, error) { return c.guard.Read(p) }

// guardedWriter hands the WebSocket library a hijacked connection whose
// reads pass through guard and whose writes pass through cork.
type guardedWriter struct {
	http.ResponseWriter
	guard *frameGuard
	cork  *corkConn
}

func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The server's read and write deadlines were meant for the handshake.
	_ = conn.SetDeadline(time.Time{})
	// Bytes the server already buffered are the first the guard sees;
	// then it reads the connection itself, so that the server's 4 KiB
	// buffer is not held for the connection's life.
	w.guard.src = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		w.guard.src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	gc := &guardedConn{Conn: conn, guard: w.guard}
	// The library writes through the cork, so that the connection's
	// writer can send several frames at once (outbox.go).
	w.cork.Conn = conn
	return gc, bufio.NewReadWriter(bufio.NewReaderSize(gc, readBuffer), bufio.NewWriterSize(w.cork, writeBuffer)), nil
}

// readBuffer and writeBuffer size the library's buffers of a connection,
// which every connection holds, idle or not. Client frames are small (a
// chat frame is well under 1 KiB; a longer one only takes more reads).
// Pushes are written into the cork (outbox.go), which sends a batch with
// one syscall whatever this buffer's size: a bigger one would only copy in
// bigger pieces.
const (
	readBuffer  = 1 << 10
	writeBuffer = 1 << 10
)
