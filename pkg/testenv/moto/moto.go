package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/minichatbar/minichat/pkg/testenv"
)

// Version is the moto release the project tests against.
const Version = "5.2.1"

// InstallHint is the command that installs moto_server.
const InstallHint = "pip install 'moto[server]==" + Version + "'"

// Region is the region Config uses; moto accepts any.
const Region = "us-east-1"

// Bounds of the start-up: how long one server may take to answer, and how
// many ports to try when another process grabs the one picked.
const (
	startTimeout = 60 * time.Second
	portAttempts = 3
)

// Start starts moto_server on a free loopback port and returns its endpoint
// (http://127.0.0.1:PORT) once it answers. The server, and every process it
// started, is killed when t's test ends.
func Start(t testing.TB) string {
	t.Helper()
	path := testenv.Tool(t, testenv.TierMoto, "moto_server", InstallHint)
	var errs []error
	for range portAttempts {
		endpoint, err := start(t, path)
		if err == nil {
			return endpoint
		}
		errs = append(errs, err)
	}
	t.Fatalf("start moto_server: %v", errors.Join(errs...))
	return ""
}

// start runs one server and waits until it answers or exits.
func start(t testing.TB, path string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	out := &tailBuffer{max: 16 << 10}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s: %w", path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		killGroup(cmd)
		<-exited
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return "", fmt.Errorf("moto_server on port %d exited (%v); output:\n%s", port, err, out.String())
		case <-ctx.Done():
			stop()
			return "", fmt.Errorf("moto_server on port %d did not answer within %v; output:\n%s", port, startTimeout, out.String())
		case <-tick.C:
		}
		if answers(ctx, endpoint) {
			t.Cleanup(stop)
			return endpoint, nil
		}
	}
}

// answers reports whether moto's own API answers at endpoint.
func answers(ctx context.Context, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/moto-api/data.json", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before moto binds it; Start then tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Env points code that builds its AWS configuration from the environment
// (the server, the CLI) at the server at endpoint, with the same dummy
// credentials as Config, and hides the machine's own profiles and files
// from it. It uses t.Setenv, so the test cannot run in parallel.
func Env(t testing.TB, endpoint string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": Region,
		"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
	} {
		t.Setenv(k, v)
	}
}

// Config returns an AWS configuration for the server at endpoint: Region,
// static dummy credentials (moto checks no signature), the endpoint as
// every service's base endpoint, and an HTTP client that sends the server
// one request at a time.
//
// moto_server answers each request on its own thread and its backends take
// no lock, so two concurrent conditional writes or transactions can both
// pass their conditions: a request is not atomic against another one, as it
// is on DynamoDB. Serializing requests restores that guarantee (and only
// that one: requests from concurrent callers still interleave), so that
// tests of optimistic concurrency test the code, not moto's races.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("moto", "moto", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: &serialTransport{lock: serverLock(endpoint)}},
	}
}

var (
	locksMu sync.Mutex
	locks   = map[string]*sync.Mutex{}
)

// serverLock is the one lock of the server at endpoint, shared by every
// client Config makes for it.
func serverLock(endpoint string) *sync.Mutex {
	locksMu.Lock()
	defer locksMu.Unlock()
	l, ok := locks[endpoint]
	if !ok {
		l = &sync.Mutex{}
		locks[endpoint] = l
	}
	return l
}

// serialTransport holds the server's lock from sending a request until its
// response body has been read in full.
type serialTransport struct {
	lock *sync.Mutex
}

func (s *serialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.lock.Lock()
	defer s.lock.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", req.Method, req.URL, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// tailBuffer keeps the last max bytes written to it: enough of the
// server's log to explain a failed start.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
