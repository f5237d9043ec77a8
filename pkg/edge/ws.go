package edge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// Subprotocol is the WebSocket subprotocol a browser offers, next to its
// token, when it cannot put the token in the URL; $connect echoes it.
const Subprotocol = "minichat.v1"

// WSHandler is the signature of every WebSocket route handler.
type WSHandler func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// WebSocket serves the WebSocket routes.
type WebSocket struct {
	svc     *chat.Service
	push    chat.Pusher
	origins Origins
	log     *slog.Logger
}

// NewWebSocket returns the WebSocket route handlers of svc; replies to the
// caller go out through push, like every other frame.
func NewWebSocket(svc *chat.Service, push chat.Pusher, origins Origins, log *slog.Logger) *WebSocket {
	return &WebSocket{svc: svc, push: push, origins: origins, log: log}
}

func callOf(ev events.APIGatewayWebsocketProxyRequest) chat.Call {
	return chat.Call{
		ConnID:    ev.RequestContext.ConnectionID,
		RequestID: ev.RequestContext.RequestID,
		SourceIP:  ev.RequestContext.Identity.SourceIP,
	}
}

func (w *WebSocket) context(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) context.Context {
	return logging.With(ctx,
		slog.String("connectionId", ev.RequestContext.ConnectionID),
		slog.String("requestId", ev.RequestContext.RequestID),
		slog.String("route", ev.RequestContext.RouteKey))
}

func status(code int) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: code}
}

// Connect serves $connect: it checks the Origin, establishes the identity
// (from the authorizer's context, or the token in the query string or in
// Sec-WebSocket-Protocol) and records the connection. A refusal is an HTTP
// status, which API Gateway turns into a refused handshake.
func (w *WebSocket) Connect(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ctx = w.context(ctx, ev)
	if !w.origins.Allowed(header(ev.Headers, "Origin")) {
		w.log.InfoContext(ctx, "connect refused: origin not allowed", "origin", header(ev.Headers, "Origin"))
		return status(http.StatusForbidden), nil
	}
	token, protocolEcho := connectToken(ev.QueryStringParameters["token"], header(ev.Headers, "Sec-WebSocket-Protocol"))
	var id *chat.Identity
	if a, ok := authorizerIdentity(ev.RequestContext.Authorizer); ok {
		id = &a
	} else if token != "" {
		got, err := w.svc.Authenticate(ctx, token)
		if err != nil {
			w.log.InfoContext(ctx, "connect refused: bad token", "err", err)
			return status(http.StatusUnauthorized), nil
		}
		id = &got
	}
	if err := w.svc.Connect(ctx, callOf(ev), id); err != nil {
		w.log.ErrorContext(ctx, "connect failed", "err", err)
		return status(http.StatusInternalServerError), nil
	}
	resp := status(http.StatusOK)
	if protocolEcho != "" {
		resp.Headers = map[string]string{"Sec-WebSocket-Protocol": protocolEcho}
	}
	return resp, nil
}

// connectToken returns the token of a handshake, from the query string or
// offered as a subprotocol, and the subprotocol to echo, if any.
func connectToken(query, offered string) (token, echo string) {
	token = query
	if offered == "" {
		return token, ""
	}
	for _, p := range strings.Split(offered, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == Subprotocol:
			echo = p
		case token == "" && strings.Count(p, ".") == 2:
			token = p
		}
	}
	return token, echo
}

func authorizerIdentity(a any) (chat.Identity, bool) {
	m, ok := a.(map[string]any)
	if !ok {
		return chat.Identity{}, false
	}
	uid, _ := m["userId"].(string)
	name, _ := m["username"].(string)
	if uid == "" || name == "" {
		return chat.Identity{}, false
	}
	return chat.Identity{UserID: uid, Username: name}, true
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Disconnect serves $disconnect.
func (w *WebSocket) Disconnect(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ctx = w.context(ctx, ev)
	if err := w.svc.Disconnect(ctx, callOf(ev)); err != nil {
		w.log.ErrorContext(ctx, "disconnect failed", "err", err)
	}
	return status(http.StatusOK), nil
}

// UseCase is a chat action: the frames to send back to the caller, or an
// error to report to it.
type UseCase func(context.Context, chat.Call, protocol.Request) ([]any, error)

// Action returns the handler of the route named action (a protocol
// action), or the $default handler for a name that is not one.
func (w *WebSocket) Action(action string) WSHandler {
	uc, ok := w.useCases()[action]
	if !ok {
		return w.Default
	}
	return func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return w.serve(ctx, ev, uc)
	}
}

// Actions returns the protocol actions that have a route handler, sorted.
func (w *WebSocket) Actions() []string {
	return slices.Sorted(maps.Keys(w.useCases()))
}

func (w *WebSocket) useCases() map[string]UseCase {
	return map[string]UseCase{
		protocol.ActionLogin:              w.svc.Login,
		protocol.ActionPing:               w.svc.Ping,
		protocol.ActionPrivateMessage:     w.svc.PrivateMessage,
		protocol.ActionPrivateFileMessage: w.svc.PrivateFileMessage,
		protocol.ActionMessageDeleted:     w.svc.MessageDeleted,
		protocol.ActionAvatarUpdated:      w.svc.AvatarUpdated,
		protocol.ActionJoinRoom:           w.svc.JoinRoom,
		protocol.ActionLeaveRoom:          w.svc.LeaveRoom,
		protocol.ActionGroupMessage:       w.svc.GroupMessage,
	}
}

// Default serves $default: frames that are not JSON objects or name no
// known action.
func (w *WebSocket) Default(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return w.serve(ctx, ev, w.svc.Unknown)
}

func (w *WebSocket) serve(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest, uc UseCase) (events.APIGatewayProxyResponse, error) {
	ctx = w.context(ctx, ev)
	call := callOf(ev)
	var req protocol.Request
	var replies []any
	err := json.Unmarshal([]byte(ev.Body), &req)
	switch {
	case !wellFormedText([]byte(ev.Body)):
		err = &chat.InputError{Field: "frame", Rule: "must be valid UTF-8 without lone surrogates"}
	case err != nil:
		err = &chat.InputError{Field: "frame", Rule: "must be a JSON object with string fields as in the protocol"}
	case req.Action == "":
		err = &chat.InputError{Field: "action", Rule: "is required"}
	default:
		if err = chat.ValidClientID(req.ID); err == nil {
			replies, err = uc(ctx, call, req)
		}
	}
	if err != nil {
		code, _, msg := Classify(err)
		if code == protocol.CodeInternal {
			w.log.ErrorContext(ctx, "request failed", "err", err)
		} else {
			w.log.InfoContext(ctx, "request refused", "code", code, "err", err)
		}
		id := req.ID
		if chat.ValidClientID(id) != nil {
			id = ""
		}
		replies = []any{protocol.Error{Type: protocol.TypeError, ID: id, Code: code, Message: msg}}
	}
	for _, r := range replies {
		b, err := json.Marshal(r)
		if err != nil {
			w.log.ErrorContext(ctx, "encode reply", "err", err)
			return status(http.StatusInternalServerError), nil
		}
		if err := w.push.Push(ctx, call.ConnID, b); err != nil {
			if errors.Is(err, chat.ErrGone) {
				break
			}
			w.log.WarnContext(ctx, "reply failed", "err", err)
			return status(http.StatusInternalServerError), nil
		}
	}
	return status(http.StatusOK), nil
}
