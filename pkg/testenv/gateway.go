package testenv

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/chat/pushertest"
	"github.com/minichatbar/minichat/pkg/localgw"
)

// Gateway is a local gateway with only $connect and $disconnect, whose
// connections a Pusher conformance test opens with Dial.
type Gateway struct {
	*localgw.Gateway
	// URL is the gateway's base URL; its Management API is at
	// URL + localgw.DefaultWebSocketPath.
	URL       string
	connected chan string
}

// NewGateway starts a Gateway until the test ends.
func NewGateway(t *testing.T) *Gateway {
	t.Helper()
	g := &Gateway{connected: make(chan string, 16)}
	connect := func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		g.connected <- ev.RequestContext.ConnectionID
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	disconnect := func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	gw, err := localgw.New(localgw.Config{
		WebSocketRoutes: []samtemplate.WSRoute{
			{RouteKey: "$connect", FunctionLogicalID: "Connect", CodeURI: "functions/connect"},
			{RouteKey: "$disconnect", FunctionLogicalID: "Disconnect", CodeURI: "functions/disconnect"},
		},
		Handlers: map[string]func() lambda.Handler{
			"functions/connect":    func() lambda.Handler { return lambda.NewHandler(connect) },
			"functions/disconnect": func() lambda.Handler { return lambda.NewHandler(disconnect) },
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		srv.Close()
	})
	g.Gateway, g.URL = gw, srv.URL
	return g
}

// Dial opens a connection and returns once the gateway holds it open.
func (g *Gateway) Dial(t *testing.T) pushertest.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL, "http")+localgw.DefaultWebSocketPath, nil)
	if err != nil {
		t.Fatalf("dial the gateway: %v", err)
	}
	c.SetReadLimit(1 << 20)
	var id string
	select {
	case id = <-g.connected:
	case <-ctx.Done():
		t.Fatal("$connect never ran")
	}
	for !g.ConnectionOpen(id) {
		if ctx.Err() != nil {
			t.Fatal("the connection never opened")
		}
		time.Sleep(time.Millisecond)
	}
	return pushertest.Conn{
		ID: id,
		Read: func(ctx context.Context) ([]byte, error) {
			_, b, err := c.Read(ctx)
			return b, err
		},
		Close: func() { c.Close(websocket.StatusNormalClosure, "") },
	}
}
