package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/apigwpush"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/awsconf"
	"github.com/minichatbar/minichat/pkg/awsconf/awslocal"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/localgw"
	"github.com/minichatbar/minichat/pkg/localpush"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/memtrim"
	"github.com/minichatbar/minichat/pkg/metrics/prom"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
	"github.com/minichatbar/minichat/web"
)

// Options configure Start. Zero values take the defaults of `make run`.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:8080; ":0" ports work).
	Addr string
	// Settings select the store and secrets, as app.SettingsFromEnv reads
	// them; an empty JWT secret is read from (or created in) the data dir.
	Settings app.Settings
	// Template is the SAM template whose routes the gateway serves.
	Template []byte
	// Store and Limiter, when set, are used instead of opening
	// Settings.Store (and its limiter).
	Store   chat.Store
	Limiter chat.Limiter
	// Passwords overrides the password hasher (tests use a cheap one).
	Passwords chat.Passwords
	// ChatLimits, when any field is set, replace Settings.Limits.
	ChatLimits chat.Limits
	Gateway    localgw.Limits
	Logger     *slog.Logger
	// AWSHTTPClient, when set, sends the AWS SDK's requests instead of the
	// SDK's own client; everything else (endpoints, region, credentials)
	// still comes from the environment. Tests against moto_server use it
	// to send moto one request at a time (see pkg/testenv/moto.Config).
	AWSHTTPClient aws.HTTPClient
	// PushEndpoint, when set, makes pushes go through the AWS SDK's
	// Management API client (as on Lambda) instead of a function call: it
	// gets the gateway's own Management API endpoint and returns the one
	// to use (the same, or a proxy in front of it, as the fault tests do).
	PushEndpoint func(gateway string) string
}

// Server is a running local stack.
type Server struct {
	// URL is the base URL (http://host:port) of the web client and HTTP API;
	// WSURL is the WebSocket API's URL.
	URL, WSURL string

	gw      *localgw.Gateway
	http    *http.Server
	closers []func() error
	done    chan error
}

// DefaultAddr is where `minichat serve` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// Start listens on opts.Addr and serves until Shutdown.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Settings.DataDir == "" {
		opts.Settings.DataDir = ".minichat"
	}
	if opts.Settings.Bucket == "" {
		opts.Settings.Bucket = app.DefaultBucket
	}
	tpl, err := samtemplate.Parse(opts.Template)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	gwCfg, err := localgw.FromTemplate(tpl)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	secret := opts.Settings.JWTSecret
	if len(secret) == 0 {
		if secret, err = localSecret(opts.Settings.DataDir); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	s.WSURL = "ws://" + ln.Addr().String() + localgw.DefaultWebSocketPath
	fail := func(err error) (*Server, error) {
		ln.Close()
		s.close()
		return nil, err
	}

	awsCfg, err := awslocal.Local(ctx)
	if err != nil {
		return fail(err)
	}
	if opts.AWSHTTPClient != nil {
		awsCfg.HTTPClient = opts.AWSHTTPClient
	}
	store, limiter := opts.Store, opts.Limiter
	if store == nil {
		if store, limiter, err = s.openStore(ctx, opts.Settings, awsCfg); err != nil {
			return fail(err)
		}
	}
	if limiter == nil {
		limiter = memlimit.New()
	}
	limits := opts.Settings.Limits
	if opts.ChatLimits != (chat.Limits{}) {
		limits = opts.ChatLimits
	}
	origins := opts.Settings.Origins
	if len(origins) == 0 {
		origins = selfOrigins(ln.Addr().(*net.TCPAddr))
	}
	mux := http.NewServeMux()
	files, err := s.files(opts.Settings, origins, awsCfg, mux)
	if err != nil {
		return fail(err)
	}
	local := &localpush.GatewayPusher{}
	var pusher chat.Pusher = local
	if opts.PushEndpoint != nil {
		pushCfg := awsCfg.Copy()
		pushCfg.HTTPClient = awsconf.HTTPClient()
		pusher = apigwpush.NewFromConfig(pushCfg, opts.PushEndpoint(s.URL+localgw.DefaultWebSocketPath))
	}
	metrics := prom.New()
	mux.Handle("/metrics", metrics.Handler())
	a, err := app.New(app.Config{
		Store: store, Limiter: limiter, Pusher: pusher, Metrics: metrics,
		Files: files, FilePolicy: opts.Settings.FilePolicy,
		JWTSecret: secret, TokenTTL: opts.Settings.TokenTTL, Origins: origins,
		Limits: limits, Logger: opts.Logger, Passwords: opts.Passwords,
	})
	if err != nil {
		return fail(err)
	}
	handlers := map[string]func() lambda.Handler{}
	messages := map[string]localgw.MessageHandler{}
	for dir, fn := range a.Handlers() {
		handlers["functions/"+dir] = func() lambda.Handler { return lambda.NewHandler(fn) }
		if ws, ok := fn.(edge.WSHandler); ok {
			messages["functions/"+dir] = localgw.MessageHandler(ws)
		}
	}
	gwCfg.Messages = messages
	webRoot, err := fs.Sub(web.Files(), "app")
	if err != nil {
		return fail(err)
	}
	mux.Handle("/", http.FileServerFS(webRoot))
	mux.Handle("/sdk/", http.FileServerFS(web.Files()))
	gwCfg.Handlers, gwCfg.Limits, gwCfg.Logger, gwCfg.Fallback = handlers, opts.Gateway, opts.Logger, securityHeaders(mux)
	s.gw, err = localgw.New(gwCfg)
	if err != nil {
		return fail(err)
	}
	local.Gateway = s.gw
	s.trim()
	s.http = &http.Server{Handler: s.gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// trim returns memory to the operating system after the connections fall
// to half their peak and their $disconnect work is over (see package
// memtrim), until the server closes.
func (s *Server) trim() {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		memtrim.Run(ctx, time.Second, memtrim.MinDrop, s.gw.Connections, debug.FreeOSMemory)
	}()
	s.closers = append(s.closers, func() error {
		cancel()
		<-stopped
		return nil
	})
}

// WaitIdle returns once no handler is running: everything the requests so
// far caused has been pushed (see localgw.Gateway.WaitIdle).
func (s *Server) WaitIdle(ctx context.Context) error { return s.gw.WaitIdle(ctx) }

// Shutdown closes every socket (running $disconnect for each), stops
// serving and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	errs := []error{s.gw.Shutdown(ctx), s.stopHTTP(ctx)}
	if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	errs = append(errs, s.close())
	return errors.Join(errs...)
}

// stopHTTP lets requests in flight finish, but not for long: net/http
// counts a keep-alive connection that never sent a request as active for
// 5 s, which would hold every shutdown that long.
func (s *Server) stopHTTP(ctx context.Context) error {
	grace, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.http.Shutdown(grace); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return s.http.Close()
}

func (s *Server) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// openStore opens the store settings name, with the limiter that goes with
// it: bolt (the default) with limits in memory, or DynamoDB with limits in
// the same table, so that several servers on one table share them. A bolt
// store is swept of the connections and seats of the process before: none
// of its sockets can exist any more.
func (s *Server) openStore(ctx context.Context, settings app.Settings, awsCfg aws.Config) (chat.Store, chat.Limiter, error) {
	switch settings.Store {
	case "", app.StoreBolt:
		b, err := boltstore.Open(filepath.Join(settings.DataDir, "minichat.db"))
		if err != nil {
			return nil, nil, fmt.Errorf("server: %w", err)
		}
		s.closers = append(s.closers, b.Close)
		if err := b.ForgetConnections(ctx); err != nil {
			return nil, nil, fmt.Errorf("server: %w", err)
		}
		return b, memlimit.New(), nil
	case app.StoreDynamoDB:
		table := settings.Table
		if table == "" {
			table = app.DefaultTable
		}
		db := dynamodb.NewFromConfig(awsCfg)
		return dynamostore.New(db, table), dynamostore.NewLimiter(db, table), nil
	default:
		return nil, nil, fmt.Errorf("server: %s=%q: want %q or %q", app.EnvStore, settings.Store, app.StoreBolt, app.StoreDynamoDB)
	}
}

// S3Files returns the Files adapter over the bucket settings name;
// endpoint, when set, overrides the SDK's (the embedded S3).
func S3Files(awsCfg aws.Config, settings app.Settings, endpoint string) *s3files.S3Files {
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = settings.PathStyle || endpoint != ""
	})
	return s3files.New(client, settings.Bucket)
}

// S3Path is where the embedded S3 endpoint is served.
const S3Path = "/s3"

// files returns the Files adapter: over the embedded S3, served on mux at
// S3Path, unless settings ask for a real S3 endpoint.
func (s *Server) files(settings app.Settings, origins edge.Origins, awsCfg aws.Config, mux *http.ServeMux) (chat.Files, error) {
	if settings.Files == app.FilesS3 {
		return S3Files(awsCfg, settings, ""), nil
	}
	if settings.Files != "" && settings.Files != app.FilesEmbedded {
		return nil, fmt.Errorf("server: %s=%q: want %q or %q", app.EnvFiles, settings.Files, app.FilesEmbedded, app.FilesS3)
	}
	embedded, err := embeds3.Open(filepath.Join(settings.DataDir, "files.db"), settings.Bucket)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, embedded.Close)
	mux.Handle(S3Path+"/", http.StripPrefix(S3Path, embedded.Guard(origins.Allowed)))
	return S3Files(awsCfg, settings, s.URL+S3Path), nil
}

// selfOrigins are the origins of pages this server serves itself.
func selfOrigins(a *net.TCPAddr) []string {
	port := fmt.Sprint(a.Port)
	o := []string{"http://" + net.JoinHostPort(a.IP.String(), port)}
	if a.IP.IsLoopback() || a.IP.IsUnspecified() {
		o = append(o, "http://localhost:"+port, "http://127.0.0.1:"+port)
	}
	return o
}

// localSecret returns the JWT secret kept in dir, creating it on first
// use, so that tokens survive restarts of the local server.
func localSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("server: read secret: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("server: write secret: %w", err)
	}
	return []byte(secret), nil
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'")
		h.ServeHTTP(w, r)
	})
}
