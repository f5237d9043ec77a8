package localgw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

func apiRoute(method, path, dir string) samtemplate.HTTPRoute {
	return samtemplate.HTTPRoute{Method: method, Path: path, FunctionLogicalID: dir + "Function", CodeURI: "functions/" + dir}
}

// echoHTTP answers with the event it got, so tests can inspect it.
func echoHTTP(ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	b, err := json.Marshal(ev)
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusCreated,
		Headers:    map[string]string{"Content-Type": "application/json", "X-Route": ev.RouteKey},
		Cookies:    []string{"session=1; Path=/"},
		Body:       string(b),
	}, err
}

func newHTTPHarness(t *testing.T, fallback http.Handler) *harness {
	return newHarness(t, Config{
		HTTPRoutes: []samtemplate.HTTPRoute{
			apiRoute("GET", "/api/conversations/{peerId}/messages", "api"),
			apiRoute("POST", "/api/conversations/{peerId}/messages", "api"),
			apiRoute("GET", "/api/conversations/special/messages", "api"),
			apiRoute("ANY", "/api/files/{proxy+}", "api"),
			apiRoute("GET", "/api/plain", "plain"),
			apiRoute("GET", "/api/binary", "binary"),
		},
		Limits:   Limits{HTTPBodyBytes: 1024},
		Fallback: fallback,
	}, map[string]any{
		"api":   echoHTTP,
		"plain": func() (map[string]string, error) { return map[string]string{"hello": "world"}, nil },
		"binary": func() (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, IsBase64Encoded: true,
				Body: base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})}, nil
		},
	})
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return req
}

func TestHTTPRouteEvent(t *testing.T) {
	h := newHTTPHarness(t, nil)
	req := newRequest(t, "GET", h.srv.URL+"/api/conversations/u%2042/messages?before=x&before=y&limit=5", nil)
	req.Header.Set("Cookie", "c1=v1; c2=v2")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("User-Agent", "http-test")
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Route") != "GET /api/conversations/{peerId}/messages" ||
		resp.Header.Get("Set-Cookie") != "session=1; Path=/" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("event: %v", err)
	}
	rc := ev.RequestContext
	if ev.Version != "2.0" || ev.RouteKey != "GET /api/conversations/{peerId}/messages" || rc.RouteKey != ev.RouteKey ||
		ev.RawPath != "/api/conversations/u%2042/messages" || ev.RawQueryString != "before=x&before=y&limit=5" ||
		ev.PathParameters["peerId"] != "u 42" || ev.QueryStringParameters["before"] != "x,y" || ev.QueryStringParameters["limit"] != "5" ||
		strings.Join(ev.Cookies, "|") != "c1=v1|c2=v2" || ev.Headers["x-multi"] != "a,b" || ev.Headers["cookie"] != "" ||
		ev.Headers["user-agent"] != "http-test" || ev.IsBase64Encoded || ev.Body != "" {
		t.Errorf("event = %+v", ev)
	}
	if rc.Stage != "$default" || rc.HTTP.Method != "GET" || rc.HTTP.Path != "/api/conversations/u 42/messages" ||
		rc.HTTP.Protocol != "HTTP/1.1" || rc.HTTP.SourceIP != "127.0.0.1" || rc.HTTP.UserAgent != "http-test" ||
		rc.RequestID == "" || rc.TimeEpoch == 0 || rc.Time == "" || rc.APIID == "" || rc.AccountID == "" ||
		rc.DomainName == "" || rc.DomainPrefix != "127" {
		t.Errorf("requestContext = %+v", rc)
	}
}

func TestHTTPRouteMatching(t *testing.T) {
	h := newHTTPHarness(t, nil)
	for _, tc := range []struct {
		method, path, routeKey string
		params                 map[string]string
	}{
		{"GET", "/api/conversations/special/messages", "GET /api/conversations/special/messages", nil},
		{"POST", "/api/conversations/special/messages", "POST /api/conversations/{peerId}/messages", map[string]string{"peerId": "special"}},
		{"PUT", "/api/files/a/b%20c/d", "ANY /api/files/{proxy+}", map[string]string{"proxy": "a/b c/d"}},
	} {
		resp, body := do(t, newRequest(t, tc.method, h.srv.URL+tc.path, strings.NewReader("{}")))
		var ev events.APIGatewayV2HTTPRequest
		_ = json.Unmarshal(body, &ev)
		if resp.StatusCode != http.StatusCreated || ev.RouteKey != tc.routeKey || len(ev.PathParameters) != len(tc.params) {
			t.Errorf("%s %s: %d route %q params %v", tc.method, tc.path, resp.StatusCode, ev.RouteKey, ev.PathParameters)
		}
		for k, v := range tc.params {
			if ev.PathParameters[k] != v {
				t.Errorf("%s %s: param %s = %q, want %q", tc.method, tc.path, k, ev.PathParameters[k], v)
			}
		}
	}
	for _, tc := range [][2]string{
		{"DELETE", "/api/conversations/x/messages"}, {"GET", "/api/conversations//messages"},
		{"GET", "/api/conversations/x/messages/extra"}, {"GET", "/api/files"}, {"GET", "/api/nope"},
	} {
		resp, body := do(t, newRequest(t, tc[0], h.srv.URL+tc[1], nil))
		if resp.StatusCode != http.StatusNotFound || strings.TrimSpace(string(body)) != `{"message":"Not Found"}` {
			t.Errorf("%s %s: %d %s, want 404 Not Found", tc[0], tc[1], resp.StatusCode, body)
		}
	}
}

func TestHTTPBodies(t *testing.T) {
	h := newHTTPHarness(t, nil)
	url := h.srv.URL + "/api/conversations/p/messages"
	for _, tc := range []struct {
		contentType string
		body        []byte
		base64      bool
	}{
		{"application/json", []byte(`{"content":"hé"}`), false},
		{"text/plain; charset=utf-8", []byte("hello"), false},
		{"image/png", []byte{0x89, 'P', 'N', 'G', 0}, true},
	} {
		req := newRequest(t, "POST", url, bytes.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		_, body := do(t, req)
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("%s: %v", tc.contentType, err)
		}
		got := []byte(ev.Body)
		if ev.IsBase64Encoded {
			got, _ = base64.StdEncoding.DecodeString(ev.Body)
		}
		if ev.IsBase64Encoded != tc.base64 || !bytes.Equal(got, tc.body) {
			t.Errorf("%s: base64 %v body %q", tc.contentType, ev.IsBase64Encoded, ev.Body)
		}
	}
	resp, body := do(t, newRequest(t, "POST", url, strings.NewReader(strings.Repeat("x", 1025))))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPResponses(t *testing.T) {
	h := newHTTPHarness(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "static")
	}))
	resp, body := do(t, newRequest(t, "GET", h.srv.URL+"/api/plain", nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
		strings.TrimSpace(string(body)) != `{"hello":"world"}` {
		t.Errorf("plain object response: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = do(t, newRequest(t, "GET", h.srv.URL+"/api/binary", nil))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, []byte{0, 1, 2, 0xff}) {
		t.Errorf("base64 response: %d %v", resp.StatusCode, body)
	}
	resp, body = do(t, newRequest(t, "GET", h.srv.URL+"/index.html", nil))
	if resp.StatusCode != http.StatusOK || string(body) != "static" {
		t.Errorf("fallback: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPRouteSpecificity(t *testing.T) {
	route := func(method, path string) httpRoute {
		return newHTTPRoute(samtemplate.HTTPRoute{Method: method, Path: path}, function{})
	}
	for _, tc := range []struct{ a, b httpRoute }{
		{route("GET", "/a/b"), route("GET", "/a/{x}")},
		{route("GET", "/a/{x}"), route("GET", "/a/{proxy+}")},
		{route("GET", "/a/{x}"), route("ANY", "/a/{x}")},
		{route("GET", "/{x}/b"), route("GET", "/{x}/{y}")},
		{route("ANY", "/{proxy+}"), route("ANY", "$default")},
	} {
		if !tc.a.moreSpecific(tc.b) || tc.b.moreSpecific(tc.a) {
			t.Errorf("%s should win over %s", tc.a.routeKey, tc.b.routeKey)
		}
	}
}

// Concurrent invocations of one function each get their own response:
// aws-lambda-go's handlers reuse their response buffer, so the gateway
// must never let one instance serve two invocations at once.
func TestConcurrentInvocationsKeepTheirResponses(t *testing.T) {
	h := newHarness(t, Config{HTTPRoutes: []samtemplate.HTTPRoute{apiRoute("POST", "/api/echo", "echo")}},
		map[string]any{"echo": func(ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: strings.Repeat(ev.Body, 512)}, nil
		}})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("<%03d>", i)
			resp, got := do(t, newRequest(t, "POST", h.srv.URL+"/api/echo", strings.NewReader(body)))
			if resp.StatusCode != 200 || string(got) != strings.Repeat(body, 512) {
				errs <- fmt.Sprintf("request %d got status %d and %.40q...", i, resp.StatusCode, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
