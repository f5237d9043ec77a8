package docs

import (
	"strconv"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
)

// TestRateLimitsAreTold checks that a refusal by a rate limit says how
// long to wait: retryAfterMs on the WebSocket, Retry-After (whole seconds,
// rounded up) over HTTP. The send bucket here refills one token an hour,
// so that the waits do not depend on how fast the machine is.
func TestRateLimitsAreTold(t *testing.T) {
	h := newHarness(t, chat.Limits{SendRate: 1.0 / 3600, SendBurst: 1})
	alice, bob := h.online("alice", "A1"), h.register("bob")
	send := func(id string) string {
		return frame(`{"action":"private-message","id":%q,"to":%q,"content":"hi"}`, id, bob.id)
	}
	h.send("A1", send("c1"), map[string][]string{"A1": {"ack"}})
	got := h.send("A1", send("c2"), map[string][]string{"A1": {"error"}})
	e := got["A1"][0]
	h.wantCode("a send over the limit", e, "rate-limited")
	wait, _ := e["retryAfterMs"].(float64)
	if hour := float64(time.Hour / time.Millisecond); wait <= hour-60_000 || wait > hour || e["id"] != "c2" {
		t.Errorf("rate-limited = %v, want the request's id and retryAfterMs of about an hour", e)
	}

	a := h.request("POST", "/api/conversations/"+bob.id+"/messages", alice.token, `{"content":"hi"}`)
	h.wantStatus("an HTTP send over the limit", a.status, a.body, 429)
	secs, err := strconv.Atoi(a.headers["Retry-After"])
	if err != nil || float64(secs)*1000 < wait || secs > 3600 {
		t.Errorf("Retry-After %q, want the whole seconds of retryAfterMs %v, rounded up", a.headers["Retry-After"], wait)
	}

	// Avatar changes have a limit of their own (1 a second, burst 5), told
	// the same way.
	for i := range chat.DefaultAvatarBurst {
		h.send("A1", frame(`{"action":"avatar-updated","avatar":"a%d"}`, i), map[string][]string{"A1": {"ack"}})
	}
	got = h.send("A1", `{"action":"avatar-updated","avatar":"one too many"}`, map[string][]string{"A1": {"error"}})
	h.wantCode("an avatar change over the limit", got["A1"][0], "rate-limited")
	if wait, _ := got["A1"][0]["retryAfterMs"].(float64); wait < 1 || wait > 1000 {
		t.Errorf("rate-limited = %v, want retryAfterMs within a second", got["A1"][0])
	}
}
