package edge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// HTTPHandler is the signature of the HTTP API handler.
type HTTPHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// HTTP serves the HTTP API routes (template.yaml lists them as events of
// one function; this dispatches on the event's routeKey).
type HTTP struct {
	svc     *chat.Service
	origins Origins
	log     *slog.Logger
}

// NewHTTP returns the HTTP API handler of svc.
func NewHTTP(svc *chat.Service, origins Origins, log *slog.Logger) *HTTP {
	return &HTTP{svc: svc, origins: origins, log: log}
}

type httpRequest struct {
	events.APIGatewayV2HTTPRequest
	body []byte
	id   chat.Identity
}

type route struct {
	public bool
	serve  func(*HTTP, context.Context, *httpRequest) (int, any, error)
}

var routes = map[string]route{
	"POST /api/auth/register":                   {public: true, serve: (*HTTP).register},
	"POST /api/auth/login":                      {public: true, serve: (*HTTP).login},
	"GET /api/conversations":                    {serve: (*HTTP).conversations},
	"GET /api/conversations/{peerId}/messages":  {serve: (*HTTP).history},
	"POST /api/conversations/{peerId}/messages": {serve: (*HTTP).send},
	"DELETE /api/messages/{messageId}":          {serve: (*HTTP).deleteMessage},
	"GET /api/users":                            {serve: (*HTTP).users},
	"PUT /api/users/me/avatar":                  {serve: (*HTTP).avatar},
	"GET /api/rooms/{room}":                     {serve: (*HTTP).room},
	"GET /api/rooms/{room}/messages":            {serve: (*HTTP).roomHistory},
	"POST /api/files":                           {serve: (*HTTP).upload},
	"GET /api/users/{userId}/avatar":            {public: true, serve: (*HTTP).avatarImage},
}

// redirect is a route's answer that sends the client elsewhere (302).
type redirect struct{ location string }

// Handle serves one HTTP API event.
func (h *HTTP) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	ctx = logging.With(ctx, slog.String("requestId", ev.RequestContext.RequestID), slog.String("route", ev.RouteKey))
	status, body, err := h.dispatch(ctx, ev)
	var retryAfter time.Duration
	if err != nil {
		code, st, msg := Classify(err)
		if code == protocol.CodeInternal {
			h.log.ErrorContext(ctx, "request failed", "err", err)
		} else {
			h.log.InfoContext(ctx, "request refused", "code", code, "err", err)
		}
		status, body, retryAfter = st, protocol.HTTPError{Code: code, Message: msg}, chat.RetryAfter(err)
	}
	resp := h.respond(ev, status, body)
	if retryAfter > 0 {
		// Retry-After counts whole seconds: round up, so that a client
		// that waits that long finds the limit lifted.
		resp.Headers["Retry-After"] = strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10)
	}
	return resp, nil
}

func (h *HTTP) dispatch(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (int, any, error) {
	rt, ok := routes[ev.RouteKey]
	if !ok {
		return 0, nil, &chat.Refusal{Kind: chat.ErrNotFound, Reason: "no such route"}
	}
	req := &httpRequest{APIGatewayV2HTTPRequest: ev, body: []byte(ev.Body)}
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return 0, nil, &chat.InputError{Field: "body", Rule: "not valid base64"}
		}
		req.body = b
	}
	if !rt.public {
		tok, ok := strings.CutPrefix(header(ev.Headers, "Authorization"), "Bearer ")
		if !ok {
			return 0, nil, &chat.Refusal{Kind: chat.ErrUnauthorized, Reason: "send Authorization: Bearer <token>"}
		}
		id, err := h.svc.Authenticate(ctx, strings.TrimSpace(tok))
		if err != nil {
			return 0, nil, &chat.Refusal{Kind: chat.ErrUnauthorized, Reason: "invalid or expired token"}
		}
		req.id = id
		ctx = logging.With(ctx, slog.String("userId", id.UserID))
	}
	return rt.serve(h, ctx, req)
}

func (h *HTTP) respond(ev events.APIGatewayV2HTTPRequest, status int, body any) events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}}
	if o := header(ev.Headers, "Origin"); o != "" && h.origins.Allowed(o) {
		resp.Headers["Access-Control-Allow-Origin"] = o
		resp.Headers["Access-Control-Expose-Headers"] = "Retry-After"
		resp.Headers["Vary"] = "Origin"
	}
	if r, ok := body.(redirect); ok {
		resp.Headers["Location"] = r.location
		// The link it points to is short-lived; the redirect may be cached
		// for less than that, by URL (whose v changes with the image).
		resp.Headers["Cache-Control"] = "public, max-age=300"
		return resp
	}
	if body == nil {
		return resp
	}
	b, err := json.Marshal(body)
	if err != nil {
		resp.StatusCode = http.StatusInternalServerError
		b = []byte(`{"code":"internal","message":"internal error, please retry"}`)
	}
	resp.Headers["Content-Type"] = "application/json"
	resp.Body = string(b)
	return resp
}

func decode(r *httpRequest, v any) error {
	if !wellFormedText(r.body) {
		return &chat.InputError{Field: "body", Rule: "must be valid UTF-8 without lone surrogates"}
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &chat.InputError{Field: "body", Rule: "must be a JSON object with the documented fields"}
	}
	return nil
}

func (h *HTTP) register(ctx context.Context, r *httpRequest) (int, any, error) {
	var c protocol.Credentials
	if err := decode(r, &c); err != nil {
		return 0, nil, err
	}
	s, err := h.svc.Register(ctx, c.Username, c.Password, r.RequestContext.HTTP.SourceIP)
	return http.StatusCreated, session(s), err
}

func (h *HTTP) login(ctx context.Context, r *httpRequest) (int, any, error) {
	var c protocol.Credentials
	if err := decode(r, &c); err != nil {
		return 0, nil, err
	}
	s, err := h.svc.LoginPassword(ctx, c.Username, c.Password, r.RequestContext.HTTP.SourceIP)
	return http.StatusOK, session(s), err
}

func session(s chat.Session) protocol.Session {
	out := protocol.Session{UserID: s.UserID, Username: s.Username, Token: s.Token}
	if !s.ExpiresAt.IsZero() {
		out.ExpiresAt = chat.FormatTime(s.ExpiresAt)
	}
	return out
}

func (h *HTTP) conversations(ctx context.Context, r *httpRequest) (int, any, error) {
	cs, err := h.svc.Conversations(ctx, r.id)
	if err != nil {
		return 0, nil, err
	}
	out := make([]protocol.ConversationInfo, 0, len(cs))
	for _, c := range cs {
		info := protocol.ConversationInfo{
			Peer: protocol.PeerInfo{
				UserInfo: userInfo(c.Peer.User), Online: c.Peer.Online(),
				LastSeen: optionalTime(chat.Presence{LastSeen: c.Peer.LastSeen}),
			},
			Unread: c.Unread, ReadUpTo: optionalID(c.ReadUpTo), PeerReadUpTo: optionalID(c.PeerReadUpTo),
		}
		if c.LastMessage != nil {
			lm := messageFrame(*c.LastMessage)
			info.LastMessage = &lm
		}
		out = append(out, info)
	}
	return http.StatusOK, out, nil
}

// pageOf reads the before/after/limit query of a history route.
func pageOf(r *httpRequest) (chat.Page, error) {
	q := r.QueryStringParameters
	p := chat.Page{Before: q["before"], After: q["after"]}
	if l := q["limit"]; l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return p, &chat.InputError{Field: "limit", Rule: "1 to 100"}
		}
		p.Limit = n
		if n == 0 {
			p.Limit = -1
		}
	}
	return p, nil
}

func historyPage(p chat.HistoryPage) protocol.MessagePage {
	out := protocol.MessagePage{Messages: make([]protocol.ChatMessage, 0, len(p.Messages)), Next: p.Next}
	for _, m := range p.Messages {
		out.Messages = append(out.Messages, messageFrame(m))
	}
	return out
}

func (h *HTTP) history(ctx context.Context, r *httpRequest) (int, any, error) {
	p, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	page, err := h.svc.History(ctx, r.id, r.PathParameters["peerId"], p)
	return http.StatusOK, historyPage(page), err
}

func (h *HTTP) roomHistory(ctx context.Context, r *httpRequest) (int, any, error) {
	p, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	page, err := h.svc.RoomHistory(ctx, r.id, r.PathParameters["room"], p)
	return http.StatusOK, historyPage(page), err
}

func (h *HTTP) send(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.SendBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	id := r.id
	m, err := h.svc.SendPrivate(ctx, chat.Sender{Identity: &id}, chat.PrivateSend{To: r.PathParameters["peerId"], Content: b.Content, ClientID: b.ID, LastSeq: b.LastSeq}, nil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, messageFrame(chat.MessageView{Message: m}), nil
}

func (h *HTTP) deleteMessage(ctx context.Context, r *httpRequest) (int, any, error) {
	id := r.id
	return http.StatusNoContent, nil, h.svc.DeleteMessage(ctx, chat.Sender{Identity: &id}, r.PathParameters["messageId"])
}

func (h *HTTP) users(ctx context.Context, r *httpRequest) (int, any, error) {
	us, err := h.svc.SearchUsers(ctx, r.id, r.QueryStringParameters["prefix"])
	out := make([]protocol.UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, userInfo(u))
	}
	return http.StatusOK, out, err
}

func (h *HTTP) avatar(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.AvatarBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	id := r.id
	u, err := h.svc.SetAvatar(ctx, chat.Sender{Identity: &id}, b.Avatar)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, userInfo(u), nil
}

func (h *HTTP) avatarImage(ctx context.Context, r *httpRequest) (int, any, error) {
	link, err := h.svc.AvatarLink(ctx, r.PathParameters["userId"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusFound, redirect{location: link}, nil
}

func (h *HTTP) room(ctx context.Context, r *httpRequest) (int, any, error) {
	room, err := h.svc.RoomInfo(ctx, r.id, r.PathParameters["room"])
	if err != nil {
		return 0, nil, err
	}
	u := updateFrame(room, "")
	return http.StatusOK, protocol.RoomInfo{Room: u.Room, Epoch: u.Epoch, Version: u.Version, Seats: u.Seats}, nil
}

func (h *HTTP) upload(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.FileUploadRequest
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	up, err := h.svc.RequestUpload(ctx, r.id, chat.UploadRequest{Purpose: b.Purpose, FileName: b.FileName, FileType: b.FileType, Size: b.Size, To: b.To})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, protocol.FileUpload{
		FileKey:   up.FileKey,
		Upload:    protocol.PresignedUpload{Method: up.Upload.Method, URL: up.Upload.URL, Fields: up.Upload.Fields, Headers: up.Upload.Headers},
		ExpiresAt: chat.FormatTime(up.Upload.ExpiresAt),
		MaxSize:   up.MaxSize,
	}, nil
}
