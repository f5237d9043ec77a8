//go:build unix

package web_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/server"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// chromium is Debian's chromium, which the browser tests drive; Playwright's
// own browser builds cannot be downloaded here.
const chromium = "/usr/bin/chromium"

// nodeRunBound turns a hung node run into a failure; it is no speed
// requirement.
const nodeRunBound = 8 * time.Minute

// TestSDK runs the SDK's unit tests (a fake WebSocket and fetch; no server,
// no browser).
func TestSDK(t *testing.T) {
	node := need(t, "node")
	runNode(t, nil, node, "--test", "--test-reporter=spec", filepath.Join("sdk", "minichat.test.mjs"))
}

// TestBrowser starts the whole stack and runs the browser tests of e2e/
// against it: the web client in Debian's chromium, driven by playwright-core.
func TestBrowser(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat(chromium); err != nil {
		missing(t, chromium)
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		missing(t, "web/e2e/node_modules (playwright-core)")
	}
	files, err := filepath.Glob(filepath.Join("e2e", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests in e2e/: %v", err)
	}
	s, url := startStack(t)
	// One file at a time: each runs its own chromium, and the machine has 2 cores.
	args := append([]string{"--test", "--test-reporter=spec", "--test-concurrency=1"}, files...)
	runNode(t, []string{"MINICHAT_URL=" + url, "MINICHAT_CONTROL_URL=" + s.control(t), "CHROMIUM=" + chromium}, node, args...)
}

func need(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		missing(t, tool)
	}
	return path
}

// missing fails the browser tier with the install hint (skips it only when
// SKIP names it).
func missing(t *testing.T, what string) {
	t.Helper()
	testenv.Missing(t, testenv.TierBrowser, what, "make browser-deps (web/e2e/install-deps.sh: chromium from apt, npm ci in web/e2e)")
}

// stack is the whole server, which the browser tests may stop and start
// again (same address, same data) through a control endpoint, to show
// that clients survive a server restart.
type stack struct {
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

func startStack(t *testing.T) (s *stack, url string) {
	t.Helper()
	log := logging.New(io.Discard, nil)
	if os.Getenv("E2E_DEBUG") != "" {
		log = logging.New(os.Stderr, slog.LevelDebug)
	}
	s = &stack{opts: server.Options{
		Addr:      "127.0.0.1:0",
		Settings:  app.Settings{Store: app.StoreBolt, DataDir: t.TempDir()},
		Template:  minichat.Template,
		Passwords: auth.BcryptPasswords{Cost: 4},
		// Every test user registers from 127.0.0.1, and the history test
		// fills a conversation quickly; the SDK's unit tests cover
		// rate-limited sends.
		ChatLimits: chat.Limits{RegistersPerIP: 100, SendRate: 1000, SendBurst: 1000},
		Logger:     log,
	}}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	url = s.srv.URL
	s.opts.Addr = strings.TrimPrefix(url, "http://")
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, url
}

func (s *stack) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	srv, err := server.Start(context.Background(), s.opts)
	if err != nil {
		return err
	}
	s.srv = srv
	return nil
}

func (s *stack) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.srv = nil
	return err
}

// control serves POST /stop and POST /start for the tests in node.
func (s *stack) control(t *testing.T) string {
	t.Helper()
	c := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch {
		case r.Method != http.MethodPost:
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		case r.URL.Path == "/stop":
			err = s.stop()
		case r.URL.Path == "/start":
			err = s.start()
		default:
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(c.Close)
	return c.URL
}

// runNode runs node with env added to the test's environment, streams its
// output into the test log and fails the test if node fails. node and the
// browsers it starts share a process group, killed whole on timeout.
func runNode(t *testing.T, env []string, node string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeRunBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("node %v: still running after %v", args, nodeRunBound)
		}
		t.Fatalf("node %v: %v", args, err)
	}
}
