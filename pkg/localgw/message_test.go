package localgw

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// TestMessagesHandedAsValues: a route with a MessageHandler gets its frames
// as values, and each event is exactly what the JSON path (Lambda's) would
// hand it, so the two paths cannot differ for the handler.
func TestMessagesHandedAsValues(t *testing.T) {
	got := make(chan events.APIGatewayWebsocketProxyRequest, 1)
	viaJSON := make(chan []byte, 1)
	h := newHarness(t, Config{
		WebSocketRoutes: []samtemplate.WSRoute{wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect"), wsRoute("echo", "echo")},
		Messages: map[string]MessageHandler{"functions/echo": func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			got <- ev
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}},
	}, map[string]any{"connect": accept, "disconnect": ok, "echo": func(ev events.APIGatewayWebsocketProxyRequest) error {
		b, _ := json.Marshal(ev)
		viaJSON <- b
		return nil
	}})
	c := h.dial("", nil)
	send(t, c, `{"action":"echo","x":"y"}`)
	ev := <-got
	select {
	case <-viaJSON:
		t.Fatal("the frame also went through JSON")
	default:
	}
	if ev.Body != `{"action":"echo","x":"y"}` || ev.RequestContext.RouteKey != "echo" || ev.RequestContext.EventType != "MESSAGE" || ev.RequestContext.ConnectionID == "" {
		t.Fatalf("event %+v", ev)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var round events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &round); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev, round) {
		t.Errorf("the event differs from its JSON round trip:\n%+v\n%+v", ev, round)
	}
}
