package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
)

// Config holds the ports and settings an App is built from. Tokens,
// Passwords and Files may be left out by a function that never uses them
// (see NeedsTokens); JWTSecret then matters only when Tokens is nil.
type Config struct {
	Store   chat.Store
	Limiter chat.Limiter
	Pusher  chat.Pusher
	Files   chat.Files
	Metrics chat.Metrics
	// Tokens, when nil, are JWTs signed with JWTSecret (if it is set).
	Tokens     chat.Tokens
	JWTSecret  []byte
	TokenTTL   time.Duration
	FilePolicy chat.FilePolicy
	Origins    edge.Origins
	Limits     chat.Limits
	Logger     *slog.Logger
	// Passwords defaults to bcrypt at its default cost.
	Passwords chat.Passwords
	// Now replaces time.Now in the service (tests).
	Now func() time.Time
}

// App is a wired application.
type App struct {
	Service *chat.Service
	WS      *edge.WebSocket
	HTTP    *edge.HTTP
	Log     *slog.Logger
}

// New wires an App.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Passwords == nil {
		cfg.Passwords = auth.BcryptPasswords{}
	}
	tokens := cfg.Tokens
	if tokens == nil && len(cfg.JWTSecret) > 0 {
		opts := []auth.JWTOption{}
		if cfg.TokenTTL > 0 {
			opts = append(opts, auth.WithTTL(cfg.TokenTTL))
		}
		t, err := auth.NewJWTTokens(cfg.JWTSecret, opts...)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		tokens = t
	}
	svc, err := chat.NewService(chat.Config{
		Store: cfg.Store, Limiter: cfg.Limiter, Pusher: cfg.Pusher, Encoder: edge.Wire{},
		Tokens: tokens, Passwords: cfg.Passwords, Files: cfg.Files, Metrics: cfg.Metrics,
		FilePolicy: cfg.FilePolicy, Limits: cfg.Limits, Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return &App{
		Service: svc,
		WS:      edge.NewWebSocket(svc, cfg.Pusher, cfg.Origins, cfg.Logger),
		HTTP:    edge.NewHTTP(svc, cfg.Origins, cfg.Logger),
		Log:     cfg.Logger,
	}, nil
}

// Handlers returns the handler of every function, keyed by its directory
// under functions/ (template.yaml's CodeUri). A function's main.go starts
// the entry of its own directory; the local gateway invokes them all.
func (a *App) Handlers() map[string]any {
	h := map[string]any{
		"authorizer": edge.AuthorizerHandler(a.WS.Authorize),
		"connect":    edge.WSHandler(a.WS.Connect),
		"disconnect": edge.WSHandler(a.WS.Disconnect),
		"default":    edge.WSHandler(a.WS.Default),
		"httpapi":    edge.HTTPHandler(a.HTTP.Handle),
	}
	for _, action := range a.WS.Actions() {
		h[action] = a.WS.Action(action)
	}
	return h
}

// Handler returns the Lambda handler of the function in functions/<dir>.
func (a *App) Handler(dir string) (lambda.Handler, error) {
	fn, ok := a.Handlers()[dir]
	if !ok {
		return nil, fmt.Errorf("app: no function %q", dir)
	}
	return lambda.NewHandler(fn), nil
}
