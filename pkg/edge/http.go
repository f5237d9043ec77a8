package edge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

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
	"POST /api/files":                           {serve: (*HTTP).upload},
}

// Handle serves one HTTP API event.
func (h *HTTP) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	ctx = logging.With(ctx, slog.String("requestId", ev.RequestContext.RequestID), slog.String("route", ev.RouteKey))
	status, body, err := h.dispatch(ctx, ev)
	if err != nil {
		code, st, msg := Classify(err)
		if code == protocol.CodeInternal {
			h.log.ErrorContext(ctx, "request failed", "err", err)
		} else {
			h.log.InfoContext(ctx, "request refused", "code", code, "err", err)
		}
		status, body = st, protocol.HTTPError{Code: code, Message: msg}
	}
	return h.respond(ev, status, body), nil
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
		resp.Headers["Vary"] = "Origin"
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
	return http.StatusCreated, s, err
}

func (h *HTTP) login(ctx context.Context, r *httpRequest) (int, any, error) {
	var c protocol.Credentials
	if err := decode(r, &c); err != nil {
		return 0, nil, err
	}
	s, err := h.svc.LoginPassword(ctx, c.Username, c.Password, r.RequestContext.HTTP.SourceIP)
	return http.StatusOK, s, err
}

func (h *HTTP) conversations(ctx context.Context, r *httpRequest) (int, any, error) {
	cs, err := h.svc.Conversations(ctx, r.id)
	return http.StatusOK, cs, err
}

func (h *HTTP) history(ctx context.Context, r *httpRequest) (int, any, error) {
	q := r.QueryStringParameters
	p := chat.Page{Before: q["before"], After: q["after"]}
	if l := q["limit"]; l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return 0, nil, &chat.InputError{Field: "limit", Rule: "1 to 100"}
		}
		p.Limit = n
		if n == 0 {
			p.Limit = -1
		}
	}
	page, err := h.svc.History(ctx, r.id, r.PathParameters["peerId"], p)
	return http.StatusOK, page, err
}

func (h *HTTP) send(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.SendBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	m, err := h.svc.SendPrivate(ctx, r.id, "", r.PathParameters["peerId"], b.Content, b.ID)
	if err != nil {
		return 0, nil, err
	}
	f := chat.RenderMessage(m, "")
	return http.StatusCreated, f, nil
}

func (h *HTTP) deleteMessage(ctx context.Context, r *httpRequest) (int, any, error) {
	return http.StatusNoContent, nil, h.svc.DeleteMessage(ctx, r.id, "", r.PathParameters["messageId"])
}

func (h *HTTP) users(ctx context.Context, r *httpRequest) (int, any, error) {
	us, err := h.svc.SearchUsers(ctx, r.id, r.QueryStringParameters["prefix"])
	return http.StatusOK, us, err
}

func (h *HTTP) avatar(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.AvatarBody
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	if err := h.svc.SetAvatar(ctx, r.id, "", b.Avatar); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, protocol.UserInfo{UserID: r.id.UserID, Username: r.id.Username, Avatar: b.Avatar}, nil
}

func (h *HTTP) room(ctx context.Context, r *httpRequest) (int, any, error) {
	info, err := h.svc.RoomInfo(ctx, r.id, r.PathParameters["room"])
	return http.StatusOK, info, err
}

func (h *HTTP) upload(ctx context.Context, r *httpRequest) (int, any, error) {
	var b protocol.FileUploadRequest
	if err := decode(r, &b); err != nil {
		return 0, nil, err
	}
	up, err := h.svc.RequestUpload(ctx, r.id, b)
	return http.StatusOK, up, err
}
