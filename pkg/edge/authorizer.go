package edge

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/pkg/logging"
)

// AuthorizerRequest is the event of a WebSocket API's REQUEST authorizer.
// aws-lambda-go has no type of this shape: its request type carries the
// REST API's request context, without the connection id.
type AuthorizerRequest struct {
	Type                  string                                        `json:"type"`
	MethodArn             string                                        `json:"methodArn"`
	Headers               map[string]string                             `json:"headers"`
	QueryStringParameters map[string]string                             `json:"queryStringParameters"`
	RequestContext        events.APIGatewayWebsocketProxyRequestContext `json:"requestContext"`
}

// AuthorizerHandler is the signature of the $connect REQUEST authorizer.
type AuthorizerHandler func(context.Context, AuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// errUnauthorized is the one error text with which API Gateway answers a
// handshake 401 instead of 500.
var errUnauthorized = errors.New("Unauthorized")

// Authorize is the $connect REQUEST authorizer. A token (in the query
// string, or offered as a subprotocol by browsers) must be valid, and its
// identity becomes the connection's authorizer context, which API Gateway
// passes to $connect and every later route. A connection without a token
// is let in anonymously: it may only log in (the login action) or ping.
func (w *WebSocket) Authorize(ctx context.Context, ev AuthorizerRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	ctx = logging.With(ctx, slog.String("connectionId", ev.RequestContext.ConnectionID),
		slog.String("requestId", ev.RequestContext.RequestID), slog.String("route", "$connect authorizer"))
	token, _ := connectToken(ev.QueryStringParameters["token"], header(ev.Headers, "Sec-WebSocket-Protocol"))
	allow := events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: "anonymous",
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{
				{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{ev.MethodArn}},
			},
		},
	}
	if token == "" {
		return allow, nil
	}
	id, err := w.svc.Authenticate(ctx, token)
	if err != nil {
		w.log.InfoContext(ctx, "connect refused: bad token", "err", err)
		return events.APIGatewayCustomAuthorizerResponse{}, errUnauthorized
	}
	allow.PrincipalID = id.UserID
	allow.Context = map[string]any{"userId": id.UserID, "username": id.Username}
	return allow, nil
}
