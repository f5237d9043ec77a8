package client

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the options.
const (
	DefaultPingInterval   = 60 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultDialTimeout    = 15 * time.Second
	DefaultBackoffMin     = 250 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultGapGrace       = time.Second

	// Deprecated: catch-up follows seq since protocol v1.1 and has no
	// window; see WithCatchUpWindow.
	DefaultCatchUpWindow = 2 * time.Minute
)

// Option configures a Client.
type Option func(*options)

type options struct {
	httpClient     *http.Client
	wsURL          string
	backoffMin     time.Duration
	backoffMax     time.Duration
	pingInterval   time.Duration
	requestTimeout time.Duration
	dialTimeout    time.Duration
	gapGrace       time.Duration
	logger         *slog.Logger
	clock          clock
}

func defaultOptions() options {
	return options{
		httpClient:     http.DefaultClient,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		pingInterval:   DefaultPingInterval,
		requestTimeout: DefaultRequestTimeout,
		dialTimeout:    DefaultDialTimeout,
		gapGrace:       DefaultGapGrace,
		logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:          realClock{},
	}
}

// WithHTTPClient sets the HTTP client of the HTTP API calls and of the
// WebSocket handshake.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) {
		if hc != nil {
			o.httpClient = hc
		}
	}
}

// WithWebSocketURL sets the WebSocket API's URL. By default it is the base
// URL with ws(s) for http(s) and the path /ws, as `minichat serve` serves
// it; on AWS the WebSocket API has an address of its own.
func WithWebSocketURL(u string) Option {
	return func(o *options) { o.wsURL = u }
}

// WithBackoff bounds the pause between reconnection attempts: it starts
// near minDelay, doubles with each failed attempt up to maxDelay, and is
// jittered (a random part of it is left out) so that many clients cut off
// at once do not come back in step.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(o *options) {
		if minDelay > 0 {
			o.backoffMin = minDelay
		}
		if maxDelay >= o.backoffMin {
			o.backoffMax = maxDelay
		}
	}
}

// WithPingInterval sets how often the client pings the server (default 60
// s, well under API Gateway's 10-minute idle timeout). A ping whose pong
// does not come within the request timeout marks the connection dead.
func WithPingInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pingInterval = d
		}
	}
}

// WithRequestTimeout sets how long a request written on a connection may
// wait for its answer (default 30 s, just over API Gateway's 29 s
// integration timeout). When it passes, the connection is taken for dead and
// replaced, and the request is written again on the new one; after three
// such attempts the call fails with ErrTimeout.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	}
}

// WithDialTimeout bounds one WebSocket handshake (default 15 s).
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.dialTimeout = d
		}
	}
}

// WithGapGrace sets how long a hole in a conversation's or a room's seqs
// may wait for the missing messages to arrive live before they are fetched
// from history (default 1 s). Pushes of concurrent senders can overtake
// one another, so most holes close by themselves within milliseconds.
func WithGapGrace(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.gapGrace = d
		}
	}
}

// WithCatchUpWindow did set how far before the newest message seen the v1
// catch-up started.
//
// Deprecated: catch-up fetches exactly the messages whose seq is missing
// (see the package documentation); this option does nothing.
func WithCatchUpWindow(time.Duration) Option {
	return func(*options) {}
}

// WithLogger sets where the client logs reconnects and anomalies (default:
// nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
