package client

import (
	"errors"
	"fmt"
)

// Error is a request the server refused: an `error` frame on the
// WebSocket, or an HTTP error body. Code is one of the protocol's error
// codes (protocol.CodeBadRequest, ...); Status is the HTTP status, 0 for a
// WebSocket error.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error implements error.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("minichat: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
	}
	return fmt.Sprintf("minichat: %s: %s", e.Code, e.Message)
}

// Sentinel errors of the client.
var (
	// ErrFull is JoinRoom's answer when all eight seats are taken.
	ErrFull = errors.New("client: room is full")
	// ErrClosed is returned by calls on, or pending during, Close.
	ErrClosed = errors.New("client: closed")
	// ErrNotDialed is returned by WebSocket requests made before Dial.
	ErrNotDialed = errors.New("client: Dial has not been called")
	// ErrTimeout is returned when a request was written on several
	// connections and none of them answered it within the request timeout.
	ErrTimeout = errors.New("client: no answer from the server")
	// ErrNoToken is returned by calls that need a token before Register,
	// Login or SetSession gave one.
	ErrNoToken = errors.New("client: no token: call Register, Login or SetSession first")
)

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
