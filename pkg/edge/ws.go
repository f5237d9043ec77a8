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

// WebSocket serves the WebSocket routes: it turns each frame into the typed
// input of a use case, and the use case's result into reply frames.
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
	c := chat.Call{
		ConnID:    ev.RequestContext.ConnectionID,
		RequestID: ev.RequestContext.RequestID,
		SourceIP:  ev.RequestContext.Identity.SourceIP,
	}
	if id, ok := authorizerIdentity(ev.RequestContext.Authorizer); ok {
		c.Identity = &id
	}
	return c
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
	call := callOf(ev)
	id := call.Identity
	if id == nil && token != "" {
		got, err := w.svc.Authenticate(ctx, token)
		if err != nil {
			w.log.InfoContext(ctx, "connect refused: bad token", "err", err)
			return status(http.StatusUnauthorized), nil
		}
		id = &got
	}
	if err := w.svc.Connect(ctx, call, id); err != nil {
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

// action adapts one protocol action: it reads the request's fields for the
// use case and returns the frames to send back. send is how a use case
// that acknowledges early (a send, before its fan-out) replies at once.
type action func(w *WebSocket, ctx context.Context, call chat.Call, req protocol.Request, send func(any)) ([]any, error)

var actions = map[string]action{
	protocol.ActionLogin:               (*WebSocket).login,
	protocol.ActionPing:                (*WebSocket).ping,
	protocol.ActionPrivateMessage:      (*WebSocket).privateMessage,
	protocol.ActionPrivateFileMessage:  (*WebSocket).privateFileMessage,
	protocol.ActionMessageDeleted:      (*WebSocket).messageDeleted,
	protocol.ActionAvatarUpdated:       (*WebSocket).avatarUpdated,
	protocol.ActionJoinRoom:            (*WebSocket).joinRoom,
	protocol.ActionLeaveRoom:           (*WebSocket).leaveRoom,
	protocol.ActionGroupMessage:        (*WebSocket).groupMessage,
	protocol.ActionTyping:              (*WebSocket).typing,
	protocol.ActionRead:                (*WebSocket).read,
	protocol.ActionSubscribePresence:   (*WebSocket).subscribePresence,
	protocol.ActionUnsubscribePresence: (*WebSocket).unsubscribePresence,
}

// Action returns the handler of the route named action (a protocol
// action), or the $default handler for a name that is not one.
func (w *WebSocket) Action(name string) WSHandler {
	a, ok := actions[name]
	if !ok {
		return w.Default
	}
	return func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return w.serve(ctx, ev, a)
	}
}

// Actions returns the protocol actions that have a route handler, sorted.
func (w *WebSocket) Actions() []string {
	return slices.Sorted(maps.Keys(actions))
}

// Default serves $default: frames that are not JSON objects or name no
// known action. A connection that has not logged in is told so first.
func (w *WebSocket) Default(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return w.serve(ctx, ev, (*WebSocket).unknown)
}

func (w *WebSocket) unknown(ctx context.Context, call chat.Call, _ protocol.Request, _ func(any)) ([]any, error) {
	if _, err := w.svc.Identify(ctx, call); err != nil {
		return nil, err
	}
	return nil, chat.ErrUnknownAction
}

// errSilent marks a request the protocol answers with nothing at all (a
// typing frame over its limit).
var errSilent = errors.New("no reply")

func (w *WebSocket) serve(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest, a action) (events.APIGatewayProxyResponse, error) {
	ctx = w.context(ctx, ev)
	call := callOf(ev)
	var req protocol.Request
	var replies []any
	failed := false
	send := func(f any) {
		if !failed && !w.reply(ctx, call.ConnID, f) {
			failed = true
		}
	}
	err := json.Unmarshal([]byte(ev.Body), &req)
	switch {
	case !wellFormedText([]byte(ev.Body)):
		err = &chat.InputError{Field: "frame", Rule: "must be valid UTF-8 without lone surrogates"}
	case err != nil:
		err = &chat.InputError{Field: "frame", Rule: "must be a JSON object with fields as the protocol types them"}
	case req.Action == "":
		err = &chat.InputError{Field: "action", Rule: "is required"}
	default:
		if err = chat.ValidClientID(req.ID); err == nil {
			replies, err = a(w, ctx, call, req, send)
		}
	}
	err = w.anonymous(ctx, call, ev.RequestContext.RouteKey, err)
	if errors.Is(err, errSilent) {
		return status(http.StatusOK), nil
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
		e := protocol.Error{Type: protocol.TypeError, ID: id, Code: code, Message: msg}
		if wait := chat.RetryAfter(err); wait > 0 {
			e.RetryAfterMs = wait.Milliseconds()
		}
		replies = []any{e}
	}
	for _, r := range replies {
		send(r)
	}
	if failed {
		return status(http.StatusInternalServerError), nil
	}
	return status(http.StatusOK), nil
}

// anonymous turns a refusal of bad input into `unauthorized` when the
// caller has not logged in, on every route but login and ping (malformed
// frames included, whatever route they reached): who has no identity
// learns nothing about a route's input rules, and the domain checks input
// before it spends a read on identity. Only bad requests pay that read.
func (w *WebSocket) anonymous(ctx context.Context, call chat.Call, route string, err error) error {
	if err == nil || route == protocol.ActionLogin || route == protocol.ActionPing {
		return err
	}
	if code, _, _ := Classify(err); code != protocol.CodeBadRequest {
		return err
	}
	if _, idErr := w.svc.Identify(ctx, call); errors.Is(idErr, chat.ErrUnauthorized) {
		return idErr
	}
	return err
}

// reply pushes one frame to the caller; false when it failed for a reason
// other than the caller having gone.
func (w *WebSocket) reply(ctx context.Context, connID string, f any) bool {
	b, err := json.Marshal(f)
	if err != nil {
		w.log.ErrorContext(ctx, "encode reply", "err", err)
		return false
	}
	if err := w.push.Push(ctx, connID, b); err != nil && !errors.Is(err, chat.ErrGone) {
		w.log.WarnContext(ctx, "reply failed", "err", err)
		return false
	}
	return true
}

func (w *WebSocket) login(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	id, err := w.svc.Login(ctx, call, req.Token)
	if err != nil {
		return nil, err
	}
	return []any{protocol.LoginOK{Type: protocol.TypeLoginOK, ID: req.ID, UserID: id.UserID, Username: id.Username}}, nil
}

func (w *WebSocket) ping(_ context.Context, _ chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	return []any{protocol.Pong{Type: protocol.TypePong, ID: req.ID}}, nil
}

// acker returns the Acked that sends a send's ack as soon as it is stored.
func acker(clientID string, send func(any)) chat.Acked {
	return func(r chat.Receipt) { send(ackFrame(clientID, r)) }
}

func (w *WebSocket) privateMessage(ctx context.Context, call chat.Call, req protocol.Request, send func(any)) ([]any, error) {
	_, err := w.svc.SendPrivate(ctx, call.Sender(), chat.PrivateSend{To: req.To, Content: req.Content, ClientID: req.ID, LastSeq: req.LastSeq}, acker(req.ID, send))
	return nil, err
}

func (w *WebSocket) privateFileMessage(ctx context.Context, call chat.Call, req protocol.Request, send func(any)) ([]any, error) {
	in := chat.FileSend{
		To: req.To, FileKey: req.FileKey, FileName: req.FileName, FileType: req.FileType,
		MessageType: req.MessageType, ClientID: req.ID, LastSeq: req.LastSeq,
	}
	_, err := w.svc.SendFile(ctx, call, in, acker(req.ID, send))
	return nil, err
}

func (w *WebSocket) groupMessage(ctx context.Context, call chat.Call, req protocol.Request, send func(any)) ([]any, error) {
	_, err := w.svc.SendGroup(ctx, call, chat.GroupSend{Room: req.Room, Msg: req.Msg, ClientID: req.ID}, acker(req.ID, send))
	return nil, err
}

func (w *WebSocket) messageDeleted(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	if err := w.svc.DeleteMessage(ctx, call.Sender(), req.MessageID); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID, MessageID: req.MessageID}}, nil
}

func (w *WebSocket) avatarUpdated(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	var err error
	if req.AvatarFileKey != "" {
		_, err = w.svc.SetAvatarImage(ctx, call.Sender(), req.AvatarFileKey)
	} else {
		_, err = w.svc.SetAvatar(ctx, call.Sender(), req.Avatar)
	}
	if err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

func (w *WebSocket) joinRoom(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	res, err := w.svc.JoinRoom(ctx, call, req.Room)
	if err != nil {
		return nil, err
	}
	if res.Full {
		return []any{protocol.Full{Type: protocol.TypeFull, ID: req.ID, Room: req.Room, Epoch: res.Room.Epoch}}, nil
	}
	replies := []any{updateFrame(res.Room, req.ID)}
	if res.Joined {
		replies = append(replies, noticeFrame(res.Notice))
	}
	return replies, nil
}

func (w *WebSocket) leaveRoom(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	if err := w.svc.LeaveRoom(ctx, call, req.Room); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

func (w *WebSocket) typing(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	relayed, err := w.svc.Typing(ctx, call, chat.TypingInput{To: req.To, Room: req.Room, State: req.State})
	switch {
	case err != nil:
		return nil, err
	case !relayed || req.ID == "":
		return nil, errSilent
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

func (w *WebSocket) read(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	if err := w.svc.MarkRead(ctx, call, req.PeerID, req.MessageID); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

func (w *WebSocket) subscribePresence(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	ps, err := w.svc.SubscribePresence(ctx, call, req.UserIDs)
	if err != nil {
		return nil, err
	}
	users := make([]protocol.PresenceInfo, len(ps))
	for i, p := range ps {
		users[i] = presenceInfo(p)
	}
	return []any{protocol.PresenceState{Type: protocol.TypePresenceState, ID: req.ID, Users: users}}, nil
}

func (w *WebSocket) unsubscribePresence(ctx context.Context, call chat.Call, req protocol.Request, _ func(any)) ([]any, error) {
	if err := w.svc.UnsubscribePresence(ctx, call, req.UserIDs); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}
