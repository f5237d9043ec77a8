package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/client"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// TestRateLimitedSendWaitsRetryAfter: a send refused as rate-limited is
// written again, with the same id, no sooner than the server asked.
func TestRateLimitedSendWaitsRetryAfter(t *testing.T) {
	const hint = 300 * time.Millisecond
	var (
		mu      sync.Mutex
		refused []time.Time // when each refusal was sent
		tries   []time.Time // when each send arrived
	)
	f := newFake(t, func(n int, c *fakeConn) {
		c.serve(func(r protocol.Request) {
			mu.Lock()
			tries = append(tries, time.Now())
			again := len(refused) < 2
			if again {
				refused = append(refused, time.Now())
			}
			mu.Unlock()
			if again {
				c.send(protocol.Error{Type: protocol.TypeError, ID: r.ID, Code: protocol.CodeRateLimited, Message: "slow down", RetryAfterMs: hint.Milliseconds()})
				return
			}
			c.send(protocol.Ack{Type: protocol.TypeAck, ID: r.ID, MessageID: "0196f3b0-1a2b-7c3d-8e4f-5a6b7c8d9e01", At: "2025-05-20T09:14:03.127Z", Seq: 1})
		})
	})
	cl, _ := f.client(t)
	if _, err := cl.SendPrivate(bounded(t), "peer", "hello"); err != nil {
		t.Fatal(err)
	}
	sends := f.received()
	if len(sends) != 3 || sends[0].ID != sends[1].ID || sends[1].ID != sends[2].ID {
		t.Fatalf("frames = %+v, want the same send three times", sends)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, at := range refused {
		if waited := tries[i+1].Sub(at); waited < hint {
			t.Errorf("retry %d came %v after the refusal, before the %v asked", i+1, waited, hint)
		}
	}
}

// TestHTTPRetryAfter: an HTTP call answered 429 is made again once
// Retry-After has passed, unless the caller's context ends first.
func TestHTTPRetryAfter(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
	)
	api := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/conversations" {
			w.Write([]byte("[]"))
			return
		}
		mu.Lock()
		times = append(times, time.Now())
		first := len(times)%2 == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			json.NewEncoder(w).Encode(protocol.HTTPError{Code: protocol.CodeRateLimited, Message: "slow down"})
			return
		}
		json.NewEncoder(w).Encode(protocol.MessagePage{Messages: []protocol.ChatMessage{}})
	}
	f := newFakeWithAPI(t, func(n int, c *fakeConn) { c.serve(nil) }, api)
	cl, _ := f.client(t)
	if _, err := cl.History(bounded(t), "peer", client.HistoryQuery{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(times) != 2 {
		t.Fatalf("%d requests, want 2", len(times))
	}
	if waited := times[1].Sub(times[0]); waited < time.Second {
		t.Fatalf("retried after %v, before the 1 s Retry-After", waited)
	}
	mu.Unlock()

	// A caller that cannot wait that long gets the 429 itself (the
	// deadline only has to be under the Retry-After's second).
	ctx, cancel := context.WithTimeout(bounded(t), 900*time.Millisecond)
	defer cancel()
	_, err := cl.History(ctx, "peer", client.HistoryQuery{})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != protocol.CodeRateLimited {
		t.Fatalf("history with a short deadline: %v", err)
	}
}
