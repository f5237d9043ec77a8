package awsproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kinds of resource an action applies to, as the function permission lists
// of infra/permissions name them.
const (
	OnTable       = "table"
	OnIndex       = "index"
	OnObjects     = "objects"
	OnBucket      = "bucket"
	OnSecret      = "secret"
	OnConnections = "connections"
)

// Call is what one request asked for: an IAM action (or, for the
// Management API, the HTTP method, which is how its one action is
// authorised) and the kind of resource it applies to.
type Call struct {
	On     string
	Action string
}

func (c Call) String() string { return c.On + ":" + c.Action }

// Fault is one misbehaviour the proxy may answer with instead of
// forwarding a request.
type Fault int

// The faults, each as AWS answers it.
const (
	// Throttle answers 400 with the service's throttling error
	// (ProvisionedThroughputExceededException for DynamoDB, SlowDown for
	// S3, TooManyRequestsException for the Management API).
	Throttle Fault = iota + 1
	// ThrottleTx answers a DynamoDB request 400 TransactionCanceledException
	// with a throttling reason (other requests get Throttle).
	ThrottleTx
	// ServerError answers 500 InternalServerError.
	ServerError
	// Unavailable answers 503 ServiceUnavailable.
	Unavailable
	// Reset closes the connection without an answer, after the request was
	// read: the caller cannot tell whether it took effect (it did not).
	Reset
	// Lost forwards the request and then closes the connection instead of
	// answering: the call took effect, and its caller cannot tell.
	Lost
	// Latency delays the request by Faults.Delay and then forwards it.
	Latency
)

var faultNames = map[Fault]string{
	Throttle: "throttle", ThrottleTx: "throttle-tx", ServerError: "500", Unavailable: "503", Reset: "reset", Lost: "lost", Latency: "latency",
}

func (f Fault) String() string { return faultNames[f] }

// Faults says how often the proxy misbehaves, and how.
type Faults struct {
	// Rate is the share of matching requests that get a fault, 0 to 1.
	Rate float64
	// Kinds are the faults picked from, evenly.
	Kinds []Fault
	// Delay is what Latency adds.
	Delay time.Duration
	// Match limits faults to some calls; nil matches every call.
	Match func(Call) bool
	// Seed makes the picks repeatable.
	Seed uint64
}

// Proxy is one running proxy.
type Proxy struct {
	// URL is the proxy's endpoint, to give the code under test in place of
	// the upstream's.
	URL string

	upstream *url.URL
	mu       sync.Mutex
	calls    map[Call]int
	injected map[Fault]int
	faults   Faults
	rng      *rand.Rand
}

// Start runs a proxy in front of upstream until the test ends.
func Start(tb testing.TB, upstream string) *Proxy {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		tb.Fatalf("awsproxy: upstream %q: %v", upstream, err)
	}
	p := &Proxy{upstream: u, calls: map[Call]int{}, injected: map[Fault]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		calls := Classify(r, body)
		if f, ok := p.pick(calls); ok {
			if f == Lost {
				rp.ServeHTTP(httptest.NewRecorder(), r)
				hangUp(w)
				return
			}
			if p.inject(w, r, f, calls) {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// SetFaults replaces the proxy's faults (the zero Faults injects none).
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = f
	p.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Calls returns every distinct call seen so far, sorted.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Call, 0, len(p.calls))
	for c := range p.calls {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Call) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Count returns how many requests made call c.
func (p *Proxy) Count(c Call) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[c]
}

// Injected returns how many faults of each kind were injected.
func (p *Proxy) Injected() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.injected))
	for f, n := range p.injected {
		out[f] = n
	}
	return out
}

func (p *Proxy) pick(calls []Call) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range calls {
		p.calls[c]++
	}
	f := p.faults
	if f.Rate <= 0 || len(f.Kinds) == 0 || len(calls) == 0 {
		return 0, false
	}
	if f.Match != nil && !slices.ContainsFunc(calls, f.Match) {
		return 0, false
	}
	if p.rng.Float64() >= f.Rate {
		return 0, false
	}
	k := f.Kinds[p.rng.IntN(len(f.Kinds))]
	p.injected[k]++
	return k, true
}

// inject answers r with fault f; false when r is to be forwarded after all
// (Latency, once it has waited).
func (p *Proxy) inject(w http.ResponseWriter, r *http.Request, f Fault, calls []Call) bool {
	service := calls[0].On
	dynamo := service == OnTable || service == OnIndex
	switch f {
	case Latency:
		p.mu.Lock()
		d := p.faults.Delay
		p.mu.Unlock()
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		return false
	case Reset:
		hangUp(w)
		return true
	case ServerError:
		writeError(w, dynamo, http.StatusInternalServerError, "InternalServerError", "injected internal error")
	case Unavailable:
		writeError(w, dynamo, http.StatusServiceUnavailable, "ServiceUnavailable", "injected unavailability")
	case ThrottleTx:
		if dynamo {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError]",
				"CancellationReasons": []map[string]string{{"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"}},
			})
			return true
		}
		fallthrough
	case Throttle:
		switch service {
		case OnTable, OnIndex:
			writeError(w, true, http.StatusBadRequest, "ProvisionedThroughputExceededException", "injected throttling")
		case OnConnections:
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Too Many Requests"})
		case OnSecret:
			writeError(w, true, http.StatusBadRequest, "ThrottlingException", "injected throttling")
		default:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected throttling</Message></Error>`)
		}
	}
	return true
}

// hangUp closes the connection of w without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func writeError(w http.ResponseWriter, jsonProtocol bool, status int, code, msg string) {
	if jsonProtocol {
		writeJSON(w, status, map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Classify names the calls of one request: one for most, two for an S3
// copy (which reads its source and writes its target). Requests of the
// JSON protocols name their action in X-Amz-Target; a Management API
// request is authorised by its method; the rest are S3's REST API,
// path-style (/bucket/key).
func Classify(r *http.Request, body []byte) []Call {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		switch {
		case strings.HasPrefix(prefix, "DynamoDB_"):
			on := OnTable
			var in struct{ IndexName string }
			if json.Unmarshal(body, &in) == nil && in.IndexName != "" {
				on = OnIndex
			}
			return []Call{{on, "dynamodb:" + op}}
		case prefix == "secretsmanager":
			return []Call{{OnSecret, "secretsmanager:" + op}}
		}
		return []Call{{"unknown", target}}
	}
	if strings.Contains(r.URL.Path, "/@connections/") {
		return []Call{{OnConnections, r.Method}}
	}
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case key == "" && r.Method == http.MethodGet:
		return []Call{{OnBucket, "s3:ListBucket"}}
	case key == "" && r.Method == http.MethodPost && q.Has("delete"):
		return []Call{{OnObjects, "s3:DeleteObject"}}
	case key == "" && r.Method == http.MethodPost:
		// A browser-style form upload (presigned POST).
		return []Call{{OnObjects, "s3:PutObject"}}
	case r.Method == http.MethodGet, r.Method == http.MethodHead:
		return []Call{{OnObjects, "s3:GetObject"}}
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return []Call{{OnObjects, "s3:GetObject"}, {OnObjects, "s3:PutObject"}}
	case r.Method == http.MethodPut:
		return []Call{{OnObjects, "s3:PutObject"}}
	case r.Method == http.MethodDelete:
		return []Call{{OnObjects, "s3:DeleteObject"}}
	}
	return []Call{{"unknown", r.Method + " " + r.URL.Path}}
}
