package localgw

import (
	"encoding/json"
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
		if int64(len(data)) > g.limits.MessageBytes {
			writeError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message too long")
			return
		}
		if err := g.send(c, data); err != nil {
			// A socket that cannot be written to is dead: close it (running
			// $disconnect) so that it is not left open after its 410.
			g.log.Debug("localgw: post to connection failed", "connectionId", id, "err", err)
			c.close(closeGoingAway, "Going away")
			writeGone(w)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(connectionInfo{
			ConnectedAt:  c.connectedAt.UTC().Format(time.RFC3339Nano),
			Identity:     connectionIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
			LastActiveAt: time.UnixMilli(c.lastActive.Load()).UTC().Format(time.RFC3339Nano),
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
