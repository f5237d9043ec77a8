package localgw

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// requestTimeLayout is API Gateway's requestTime format.
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// idEncoding keeps ids free of '/' and '+' so that they are safe in the
// Management API's URL path.
var idEncoding = base64.URLEncoding

// newID returns an id shaped like API Gateway's connection, request and
// message ids: 16 characters, the last one '=' ("TWegAcC4EowCHnA=").
func newID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// requestContext returns the requestContext API Gateway puts in every event
// of connection c.
func (g *Gateway) requestContext(c *connection, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequestContext {
	id := newID()
	rc := events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ExtendedRequestID: id,
		RequestTime:       now.UTC().Format(requestTimeLayout),
		MessageDirection:  "IN",
		Stage:             g.cfg.Stage,
		ConnectedAt:       c.connectedAt.UnixMilli(),
		RequestTimeEpoch:  now.UnixMilli(),
		Identity:          events.APIGatewayRequestIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		RequestID:         id,
		DomainName:        c.domainName,
		ConnectionID:      c.id,
		APIID:             g.cfg.APIID,
	}
	// A nil map in the interface field would be sent as "authorizer": null.
	if c.authorizer != nil {
		rc.Authorizer = c.authorizer
	}
	return rc
}

// connectEvent is the $connect event: the handshake's headers and query.
func (g *Gateway) connectEvent(c *connection, r *http.Request) events.APIGatewayWebsocketProxyRequest {
	headers, multiHeaders := handshakeHeaders(r)
	query, multiQuery := queryParameters(r.URL.Query())
	return events.APIGatewayWebsocketProxyRequest{
		Headers:                         headers,
		MultiValueHeaders:               multiHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		RequestContext:                  g.requestContext(c, "$connect", "CONNECT", time.Now()),
		IsBase64Encoded:                 false,
	}
}

// messageEvent is a MESSAGE event carrying one client message.
func (g *Gateway) messageEvent(c *connection, routeKey string, m inbound) events.APIGatewayWebsocketProxyRequest {
	rc := g.requestContext(c, routeKey, "MESSAGE", time.Now())
	rc.MessageID = newID()
	ev := events.APIGatewayWebsocketProxyRequest{RequestContext: rc, Body: string(m.data)}
	if !m.text {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(m.data), true
	}
	return ev
}

// disconnectEvent is the $disconnect event; like API Gateway it carries a
// few fixed headers rather than the handshake's.
func (g *Gateway) disconnectEvent(c *connection, code int, reason string) events.APIGatewayWebsocketProxyRequest {
	rc := g.requestContext(c, "$disconnect", "DISCONNECT", time.Now())
	rc.DisconnectStatusCode = int64(code)
	rc.DisconnectReason = &reason
	headers := map[string]string{"Host": c.domainName, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
	multi := make(map[string][]string, len(headers))
	for k, v := range headers {
		multi[k] = []string{v}
	}
	return events.APIGatewayWebsocketProxyRequest{Headers: headers, MultiValueHeaders: multi, RequestContext: rc}
}

// webSocketHeaderNames undoes Go's canonicalisation of the WebSocket
// headers, which clients and API Gateway spell Sec-WebSocket-*: handlers look
// them up by that name.
var webSocketHeaderNames = map[string]string{
	"Sec-Websocket-Key":        "Sec-WebSocket-Key",
	"Sec-Websocket-Version":    "Sec-WebSocket-Version",
	"Sec-Websocket-Extensions": "Sec-WebSocket-Extensions",
	"Sec-Websocket-Protocol":   "Sec-WebSocket-Protocol",
}

// handshakeHeaders returns the request headers in API Gateway's two forms
// (last value, all values), with the X-Forwarded-* headers its front end adds.
func handshakeHeaders(r *http.Request) (map[string]string, map[string][]string) {
	multi := make(map[string][]string, len(r.Header)+4)
	for k, v := range r.Header {
		if name, ok := webSocketHeaderNames[k]; ok {
			k = name
		}
		multi[k] = append([]string(nil), v...)
	}
	multi["Host"] = []string{r.Host}
	multi["X-Forwarded-For"] = []string{sourceIP(r)}
	multi["X-Forwarded-Proto"] = []string{"http"}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		multi["X-Forwarded-Port"] = []string{port}
	}
	single := make(map[string]string, len(multi))
	for k, v := range multi {
		single[k] = v[len(v)-1]
	}
	return single, multi
}

// queryParameters returns the query in API Gateway's two forms, nil when empty.
func queryParameters(q url.Values) (map[string]string, map[string][]string) {
	if len(q) == 0 {
		return nil, nil
	}
	single := make(map[string]string, len(q))
	multi := make(map[string][]string, len(q))
	for k, v := range q {
		single[k] = v[len(v)-1]
		multi[k] = v
	}
	return single, multi
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
