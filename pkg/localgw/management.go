package localgw

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// connectionInfo is the GetConnection response body.
type connectionInfo struct {
	ConnectedAt  string             `json:"connectedAt"`
	Identity     connectionIdentity `json:"identity"`
	LastActiveAt string             `json:"lastActiveAt"`
}

type connectionIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// serveManagement serves the Management API: POST, GET and DELETE on
// {WebSocketPath}/@connections/{connectionId}. Signatures are not checked.
func (g *Gateway) serveManagement(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), g.cfg.WebSocketPath+"/@connections/")
	id, err := url.PathUnescape(raw)
	if err != nil || id == "" || strings.Contains(id, "/") {
		writeError(w, http.StatusBadRequest, "BadRequestException", "Invalid connectionId")
		return
	}
	c := g.lookup(id)
	if c == nil {
		writeGone(w)
		return
	}
	switch r.Method {
	case http.MethodPost:
		data, err := io.ReadAll(io.LimitReader(r.Body, g.limits.MessageBytes+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "BadRequestException", "Could not read the request body")
			return
		}
		// A socket that cannot be written to is dead: PostToConnection
		// closes it (running $disconnect), so it is not left open after its
		// 410.
		switch err := g.PostToConnection(r.Context(), id, data); {
		case errors.Is(err, ErrPayloadTooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message too long")
		case err != nil:
			writeGone(w)
		default:
			w.WriteHeader(http.StatusOK)
		}
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(connectionInfo{
			ConnectedAt:  c.connectedAt.UTC().Format(time.RFC3339Nano),
			Identity:     connectionIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
			LastActiveAt: time.Unix(0, c.lastActive.Load()).UTC().Format(time.RFC3339Nano),
		})
	case http.MethodDelete:
		c.close(closeNormal, "")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "POST, GET, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "BadRequestException", "Method Not Allowed")
	}
}

// writeGone answers for a connection that does not exist (any more), which
// the SDK turns into *types.GoneException.
func writeGone(w http.ResponseWriter) {
	writeError(w, http.StatusGone, "GoneException", "The connection is gone")
}

// writeError writes an AWS REST-JSON error: the SDK reads the error type from
// X-Amzn-ErrorType.
func writeError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("X-Amzn-ErrorType", errorType)
	writeMessage(w, status, message)
}

// writeMessage writes API Gateway's usual error body {"message": ...}.
func writeMessage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// Errors of the in-process Management API, as the HTTP one answers them.
var (
	// ErrGone is a connection that does not exist (HTTP 410).
	ErrGone = errors.New("localgw: the connection is gone")
	// ErrPayloadTooLarge is a post over Limits.MessageBytes (HTTP 413).
	ErrPayloadTooLarge = errors.New("localgw: message too long")
)

// PostToConnection sends data to a connection as POST @connections/{id}
// does, without the HTTP round trip: what a pusher in the same process
// uses.
func (g *Gateway) PostToConnection(_ context.Context, id string, data []byte) error {
	c := g.lookup(id)
	if c == nil {
		return ErrGone
	}
	if int64(len(data)) > g.limits.MessageBytes {
		return ErrPayloadTooLarge
	}
	if err := g.send(c, data); err != nil {
		g.log.Debug("localgw: post to connection failed", "connectionId", id, "err", err)
		c.close(closeGoingAway, "Going away")
		return ErrGone
	}
	return nil
}

// DeleteConnection closes a connection as DELETE @connections/{id} does.
func (g *Gateway) DeleteConnection(id string) error {
	c := g.lookup(id)
	if c == nil {
		return ErrGone
	}
	c.close(closeNormal, "")
	return nil
}

// ConnectionOpen reports whether a connection is open, as GET
// @connections/{id} answers 200 rather than 410.
func (g *Gateway) ConnectionOpen(id string) bool { return g.lookup(id) != nil }
