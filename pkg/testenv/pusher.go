package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/minichatbar/minichat/pkg/chat"
)

// Pusher is a chat.Pusher that records every frame per connection, as
// decoded JSON objects. Connections marked gone (or disconnected) answer
// ErrGone; Fail makes pushes to a connection fail with an error instead.
type Pusher struct {
	mu     sync.Mutex
	frames map[string][]map[string]any
	gone   map[string]bool
	fail   map[string]error
}

var _ chat.Pusher = (*Pusher)(nil)

// NewPusher returns an empty recording Pusher.
func NewPusher() *Pusher {
	return &Pusher{frames: map[string][]map[string]any{}, gone: map[string]bool{}, fail: map[string]error{}}
}

// Push records data for connID.
func (p *Pusher) Push(_ context.Context, connID string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone[connID] {
		return fmt.Errorf("push: %w", chat.ErrGone)
	}
	if err := p.fail[connID]; err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("push of a frame that is not a JSON object: %w", err)
	}
	p.frames[connID] = append(p.frames[connID], m)
	return nil
}

// Disconnect marks connID gone.
func (p *Pusher) Disconnect(_ context.Context, connID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone[connID] = true
	return nil
}

// Alive reports whether connID is not gone.
func (p *Pusher) Alive(_ context.Context, connID string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.gone[connID], nil
}

// Gone marks connections as closed: pushes to them answer ErrGone.
func (p *Pusher) Gone(connIDs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range connIDs {
		p.gone[id] = true
	}
}

// Fail makes pushes to connID fail with err (nil: succeed again).
func (p *Pusher) Fail(connID string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[connID] = err
}

// Take returns and forgets the frames pushed to connID.
func (p *Pusher) Take(connID string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.frames[connID]
	delete(p.frames, connID)
	return f
}

// Types returns the type of each frame.
func Types(frames []map[string]any) []string {
	ts := make([]string, 0, len(frames))
	for _, f := range frames {
		t, _ := f["type"].(string)
		ts = append(ts, t)
	}
	return ts
}

// Pushed is one frame pushed to a connection, as sent.
type Pushed struct {
	Conn string
	Data []byte
}

// RawPusher is a chat.Pusher that keeps every frame raw, in the order they
// were pushed across all connections, so that a test sees what was really
// sent and which went first. Every connection is alive.
type RawPusher struct {
	mu     sync.Mutex
	frames []Pushed
}

var _ chat.Pusher = (*RawPusher)(nil)

// Push records data for connID.
func (r *RawPusher) Push(_ context.Context, connID string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, Pushed{connID, bytes.Clone(data)})
	return nil
}

// Disconnect does nothing: no connection is ever gone.
func (r *RawPusher) Disconnect(context.Context, string) error { return nil }

// Alive reports every connection alive.
func (r *RawPusher) Alive(context.Context, string) (bool, error) { return true, nil }

// Take returns and forgets the frames pushed so far.
func (r *RawPusher) Take() []Pushed {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames
	r.frames = nil
	return f
}
