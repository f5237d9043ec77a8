package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/localgw"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/server"
)

const usage = `minichat: a real-time chat backend for AWS serverless, whole on one machine.

Usage:
  minichat serve [-addr 127.0.0.1:8080] [-data .minichat] [-template template.yaml]
  minichat chat -user NAME [-server http://127.0.0.1:8080] [-ws URL] [-register]   terminal chat
  minichat provision [-table minichat] [-bucket minichat-files] [-path-style] [-template template.yaml]

Environment:
  MINICHAT_ADDR                  listen address (default 127.0.0.1:8080)
  MINICHAT_DATA_DIR              data directory for the embedded store and secret (default .minichat)
  MINICHAT_STORE                 bolt (default) or dynamodb
  MINICHAT_TABLE                 DynamoDB table name (with MINICHAT_STORE=dynamodb)
  MINICHAT_FILES                 embedded (default: an S3 served at /s3) or s3
  MINICHAT_BUCKET                S3 bucket for files (default minichat-files)
  MINICHAT_S3_PATH_STYLE         true for moto and LocalStack
  MINICHAT_MAX_FILE_BYTES        largest file a user may send (default 10485760)
  MINICHAT_FILE_TYPES            comma-separated content types that may be sent (default: png, jpeg, gif, webp, pdf, text, zip)
  MINICHAT_JWT_SECRET            token secret, at least 32 bytes (default: generated in the data dir)
  MINICHAT_ALLOWED_ORIGINS       comma-separated browser origins (default: this server's own)
  MINICHAT_TOKEN_TTL             token lifetime (default 24h)
  MINICHAT_SEND_RATE             sends per second per user (default 5)
  MINICHAT_SEND_BURST            sends in a burst per user (default 5)
  MINICHAT_REGISTERS_PER_IP      registrations per source IP per minute (default 10)
  MINICHAT_LOGIN_FAILS_PER_USER  failed logins per username per minute (default 5)
  MINICHAT_LOGIN_FAILS_PER_IP    failed logins per source IP per minute (default 20)
  MINICHAT_AVATAR_RATE           avatar changes per second per user (default 1)
  MINICHAT_AVATAR_BURST          avatar changes in a burst per user (default 5)
  MINICHAT_FANOUT                concurrent pushes of one fan-out (default 16)
  MINICHAT_TYPING_RATE           typing frames relayed per second per user (default 2)
  MINICHAT_TYPING_BURST          typing frames relayed in a burst per user (default 4)
  MINICHAT_FRAME_CONCURRENCY     frames of one connection run at once, as API Gateway may (default 1: in order)
  MINICHAT_DEBUG_ADDR            serve net/http/pprof there, e.g. 127.0.0.1:6060 (default: off)
  MINICHAT_PASSWORD              password for minichat chat (default: asked for on stdin)
  LOG_LEVEL                      debug, info, warn or error
  AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, ...  standard AWS SDK settings
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "minichat:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], out)
	case "chat":
		return chat(args[1:], os.Stdin, out)
	case "provision":
		return provision(args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	default:
		fmt.Fprint(out, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func serve(args []string, out io.Writer) error {
	settings, err := app.SettingsFromEnv()
	if err != nil {
		return err
	}
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fl.String("addr", envOr("MINICHAT_ADDR", server.DefaultAddr), "listen address")
	fl.StringVar(&settings.DataDir, "data", envOr(app.EnvDataDir, ".minichat"), "data directory")
	tplPath := fl.String("template", "", "SAM template to read routes from (default: the embedded one)")
	fl.SetOutput(out)
	fl.Usage = func() {
		fmt.Fprint(out, usage, "\nFlags of serve:\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	tpl := minichat.Template
	if *tplPath != "" {
		if tpl, err = os.ReadFile(*tplPath); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if addr := os.Getenv(envDebugAddr); addr != "" {
		stopDebug, err := serveDebug(addr)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	gw := localgw.Limits{}
	if v := os.Getenv(envFrameConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%s=%q: want a whole number of at least 1", envFrameConcurrency, v)
		}
		gw.FrameConcurrency = n
	}
	srv, err := server.Start(ctx, server.Options{
		Addr: *addr, Settings: settings, Template: tpl, Logger: logging.FromEnv(), Gateway: gw,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "minichat is running (store: %s)\n  web client:    %s/\n  WebSocket API: %s\n  HTTP API:      %s/api/\nPress Ctrl-C to stop.\n",
		settings.Store, srv.URL, srv.WSURL, srv.URL)
	<-ctx.Done()
	fmt.Fprintln(out, "\nshutting down: closing connections and the store")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// envFrameConcurrency opts `minichat serve` into running a connection's
// frames concurrently, as API Gateway may, to find ordering assumptions
// of a client before AWS does.
const envFrameConcurrency = "MINICHAT_FRAME_CONCURRENCY"

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
