package chat

import (
	"errors"
	"time"
)

// Domain errors. Edges map them to protocol codes with errors.Is; the text
// of any other error never reaches a client.
var (
	ErrBadRequest    = errors.New("bad request")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrForbidden     = errors.New("forbidden")
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrTooLarge      = errors.New("too large")
	ErrRateLimited   = errors.New("rate limited")
	ErrUnknownAction = errors.New("unknown action")
	// ErrRoomFull is returned by Rooms.JoinRoom when all seats are taken.
	ErrRoomFull = errors.New("room full")
	// ErrGone is returned by a Pusher when the connection no longer exists.
	ErrGone = errors.New("connection gone")
	// ErrThrottled is returned (wrapped) by adapters whose backend refused
	// a request for load; the request may be tried again later.
	ErrThrottled = errors.New("throttled")
)

// InputError is a bad-request with a message that is safe to show to the
// client (it names the field and the rule, never internal state).
type InputError struct {
	Field string
	Rule  string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Rule }

// Is makes errors.Is(err, ErrBadRequest) true for input errors.
func (e *InputError) Is(target error) bool { return target == ErrBadRequest }

func isGone(err error) bool     { return errors.Is(err, ErrGone) }
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Refusal is a domain error with a reason that is safe to show to the
// client; edges show Reason and map Kind (a sentinel above) to a code.
type Refusal struct {
	Kind   error
	Reason string
	// RetryAfter, for ErrRateLimited, is how long the client should wait
	// before it tries again.
	RetryAfter time.Duration
}

func (e *Refusal) Error() string { return e.Kind.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, e.Kind) true.
func (e *Refusal) Unwrap() error { return e.Kind }

func refuse(kind error, reason string) error { return &Refusal{Kind: kind, Reason: reason} }

// limited is a rate-limited refusal that says when to retry. A wait under
// a millisecond is reported as one, so that clients never retry at once.
func limited(reason string, retryAfter time.Duration) error {
	return &Refusal{Kind: ErrRateLimited, Reason: reason, RetryAfter: max(retryAfter, time.Millisecond)}
}

// RetryAfter returns how long err asks the client to wait, or 0.
func RetryAfter(err error) time.Duration {
	var r *Refusal
	if errors.As(err, &r) {
		return r.RetryAfter
	}
	return 0
}
