package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Starting and stopping the servers under test. Each is a child process of
// the generator, started fresh on a free loopback port (":0", read back from
// what it prints) and stopped by its own pid; nothing else is ever signalled.

// benchPassword is every bench user's password.
const benchPassword = "bench-password-1"

// raisedLimits lifts minichat's per-user and per-IP limits, which the bench
// would otherwise hit from one address at once; nothing else is changed.
var raisedLimits = []string{
	"MINICHAT_SEND_RATE=1000000",
	"MINICHAT_SEND_BURST=1000000",
	"MINICHAT_REGISTERS_PER_IP=1000000",
	"MINICHAT_LOGIN_FAILS_PER_USER=1000000",
	"MINICHAT_LOGIN_FAILS_PER_IP=1000000",
}

type server struct {
	kind      proto
	cmd       *exec.Cmd
	pid       int
	addr      string // host:port of the chat (HTTP API and WebSocket)
	debugAddr string // minichat's pprof listener, when asked for
	log       string // the process's stdout and stderr
	exited    chan struct{}
	waitErr   error
}

var (
	minichatAddrRE = regexp.MustCompile(`HTTP API:\s+http://(\S+)/api/`)
	socketIOAddrRE = regexp.MustCompile(`listening on (\S+:\d+)`)
)

// cleanEnv is the environment a server starts with: this process's, less
// whatever could change a minichat default (MINICHAT_*, LOG_LEVEL, AWS_*).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MINICHAT_") || strings.HasPrefix(k, "AWS_") || k == "LOG_LEVEL" || k == "GOMAXPROCS" || k == "GOGC" || k == "GOMEMLIMIT" || k == "PORT" || k == "HOST" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startMinichat runs `minichat serve` on dataDir, on a free loopback port,
// with the raised limits; with debug it also serves pprof on another free
// port (MINICHAT_DEBUG_ADDR).
func startMinichat(ctx context.Context, bin, dataDir, logPath string, debug bool) (*server, error) {
	env := append(cleanEnv(), raisedLimits...)
	env = append(env, "MINICHAT_DATA_DIR="+dataDir, "MINICHAT_ADDR=127.0.0.1:0")
	s := &server{kind: protoMinichat}
	if debug {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.debugAddr = a
		env = append(env, "MINICHAT_DEBUG_ADDR="+a)
	}
	cmd := exec.Command(bin, "serve", "-addr", "127.0.0.1:0", "-data", dataDir)
	cmd.Env = env
	return s, s.start(ctx, cmd, logPath, minichatAddrRE)
}

// startSocketIO runs the reference peer (node server.js in dir) on a free
// loopback port.
func startSocketIO(ctx context.Context, dir, logPath string) (*server, error) {
	cmd := exec.Command("node", "server.js")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "PORT=0", "HOST=127.0.0.1")
	s := &server{kind: protoSocketIO}
	return s, s.start(ctx, cmd, logPath, socketIOAddrRE)
}

func (s *server) start(ctx context.Context, cmd *exec.Cmd, logPath string, addrRE *regexp.Regexp) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	// A file, not a pipe: the server never blocks on its logs, and no
	// goroutine of the generator copies them.
	cmd.Stdout, cmd.Stderr = f, f
	// If the generator dies, so do its servers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.pid, s.log, s.exited = cmd, cmd.Process.Pid, logPath, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(logPath)
		if m := addrRE.FindSubmatch(data); m != nil {
			s.addr = string(m[1])
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited before listening (%v):\n%s", cmd.Path, s.waitErr, tail(data, 2000))
		case <-ctx.Done():
			s.kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("%s did not print its address within 60 s:\n%s", cmd.Path, tail(data, 2000))
		}
	}
}

// stop ends the server with SIGTERM (its clean shutdown), then SIGKILL if it
// is still there after 15 s.
func (s *server) stop() error {
	if s == nil || s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(15 * time.Second):
		s.kill()
		return fmt.Errorf("pid %d ignored SIGTERM for 15 s; killed", s.pid)
	}
}

// kill ends the server with SIGKILL and reaps it.
func (s *server) kill() {
	if s == nil || s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) baseURL() string { return "http://" + s.addr }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var httpClient = &http.Client{Timeout: 60 * time.Second}

// postJSON sends v and decodes a 2xx answer into out.
func postJSON(ctx context.Context, url, token string, v, out any) (int, error) {
	return doJSON(ctx, http.MethodPost, url, token, v, out)
}

func doJSON(ctx context.Context, method, url, token string, v, out any) (int, error) {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, tail(data, 300))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// registerUsers registers n users named prefix0, prefix1, ... through the
// HTTP API, workers at a time (bcrypt makes each take tens of ms), and
// returns them with their tokens, in order.
func registerUsers(ctx context.Context, base, prefix string, n, workers int) ([]user, error) {
	users := make([]user, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				var u user
				var err error
				for try := 0; try < 5; try++ {
					var status int
					status, err = postJSON(ctx, base+"/api/auth/register", "",
						map[string]string{"username": fmt.Sprintf("%s%d", prefix, i), "password": benchPassword}, &u)
					if err == nil || (status != 429 && status/100 != 5 && status != 0) || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				users[i] = u
			}
		})
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return users, nil
}

// copyDir copies the regular files of src (one level, as minichat's data
// dir is) into dst, keeping their modes.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			if e.IsDir() {
				if err := copyDir(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
					return err
				}
			}
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// repoRoot finds the module root (the directory whose go.mod declares
// minichat's module) from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/minichatbar/minichat\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the minichat module (no go.mod declaring github.com/minichatbar/minichat)")
		}
		dir = parent
	}
}

// buildMinichat runs `go build -o out ./cmd/minichat` in the repository.
func buildMinichat(ctx context.Context, repo, out string, race bool) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build minichat: %w", err)
	}
	args := []string{"build"}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "-o", out, "./cmd/minichat")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// workDirs returns the repository, the output directory (out, made
// absolute against the repository and created) and a fresh temporary
// directory for a run of what.
func workDirs(out, what string) (repo, outDir, tmp string, err error) {
	if repo, err = repoRoot(); err != nil {
		return "", "", "", err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(repo, out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", "", err
	}
	if tmp, err = os.MkdirTemp("", "minichat-"+what+"-"); err != nil {
		return "", "", "", err
	}
	return repo, out, tmp, nil
}
