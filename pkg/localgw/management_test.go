package localgw

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// The unmodified SDK client works against the gateway: handlers push replies
// through it, and a dead connection is a *types.GoneException.
func TestManagementAPIWithSDK(t *testing.T) {
	var client *apigatewaymanagementapi.Client
	connectPost := make(chan error, 8)
	connect := func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		// Pushing to a connection from its own $connect fails like on AWS.
		_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(ev.RequestContext.ConnectionID), Data: []byte("too early"),
		})
		connectPost <- err
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
	echo := func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) error {
		_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(ev.RequestContext.ConnectionID), Data: []byte("echo: " + ev.Body),
		})
		return err
	}
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{
			wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect"), wsRoute("echo", "echo"),
		},
		Limits: Limits{MessageBytes: 1024},
	}, map[string]any{"connect": connect, "disconnect": ok, "echo": echo})
	client = h.management()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	before := time.Now().Add(-time.Second)
	c := h.dial("", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"sdk-test/1.0"}}})
	id := h.nextWS("connect").RequestContext.ConnectionID
	var gone *types.GoneException
	if err := <-connectPost; !errors.As(err, &gone) {
		t.Errorf("post from inside $connect: %v, want GoneException", err)
	}

	send(t, c, `{"action":"echo"}`)
	if got := read(t, c); got != `echo: {"action":"echo"}` {
		t.Errorf("handler's push arrived as %q", got)
	}
	if _, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(id), Data: []byte(`{"type":"pong"}`),
	}); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := read(t, c); got != `{"type":"pong"}` {
		t.Errorf("push arrived as %q", got)
	}

	info, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	if info.ConnectedAt == nil || info.ConnectedAt.Before(before) || info.LastActiveAt == nil ||
		info.LastActiveAt.Before(*info.ConnectedAt) || info.Identity == nil ||
		aws.ToString(info.Identity.SourceIp) != "127.0.0.1" || aws.ToString(info.Identity.UserAgent) != "sdk-test/1.0" {
		t.Errorf("GetConnection = %+v identity %+v", info, info.Identity)
	}

	var tooLarge *types.PayloadTooLargeException
	_, err = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(id), Data: []byte(strings.Repeat("x", 1025)),
	})
	if !errors.As(err, &tooLarge) {
		t.Errorf("oversized post: %v, want PayloadTooLargeException", err)
	}

	if _, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	if code := closeStatus(t, c); code != websocket.StatusNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	if ev := h.nextWS("disconnect"); ev.RequestContext.ConnectionID != id || ev.RequestContext.DisconnectStatusCode != 1000 {
		t.Errorf("$disconnect: %+v", ev.RequestContext)
	}

	for name, call := range map[string]func(string) error{
		"post": func(id string) error {
			_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("x")})
			return err
		},
		"get": func(id string) error {
			_, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
			return err
		},
		"delete": func(id string) error {
			_, err := client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
			return err
		},
	} {
		for _, target := range []string{id, "AAAAAAAAAAAAAAA="} {
			if err := call(target); !errors.As(err, &gone) {
				t.Errorf("%s to %s: %v, want GoneException", name, target, err)
			}
		}
	}
}

// A client that stops reading cannot block pushes to itself forever, nor
// pushes to others.
func TestPushToStalledClientTimesOut(t *testing.T) {
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect")},
		Limits:          Limits{WriteTimeout: 100 * time.Millisecond, MessageBytes: 256 << 10},
	}, map[string]any{"connect": accept})
	client := h.management()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h.dial("", nil) // never read from
	stalled := h.nextWS("connect").RequestContext.ConnectionID
	reader := h.dial("", nil)
	live := h.nextWS("connect").RequestContext.ConnectionID

	payload := []byte(strings.Repeat("z", 200<<10))
	var gone *types.GoneException
	var err error
	// Fill the socket buffers until a write times out, which drops the client.
	for range 1000 {
		_, err = client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(stalled), Data: payload})
		if err != nil {
			break
		}
	}
	if !errors.As(err, &gone) {
		t.Fatalf("push to a stalled client: %v, want GoneException once the write timed out", err)
	}
	if _, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(live), Data: []byte("still here")}); err != nil {
		t.Fatalf("push to a live client: %v", err)
	}
	if got := read(t, reader); got != "still here" {
		t.Errorf("live client read %q", got)
	}
}
