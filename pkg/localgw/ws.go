package localgw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Close codes the gateway sends, as API Gateway does.
const (
	closeNormal    = websocket.StatusNormalClosure
	closeGoingAway = websocket.StatusGoingAway
	closeTooLarge  = websocket.StatusMessageTooBig
	closeAbnormal  = websocket.StatusAbnormalClosure
	// closeInvalidText is 1007, invalid frame payload data.
	closeInvalidText = websocket.StatusInvalidFramePayloadData
)

// inboundCapacity is how many messages of one connection may wait for their
// turn before the gateway stops reading from it: enough for a burst, small
// because every connection holds its queue.
const inboundCapacity = 16

// connection is one client WebSocket.
type connection struct {
	id          string
	connectedAt time.Time
	sourceIP    string
	userAgent   string
	domainName  string
	// authorizer is the requestContext.authorizer of every event, nil
	// without an authorizer.
	authorizer map[string]any
	guard      *frameGuard
	ws         *websocket.Conn
	// cork and out combine the frames pushed to the connection (outbox.go).
	cork *corkConn
	out  outbox
	// ready is closed once the upgrade is over: ws is set, or stays nil if
	// the upgrade failed.
	ready chan struct{}

	lastActive atomic.Int64 // unix ns of the last client message

	closeOnce   sync.Once
	closeCode   websocket.StatusCode
	closeReason string
	closer      sync.WaitGroup
	onClose     func()
}

// upgraded waits for the upgrade to end and reports whether it succeeded.
func (c *connection) upgraded() bool {
	<-c.ready
	return c.ws != nil
}

// inbound is one client message.
type inbound struct {
	text bool
	data []byte
}

// connectResponse is the part of a $connect integration response that
// matters to the handshake (events.APIGatewayProxyResponse).
type connectResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isWebSocketHandshake(r) {
		w.Header().Set("Upgrade", "websocket")
		writeMessage(w, http.StatusUpgradeRequired, "Upgrade Required")
		return
	}
	if g.cfg.CheckOrigin != nil && !g.cfg.CheckOrigin(r) {
		writeMessage(w, http.StatusForbidden, "Forbidden")
		return
	}
	if !g.track() {
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	handedOff := false
	defer func() {
		if !handedOff {
			g.active.Done()
		}
	}()

	c := &connection{
		id:          newID(),
		connectedAt: time.Now(),
		sourceIP:    sourceIP(r),
		userAgent:   r.UserAgent(),
		domainName:  g.cfg.DomainName,
		guard:       &frameGuard{limit: uint64(g.limits.FrameBytes)},
	}
	if c.domainName == "" {
		c.domainName = r.Host
	}
	c.lastActive.Store(c.connectedAt.UnixNano())

	subprotocols, admitted := g.admit(w, r, c)
	if !admitted {
		return
	}
	// The connection takes pushes from before the client has its 101, as
	// on AWS: a push that comes between waits for the upgrade.
	c.ready = make(chan struct{})
	c.onClose = func() { g.unregister(c) }
	if !g.register(c) {
		close(c.ready)
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		g.disconnect(c, int(closeGoingAway), "Going away")
		return
	}
	c.cork = &corkConn{}
	ws, err := websocket.Accept(&guardedWriter{ResponseWriter: w, guard: c.guard, cork: c.cork}, r, &websocket.AcceptOptions{
		Subprotocols: subprotocols,
		// Origins were the CheckOrigin hook's business.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		g.log.Warn("localgw: upgrade failed after $connect", "connectionId", c.id, "err", err)
		g.unregister(c)
		close(c.ready)
		g.disconnect(c, int(closeAbnormal), "upgrade failed")
		g.held.Add(-1)
		return
	}
	ws.SetReadLimit(g.limits.MessageBytes)
	c.ws = ws
	close(c.ready)
	// The connection is served on a goroutine of its own and this handler
	// returns: net/http then drops what it holds for the request until
	// its handler ends (its buffers of the connection, this goroutine with
	// the stack $connect grew), which an idle connection would otherwise
	// keep for hours.
	handedOff = true
	go func() {
		defer g.active.Done()
		g.serveConnection(c)
	}()
}

// admit runs the $connect authorizer and route, if any, and answers the
// handshake when they refuse it. It returns the subprotocol to echo.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, c *connection) ([]string, bool) {
	connect, ok := g.ws["$connect"]
	if !ok {
		return nil, true
	}
	if connect.authorizer != nil {
		ctx, status, msg := g.authorize(connect.authorizer, c, r)
		if status != 0 {
			writeMessage(w, status, msg)
			return nil, false
		}
		c.authorizer = ctx
	}
	resp, ok := g.invokeConnect(connect, c, r)
	if !ok {
		writeMessage(w, http.StatusInternalServerError, "Internal server error")
		return nil, false
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		writeConnectRefusal(w, resp)
		return nil, false
	}
	if p := responseHeader(resp, "Sec-WebSocket-Protocol"); p != "" {
		return []string{p}, true
	}
	return nil, true
}

// invokeConnect runs $connect; false when the invocation failed or answered
// an impossible status.
func (g *Gateway) invokeConnect(fn function, c *connection, r *http.Request) (connectResponse, bool) {
	out, err := g.invoke(fn, g.connectEvent(c, r))
	if err != nil {
		g.log.Error("localgw: $connect failed", "function", fn.logicalID, "connectionId", c.id, "err", err)
		return connectResponse{}, false
	}
	resp := connectResponse{StatusCode: http.StatusOK}
	// A handler that returns nothing, or no status, accepts the connection.
	if json.Unmarshal(out, &resp) != nil || resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		g.log.Error("localgw: $connect answered an invalid status", "function", fn.logicalID, "status", resp.StatusCode)
		return connectResponse{}, false
	}
	return resp, true
}

func writeConnectRefusal(w http.ResponseWriter, resp connectResponse) {
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

func responseHeader(resp connectResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func isWebSocketHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func (g *Gateway) register(c *connection) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.conns[c.id] = c
	g.held.Add(1)
	return true
}

func (g *Gateway) unregister(c *connection) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[c.id] == c {
		delete(g.conns, c.id)
	}
}

// Connections is how many connections the gateway holds: each from the
// end of its $connect (upgraded or not yet) until its $disconnect has
// returned or timed out. A wave of closes is over, and what it freed is
// garbage, only once this count has fallen too; the open count falls at
// once, before the $disconnect work of thousands of closes has started.
func (g *Gateway) Connections() int {
	return int(g.held.Load())
}

func (g *Gateway) lookup(id string) *connection {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.conns[id]
}

// serveConnection reads client messages until the connection ends, hands
// them in order to the connection's workers (one by default, so that
// replies keep the client's order; Limits.FrameConcurrency for more), and
// runs $disconnect once at the end. Workers run while there is work: an
// idle connection holds no goroutine but its reader.
func (g *Gateway) serveConnection(c *connection) {
	queue := make(chan inbound, inboundCapacity)
	var (
		workers sync.WaitGroup
		mu      sync.Mutex
		running int
	)
	most := max(1, g.limits.FrameConcurrency)
	work := func() {
		for {
			select {
			case m, ok := <-queue:
				if !ok {
					return
				}
				g.route(c, m)
			default:
				// Leave only when nothing is queued, under the lock the
				// reader takes after queueing: what it queued has a worker.
				mu.Lock()
				if len(queue) == 0 {
					running--
					mu.Unlock()
					return
				}
				mu.Unlock()
			}
		}
	}
	idle := time.AfterFunc(g.limits.IdleTimeout, func() { c.close(closeGoingAway, "Going away") })
	maxAge := time.AfterFunc(g.limits.MaxDuration, func() { c.close(closeGoingAway, "Going away") })

	code, reason := closeAbnormal, ""
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			code, reason = readEndStatus(c, err)
			break
		}
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// RFC 6455 8.1: a text message that is not UTF-8 fails the
			// connection; no event could carry it unaltered anyway.
			code, reason = closeInvalidText, "Invalid UTF-8"
			break
		}
		idle.Reset(g.limits.IdleTimeout)
		c.lastActive.Store(time.Now().UnixNano())
		queue <- inbound{text: typ == websocket.MessageText, data: data}
		mu.Lock()
		if running < most {
			running++
			workers.Go(work)
		}
		mu.Unlock()
	}
	idle.Stop()
	maxAge.Stop()
	// The first close wins: if the gateway started it, its code stands.
	c.close(code, reason)
	c.closer.Wait()
	close(queue)
	workers.Wait()
	g.disconnect(c, int(c.closeCode), c.closeReason)
	g.held.Add(-1)
}

// readEndStatus turns the error that ended reading into the close status to
// report in $disconnect.
func readEndStatus(c *connection, err error) (websocket.StatusCode, string) {
	if c.guard.tripped.Load() {
		return closeTooLarge, "Frame too large"
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return closeTooLarge, "Message too long"
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return closeAbnormal, ""
}

// close starts closing the connection with code, once; later calls are no-ops.
func (c *connection) close(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		if c.onClose != nil {
			c.onClose()
		}
		c.closer.Add(1)
		go func() {
			defer c.closer.Done()
			if c.upgraded() {
				_ = c.ws.Close(code, reason)
			}
		}()
	})
}

// route invokes the route a client message selects, answering failures with
// API Gateway's error frames. Integration responses are not sent back: API
// Gateway only does so for routes with a route response, and handlers reply
// through the Management API instead.
func (g *Gateway) route(c *connection, m inbound) {
	key := "$default"
	if m.text {
		if k, ok := g.selectRoute(m.data); ok {
			key = k
		}
	}
	fn, ok := g.ws[key]
	if !ok {
		key = "$default"
		fn, ok = g.ws[key]
	}
	ev := g.messageEvent(c, key, m)
	if !ok {
		g.sendError(c, "Forbidden", ev.RequestContext.RequestID)
		return
	}
	invoke := g.invoke
	if fn.message != nil {
		invoke = g.invokeMessage
	}
	if _, err := invoke(fn, ev); err != nil {
		g.log.Error("localgw: route failed", "route", key, "function", fn.logicalID, "connectionId", c.id, "err", err)
		g.sendError(c, "Internal server error", ev.RequestContext.RequestID)
	}
}

func (g *Gateway) sendError(c *connection, message, requestID string) {
	frame := fmt.Sprintf(`{"message": %q, "connectionId":%q, "requestId":%q}`, message, c.id, requestID)
	if err := g.send(c, []byte(frame)); err != nil {
		g.log.Debug("localgw: error frame not delivered", "connectionId", c.id, "err", err)
	}
}

// selectRoute evaluates the route selection expression on a message body.
// Only custom route keys can be selected; anything else falls to $default.
func (g *Gateway) selectRoute(body []byte) (string, bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", false
	}
	for _, field := range g.selector {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = obj[field]
	}
	key, ok := v.(string)
	if !ok || key == "" || strings.HasPrefix(key, "$") {
		return "", false
	}
	return key, true
}

// parseSelectionExpression turns "$request.body.action" (or
// "${request.body.action}") into the field path ["action"].
func parseSelectionExpression(expr string) ([]string, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "${") && strings.HasSuffix(e, "}") {
		e = "$" + e[2:len(e)-1]
	}
	rest, ok := strings.CutPrefix(e, "$request.body.")
	if !ok || rest == "" {
		return nil, fmt.Errorf("localgw: unsupported route selection expression %q", expr)
	}
	return strings.Split(rest, "."), nil
}

// disconnect runs $disconnect, whose failures, as on API Gateway, reach no one.
func (g *Gateway) disconnect(c *connection, code int, reason string) {
	fn, ok := g.ws["$disconnect"]
	if !ok {
		return
	}
	if _, err := g.invoke(fn, g.disconnectEvent(c, code, reason)); err != nil {
		g.log.Error("localgw: $disconnect failed", "function", fn.logicalID, "connectionId", c.id, "err", err)
	}
}
