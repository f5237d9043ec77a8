package localgw

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// wait bounds every wait of a test for something the gateway must do, so
// that a broken gateway fails the test instead of hanging it.
const wait = 10 * time.Second

// invokeFunc adapts a function to lambda.Handler.
type invokeFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokeFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// harness runs a Gateway on a loopback httptest server. Every invocation's
// payload is recorded per function directory before the handler runs.
type harness struct {
	t     *testing.T
	gw    *Gateway
	srv   *httptest.Server
	mu    sync.Mutex
	calls map[string]chan []byte
}

// wsRoute declares a WebSocket route served by functions/<dir>.
func wsRoute(key, dir string) samtemplate.WSRoute {
	return samtemplate.WSRoute{RouteKey: key, FunctionLogicalID: dir + "Function", CodeURI: "functions/" + dir}
}

// newHarness starts a gateway; handlers maps a function directory under
// functions/ to a handler function for lambda.NewHandler.
func newHarness(t *testing.T, cfg Config, handlers map[string]any) *harness {
	t.Helper()
	h := &harness{t: t, calls: map[string]chan []byte{}}
	cfg.Handlers = map[string]func() lambda.Handler{}
	for dir, fn := range handlers {
		ch := h.channel(dir)
		cfg.Handlers["functions/"+dir] = func() lambda.Handler {
			inner := lambda.NewHandler(fn)
			return invokeFunc(func(ctx context.Context, p []byte) ([]byte, error) {
				ch <- p
				return inner.Invoke(ctx, p)
			})
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.gw = gw
	h.srv = httptest.NewServer(gw)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		h.srv.Close()
	})
	return h
}

func (h *harness) channel(dir string) chan []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.calls[dir]
	if !ok {
		ch = make(chan []byte, 256)
		h.calls[dir] = ch
	}
	return ch
}

// next returns the payload of the next invocation of functions/<dir>.
func (h *harness) next(dir string) []byte {
	h.t.Helper()
	select {
	case p := <-h.channel(dir):
		return p
	case <-time.After(wait):
		h.t.Fatalf("functions/%s was not invoked", dir)
		return nil
	}
}

// nextWS returns the next invocation of functions/<dir> as a WebSocket event.
func (h *harness) nextWS(dir string) events.APIGatewayWebsocketProxyRequest {
	h.t.Helper()
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(h.next(dir), &ev); err != nil {
		h.t.Fatalf("functions/%s got an invalid event: %v", dir, err)
	}
	return ev
}

func (h *harness) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + h.gw.cfg.WebSocketPath
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial opens a WebSocket and fails the test if the handshake fails.
func (h *harness) dial(query string, opts *websocket.DialOptions) *websocket.Conn {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.wsURL(query), opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		h.t.Fatalf("dial: %v (status %d)", err, status)
	}
	h.t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// refused dials and returns the HTTP response of a refused handshake.
func (h *harness) refused(query string) (int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.wsURL(query), nil)
	if err == nil {
		_ = c.CloseNow()
		h.t.Fatalf("handshake with %q was accepted", query)
	}
	if resp == nil {
		h.t.Fatalf("handshake with %q failed without a response: %v", query, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// management returns the SDK client of the Management API, pointed at the
// gateway as the functions would be.
func (h *harness) management() *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", ""),
		BaseEndpoint: aws.String(h.srv.URL + h.gw.cfg.WebSocketPath),
	})
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

// closeStatus reads until the connection closes and returns the close code.
func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the connection was not closed")
		}
		return websocket.CloseStatus(err)
	}
}

// accept is a $connect handler that accepts every connection.
func accept(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// ok is a route handler that does nothing.
func ok(events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}
