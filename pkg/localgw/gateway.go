package localgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// Defaults New applies to zero fields of Config.
const (
	// DefaultStage is the stage name put in WebSocket events.
	DefaultStage = "ws"
	// DefaultWebSocketPath is where clients connect.
	DefaultWebSocketPath = "/ws"
	// DefaultRouteSelectionExpression routes messages by their "action" field.
	DefaultRouteSelectionExpression = "$request.body.action"
	// DefaultAPIID is the apiId put in events, shaped like API Gateway's.
	DefaultAPIID = "localgw000"
	// DefaultAccountID is the account put in events and ARNs.
	DefaultAccountID = "123456789012"
	// DefaultRegion is the region put in ARNs.
	DefaultRegion = "us-east-1"
)

// API Gateway's quotas, the defaults of Limits.
const (
	// DefaultFrameBytes is the largest frame a client may send.
	DefaultFrameBytes = 32 << 10
	// DefaultMessageBytes is the largest message a client may send or a
	// Management API call may post.
	DefaultMessageBytes = 128 << 10
	// DefaultIdleTimeout closes connections on which the client is silent.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxDuration closes connections this old.
	DefaultMaxDuration = 2 * time.Hour
	// DefaultIntegrationTimeout bounds each handler invocation.
	DefaultIntegrationTimeout = 29 * time.Second
	// DefaultWriteTimeout bounds each write to a socket.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultHTTPBodyBytes is the largest HTTP API request body.
	DefaultHTTPBodyBytes = 10 << 20
)

// ErrMissingHandler is returned by New when a route's function directory has
// no handler in Config.Handlers.
var ErrMissingHandler = errors.New("localgw: no handler for function")

// Config configures a Gateway. Only Handlers and at least one route are
// required; every other zero field takes its default.
type Config struct {
	// WebSocketRoutes are the routes of the WebSocket API, as returned by
	// samtemplate.Template.WebSocketRoutes.
	WebSocketRoutes []samtemplate.WSRoute
	// RouteSelectionExpression selects a message's route, e.g.
	// "$request.body.action" (the default).
	RouteSelectionExpression string
	// HTTPRoutes are the routes of the HTTP API, as returned by
	// samtemplate.Template.HTTPRoutes.
	HTTPRoutes []samtemplate.HTTPRoute
	// Handlers maps a function's normalised CodeURI ("functions/connect") to
	// what starts an instance of it, typically
	// func() lambda.Handler { return lambda.NewHandler(fn) }. Like Lambda, the
	// gateway runs one invocation at a time per instance and starts more
	// instances for concurrent invocations: aws-lambda-go's handlers reuse
	// their response buffer, so one instance must never serve two at once.
	Handlers map[string]func() lambda.Handler
	// Messages optionally gives, by the same keys, a WebSocket function's
	// handler itself: its frames (MESSAGE events, the busiest path) are
	// then handed to it as values instead of through JSON and the Lambda
	// runtime's decoder; the handler is the same code. $connect,
	// $disconnect and the HTTP API always go through JSON, as on Lambda.
	Messages map[string]MessageHandler

	// Stage is the WebSocket stage name put in events ("ws" by default).
	Stage string
	// WebSocketPath is where clients connect ("/ws" by default); the
	// Management API is served under WebSocketPath + "/@connections/".
	WebSocketPath string
	// DomainName is put in events; empty means the Host of each request.
	DomainName string
	// APIID, AccountID and Region are put in events and ARNs.
	APIID     string
	AccountID string
	Region    string

	Limits Limits
	// Logger receives invocation failures and connection events; nil means
	// slog.Default().
	Logger *slog.Logger
	// CheckOrigin decides whether a WebSocket handshake may proceed (403 if
	// not), before any authorizer or $connect runs; nil allows every origin.
	CheckOrigin func(r *http.Request) bool
	// Fallback serves requests that match neither the WebSocket path, the
	// Management API nor an HTTP route; nil answers 404 like API Gateway.
	Fallback http.Handler
}

// Limits are the quotas the gateway enforces; zero fields take API
// Gateway's values.
type Limits struct {
	// FrameBytes is the largest WebSocket frame payload a client may send;
	// a larger frame closes the connection with 1009.
	FrameBytes int64
	// MessageBytes is the largest WebSocket message (all frames) a client may
	// send (larger: close 1009) and the largest Management API payload (larger:
	// 413 PayloadTooLargeException).
	MessageBytes int64
	// IdleTimeout closes a connection on which the client sent nothing for
	// that long.
	IdleTimeout time.Duration
	// MaxDuration closes every connection that has been open that long.
	MaxDuration time.Duration
	// IntegrationTimeout bounds every handler invocation.
	IntegrationTimeout time.Duration
	// WriteTimeout bounds each write to a socket, so that a client that does
	// not read cannot hold a pusher forever.
	WriteTimeout time.Duration
	// HTTPBodyBytes is the largest HTTP API request body.
	HTTPBodyBytes int64
	// FrameConcurrency is how many of one connection's frames run at once.
	// 1, the default, runs them one after another, in the order they came;
	// more runs that many at once, as API Gateway may (it promises no
	// order), so that a client's ordering assumptions fail locally too.
	FrameConcurrency int
}

// FromTemplate returns a Config holding the WebSocket routes, route
// selection expression and HTTP routes of t; the caller adds Handlers and
// anything else. The template's stage name is left out: locally the stage is
// the WebSocket path's, not the deployed one.
func FromTemplate(t *samtemplate.Template) (Config, error) {
	api, err := t.WebSocketAPI()
	if err != nil {
		return Config{}, fmt.Errorf("localgw: %w", err)
	}
	httpRoutes, err := t.HTTPRoutes()
	if err != nil {
		return Config{}, fmt.Errorf("localgw: %w", err)
	}
	return Config{
		WebSocketRoutes:          api.Routes,
		RouteSelectionExpression: api.RouteSelectionExpression,
		HTTPRoutes:               httpRoutes,
	}, nil
}

func (l Limits) withDefaults() Limits {
	set := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.FrameBytes, DefaultFrameBytes)
	set(&l.MessageBytes, DefaultMessageBytes)
	set(&l.HTTPBodyBytes, DefaultHTTPBodyBytes)
	setD(&l.IdleTimeout, DefaultIdleTimeout)
	setD(&l.MaxDuration, DefaultMaxDuration)
	setD(&l.IntegrationTimeout, DefaultIntegrationTimeout)
	setD(&l.WriteTimeout, DefaultWriteTimeout)
	return l
}

// Gateway serves the WebSocket API, its Management API and the HTTP API. It
// is an http.Handler.
type Gateway struct {
	cfg      Config
	limits   Limits
	log      *slog.Logger
	ws       map[string]function // by route key
	selector []string            // body field path of the route selection expression
	http     []httpRoute

	// mu guards conns and closing; every push looks its connection up,
	// so readers share it.
	mu      sync.RWMutex
	conns   map[string]*connection
	closing bool
	// held counts registered connections until their $disconnect
	// invocation ended (Connections).
	held atomic.Int64
	// active counts handshakes, live connections (until their $disconnect
	// ran) and HTTP API requests, for Shutdown to wait on.
	active sync.WaitGroup
	// inflight counts handler invocations, including ones that outlived
	// their integration timeout.
	inflight sync.WaitGroup
	// running is the same count for WaitIdle, which may wait while new
	// invocations start (a WaitGroup may not). It is counted without a
	// lock; runMu is taken only to wake WaitIdle when it reaches zero.
	runMu   sync.Mutex
	running atomic.Int64
	idle    *sync.Cond
	runners *runners
}

// MessageHandler is a WebSocket route's handler, as aws-lambda-go would
// call it.
type MessageHandler func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// function is a route's target: the handler and what events and logs call it.
type function struct {
	logicalID  string
	arn        string     // put in every invocation's lambdacontext
	instances  *sync.Pool // of idle lambda.Handler instances
	message    MessageHandler
	authorizer *authorizer
}

// New builds a Gateway from cfg.
func New(cfg Config) (*Gateway, error) {
	if cfg.Stage == "" {
		cfg.Stage = DefaultStage
	}
	if cfg.WebSocketPath == "" {
		cfg.WebSocketPath = DefaultWebSocketPath
	}
	cfg.WebSocketPath = "/" + strings.Trim(cfg.WebSocketPath, "/")
	if cfg.RouteSelectionExpression == "" {
		cfg.RouteSelectionExpression = DefaultRouteSelectionExpression
	}
	if cfg.APIID == "" {
		cfg.APIID = DefaultAPIID
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	g := &Gateway{
		cfg:     cfg,
		limits:  cfg.Limits.withDefaults(),
		log:     cfg.Logger,
		ws:      map[string]function{},
		conns:   map[string]*connection{},
		runners: newRunners(),
	}
	g.idle = sync.NewCond(&g.runMu)
	if g.log == nil {
		g.log = slog.Default()
	}
	selector, err := parseSelectionExpression(cfg.RouteSelectionExpression)
	if err != nil {
		return nil, err
	}
	g.selector = selector
	for _, r := range cfg.WebSocketRoutes {
		fn, err := g.function(r.FunctionLogicalID, r.CodeURI)
		if err != nil {
			return nil, fmt.Errorf("localgw: route %s: %w", r.RouteKey, err)
		}
		if r.Authorizer != nil {
			a, err := g.function(r.Authorizer.FunctionLogicalID, r.Authorizer.CodeURI)
			if err != nil {
				return nil, fmt.Errorf("localgw: authorizer of route %s: %w", r.RouteKey, err)
			}
			fn.authorizer = &authorizer{function: a, identitySources: r.Authorizer.IdentitySources}
		}
		g.ws[r.RouteKey] = fn
	}
	for _, r := range cfg.HTTPRoutes {
		fn, err := g.function(r.FunctionLogicalID, r.CodeURI)
		if err != nil {
			return nil, fmt.Errorf("localgw: HTTP route %s: %w", r.RouteKey(), err)
		}
		g.http = append(g.http, newHTTPRoute(r, fn))
	}
	return g, nil
}

func (g *Gateway) function(logicalID, codeURI string) (function, error) {
	h, ok := g.cfg.Handlers[samtemplate.NormaliseCodeURI(codeURI)]
	if !ok || h == nil {
		return function{}, fmt.Errorf("%w %s (%s)", ErrMissingHandler, logicalID, codeURI)
	}
	if logicalID == "" {
		logicalID = codeURI
	}
	return function{
		logicalID: logicalID, arn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", g.cfg.Region, g.cfg.AccountID, logicalID),
		instances: &sync.Pool{New: func() any { return h() }},
		message:   g.cfg.Messages[samtemplate.NormaliseCodeURI(codeURI)],
	}, nil
}

// ServeHTTP serves the WebSocket handshake at WebSocketPath, the Management
// API under WebSocketPath/@connections/, and the HTTP API routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == g.cfg.WebSocketPath:
		g.serveWebSocket(w, r)
	case strings.HasPrefix(r.URL.Path, g.cfg.WebSocketPath+"/@connections/"):
		g.serveManagement(w, r)
	default:
		if g.serveHTTPAPI(w, r) {
			return
		}
		if g.cfg.Fallback != nil {
			g.cfg.Fallback.ServeHTTP(w, r)
			return
		}
		writeMessage(w, http.StatusNotFound, "Not Found")
	}
}

// track registers one unit of work for Shutdown to wait on; false once the
// gateway is shutting down.
func (g *Gateway) track() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.active.Add(1)
	return true
}

// WaitIdle returns once no handler invocation is running, or ctx ends. A
// handler may push after its reply (a send's fan-out follows its ack), so
// this is how a test knows that everything a request caused has been
// pushed.
func (g *Gateway) WaitIdle(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		g.runMu.Lock()
		for g.running.Load() > 0 && ctx.Err() == nil {
			g.idle.Wait()
		}
		g.runMu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return ctx.Err()
	case <-ctx.Done():
		g.runMu.Lock()
		g.idle.Broadcast()
		g.runMu.Unlock()
		return ctx.Err()
	}
}

func (g *Gateway) started() { g.running.Add(1) }

func (g *Gateway) finished() {
	if g.running.Add(-1) == 0 {
		g.runMu.Lock()
		g.idle.Broadcast()
		g.runMu.Unlock()
	}
}

// Shutdown closes every WebSocket with 1001 (going away), runs their
// $disconnect, refuses new handshakes and requests with 503, and waits for
// in-flight invocations, or for ctx to end.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	conns := make([]*connection, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	for _, c := range conns {
		c.close(closeGoingAway, "Going away")
	}
	done := make(chan struct{})
	go func() {
		g.active.Wait()
		g.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("localgw: shutdown: %w", ctx.Err())
	}
}
