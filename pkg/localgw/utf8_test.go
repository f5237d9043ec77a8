package localgw

import (
	"context"
	"testing"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// A text message that is not UTF-8 fails the connection with 1007 (RFC
// 6455), before any route sees it.
func TestInvalidUTF8TextCloses1007(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$default", "default"), wsRoute("$disconnect", "disconnect"),
	}}, map[string]any{"default": ok, "disconnect": ok})
	c := h.dial("", nil)
	if err := c.Write(context.Background(), websocket.MessageText, []byte("{\"action\":\"x\",\"content\":\"a\xffb\"}")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(context.Background())
	if got := websocket.CloseStatus(err); got != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("close status %v (%v), want 1007", got, err)
	}
	h.nextWS("disconnect")
	// $disconnect runs after every queued message: none reached $default.
	if n := len(h.channel("default")); n != 0 {
		t.Fatalf("$default invoked %d times with invalid text", n)
	}
}
