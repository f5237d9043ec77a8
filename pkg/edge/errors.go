package edge

import (
	"errors"
	"net/http"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/protocol"
)

var codes = []struct {
	err     error
	code    string
	status  int
	message string
}{
	{chat.ErrBadRequest, protocol.CodeBadRequest, http.StatusBadRequest, "the request is not valid"},
	{chat.ErrUnknownAction, protocol.CodeUnknownAction, http.StatusNotFound, "unknown action"},
	{chat.ErrUnauthorized, protocol.CodeUnauthorized, http.StatusUnauthorized, "authentication required"},
	{chat.ErrForbidden, protocol.CodeForbidden, http.StatusForbidden, "not allowed"},
	{chat.ErrNotFound, protocol.CodeNotFound, http.StatusNotFound, "not found"},
	{chat.ErrConflict, protocol.CodeConflict, http.StatusConflict, "conflict"},
	{chat.ErrTooLarge, protocol.CodeTooLarge, http.StatusRequestEntityTooLarge, "too large"},
	{chat.ErrRateLimited, protocol.CodeRateLimited, http.StatusTooManyRequests, "too many requests, slow down"},
}

// Classify maps err to a protocol code, an HTTP status and a message that
// is safe to show. Errors the domain did not classify are `internal`, and
// their text is never shown.
func Classify(err error) (code string, status int, message string) {
	for _, c := range codes {
		if !errors.Is(err, c.err) {
			continue
		}
		var in *chat.InputError
		var r *chat.Refusal
		switch {
		case errors.As(err, &in):
			return c.code, c.status, in.Error()
		case errors.As(err, &r):
			return c.code, c.status, r.Reason
		}
		return c.code, c.status, c.message
	}
	return protocol.CodeInternal, http.StatusInternalServerError, "internal error, please retry"
}
