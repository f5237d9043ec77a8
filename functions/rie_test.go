//go:build linux

package functions

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/testenv"
)

// rieModule and rieVersion pin the emulator; `make tools` installs this
// version into .tools/bin (the module proxy serves no tagged release).
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	rieHint    = "run `make tools` (go install " + rieModule + "/cmd/aws-lambda-rie@" + rieVersion + " into .tools/bin)"
)

// Failure bounds, not speed assertions.
const (
	startTimeout  = 30 * time.Second
	invokeTimeout = 60 * time.Second
)

// emulatorPath returns the pinned aws-lambda-rie: .tools/bin first, then
// PATH. Missing, it fails the test under CI=true and skips it otherwise.
func emulatorPath(t testing.TB) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(repoRoot, ".tools", "bin", "aws-lambda-rie"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("aws-lambda-rie"); err != nil {
			testenv.Missing(t, testenv.TierRIE, "aws-lambda-rie", rieHint)
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: not a Go binary whose version can be read (%v); %s", path, err, rieHint)
	}
	if info.Main.Path != rieModule || info.Main.Version != rieVersion {
		t.Fatalf("%s is %s@%s, want the pinned %s@%s; %s", path, info.Main.Path, info.Main.Version, rieModule, rieVersion, rieHint)
	}
	return path
}

// emulator is one function's bootstrap running under aws-lambda-rie, as in
// a Lambda execution environment: one invocation at a time, initialised on
// the first.
type emulator struct {
	// stop kills the emulator and the bootstrap; the test's end does too.
	stop    func()
	dir     string
	url     string
	out     *syncBuffer
	client  *http.Client
	invokes int
}

// startEmulator runs bootstrap under the emulator at rie with exactly env
// as its environment (the emulator passes it on to the function) and stops
// both when the test ends.
func startEmulator(t testing.TB, rie, bootstrap, dir string, env []string) *emulator {
	t.Helper()
	apiPort, runtimePort := freePort(t), freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(apiPort)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(runtimePort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// The emulator and the bootstrap it starts form one process group, killed
	// together; Pdeathsig also kills the emulator if this test process dies
	// without running its cleanups (a panic, a -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", rie, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := sync.OnceFunc(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("%s: emulator exited before listening; output:\n%s", dir, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: emulator not listening on %s after %v; output:\n%s", dir, addr, startTimeout, out.String())
		}
	}
	return &emulator{
		stop:   stop,
		dir:    dir,
		url:    "http://" + addr + "/2015-03-31/functions/function/invocations",
		out:    out,
		client: &http.Client{Timeout: invokeTimeout},
	}
}

// invoke sends event to the function and returns what it answered: its
// response, or for a handler error the runtime's error payload, with
// failed set.
func (e *emulator) invoke(t testing.TB, event any) (resp []byte, failed bool) {
	t.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("invoke %s: %v; output:\n%s", e.dir, err, e.out.String())
	}
	defer res.Body.Close()
	resp, err = io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("invoke %s: read: %v", e.dir, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("invoke %s: emulator answered %d %s; output:\n%s", e.dir, res.StatusCode, resp, e.out.String())
	}
	e.invokes++
	var fnErr struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(resp, &fnErr) == nil && fnErr.ErrorType != "" {
		return resp, true
	}
	return resp, false
}

// call invokes and decodes the function's response into out; a handler
// error fails the test.
func (e *emulator) call(t testing.TB, event, out any) {
	t.Helper()
	resp, failed := e.invoke(t, event)
	if failed {
		t.Fatalf("%s returned an error: %s; output:\n%s", e.dir, resp, e.out.String())
	}
	if err := json.Unmarshal(resp, out); err != nil {
		t.Fatalf("%s: decode %s: %v", e.dir, resp, err)
	}
}

// The emulator logs each phase's duration as the Lambda service does:
// "INIT REPORT(durationMs: …)" once the bootstrap has started and asked
// for its first event, and a "REPORT RequestId: … Duration: … ms" line per
// invocation. (The REPORT line's own "Init Duration" is no cold start:
// this emulator starts the runtime asynchronously, so that figure only
// covers handing the bootstrap over.)
var (
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	durationRE   = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms`)
)

// reportWait bounds the wait for the emulator's log lines, which reach the
// test through a pipe a little after the invocation's answer.
const reportWait = 10 * time.Second

// initDuration is the init phase the emulator reported: from starting the
// bootstrap to its first request for an event.
func (e *emulator) initDuration(t testing.TB) time.Duration {
	t.Helper()
	d := e.waitFor(t, initReportRE, 1)
	return d[0]
}

// durations are the Duration of the first n invocations the emulator
// reported, in order.
func (e *emulator) durations(t testing.TB, n int) []time.Duration {
	t.Helper()
	return e.waitFor(t, durationRE, n)[:n]
}

// waitFor returns the milliseconds of re's first group in the emulator's
// output, once it has n matches.
func (e *emulator) waitFor(t testing.TB, re *regexp.Regexp, n int) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(reportWait)
	for {
		ms := re.FindAllStringSubmatch(e.out.String(), -1)
		if len(ms) >= n {
			out := make([]time.Duration, 0, len(ms))
			for _, m := range ms {
				f, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatalf("%s: %q: %v", e.dir, m[0], err)
				}
				out = append(out, time.Duration(f*float64(time.Millisecond)))
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines like %q in the emulator's output after %v, want %d:\n%s", e.dir, len(ms), re, reportWait, n, e.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
