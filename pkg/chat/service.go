package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Defaults of Limits.
const (
	DefaultSendRate          = 5.0
	DefaultSendBurst         = 5
	DefaultLoginFailsPerUser = 5
	DefaultLoginFailsPerIP   = 20
	DefaultRegistersPerIP    = 10
	DefaultFanout            = 16
	// DefaultConnectionTTL is a little over API Gateway's 2 h maximum
	// connection duration: after it a connection is dead even if its
	// $disconnect never arrived.
	DefaultConnectionTTL = 2*time.Hour + 10*time.Minute
	DefaultAvatarRate    = 1.0
	DefaultAvatarBurst   = 5
	// connectGrace is longer than API Gateway's 29 s integration timeout,
	// the longest a $connect can run.
	connectGrace = 30 * time.Second
)

// Limits are the configurable limits of the service.
type Limits struct {
	SendRate          float64 // sends per second per user
	SendBurst         int
	LoginFailsPerUser int     // failed logins per username per minute
	LoginFailsPerIP   int     // failed logins per source IP per minute
	RegistersPerIP    int     // registrations per source IP per minute
	AvatarRate        float64 // avatar changes per second per user
	AvatarBurst       int
	Fanout            int // concurrent pushes of one fan-out
	ConnectionTTL     time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.SendRate <= 0 {
		l.SendRate = DefaultSendRate
	}
	if l.SendBurst <= 0 {
		l.SendBurst = DefaultSendBurst
	}
	if l.LoginFailsPerUser <= 0 {
		l.LoginFailsPerUser = DefaultLoginFailsPerUser
	}
	if l.LoginFailsPerIP <= 0 {
		l.LoginFailsPerIP = DefaultLoginFailsPerIP
	}
	if l.AvatarRate <= 0 {
		l.AvatarRate = DefaultAvatarRate
	}
	if l.AvatarBurst <= 0 {
		l.AvatarBurst = DefaultAvatarBurst
	}
	if l.RegistersPerIP <= 0 {
		l.RegistersPerIP = DefaultRegistersPerIP
	}
	if l.Fanout <= 0 {
		l.Fanout = DefaultFanout
	}
	if l.ConnectionTTL <= 0 {
		l.ConnectionTTL = DefaultConnectionTTL
	}
	return l
}

// Config holds the ports and settings of a Service.
type Config struct {
	Store      Store
	Pusher     Pusher
	Tokens     Tokens
	Passwords  Passwords
	Files      Files
	FilePolicy FilePolicy
	Limits     Limits
	Logger     *slog.Logger
	// Now and NewID default to time.Now and UUIDv7 (ids that sort by time).
	Now   func() time.Time
	NewID func() string
}

// Service runs the use cases of protocol v1.
type Service struct {
	store     Store
	push      Pusher
	tokens    Tokens
	passwords Passwords
	files     fileDeps
	limits    Limits
	log       *slog.Logger
	now       func() time.Time
	newID     func() string
	// dummyHash is verified when a login names no user, so that the
	// answer takes as long as for a wrong password.
	dummyHash string
}

type fileDeps struct {
	store  Files
	policy FilePolicy
}

// NewService checks cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Pusher == nil || cfg.Tokens == nil || cfg.Passwords == nil || cfg.Files == nil {
		return nil, fmt.Errorf("chat: Store, Pusher, Tokens, Passwords and Files are required")
	}
	s := &Service{
		store: cfg.Store, push: cfg.Pusher, tokens: cfg.Tokens, passwords: cfg.Passwords,
		files:  fileDeps{store: cfg.Files, policy: cfg.FilePolicy.withDefaults()},
		limits: cfg.Limits.withDefaults(), log: cfg.Logger, now: cfg.Now, newID: cfg.NewID,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	h, err := s.passwords.Hash("timing-equaliser-" + s.newID())
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	s.dummyHash = h
	return s, nil
}

// Call identifies the WebSocket request being served.
type Call struct {
	ConnID    string
	RequestID string
	SourceIP  string
}

// clock returns the current time at the protocol's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// FormatTime renders t as the protocol does: RFC 3339, UTC, milliseconds.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func idemKey(userID, clientID string) string {
	if clientID == "" {
		return ""
	}
	return userID + "#" + clientID
}

// admit applies the send rate limit. A refused send whose id was stored
// before is a resend, which the limit does not refuse: its stored message
// is returned (resent true) for the caller to acknowledge again.
func (s *Service) admit(ctx context.Context, userID, clientID string) (stored Message, resent bool, err error) {
	ok, err := s.store.Allow(ctx, "send#"+userID, s.limits.SendRate, s.limits.SendBurst, s.now())
	if err != nil {
		return Message{}, false, fmt.Errorf("rate limit: %w", err)
	}
	if ok {
		return Message{}, false, nil
	}
	if clientID != "" {
		m, err := s.store.IdempotentMessage(ctx, idemKey(userID, clientID))
		if err == nil {
			return m, true, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Message{}, false, fmt.Errorf("rate limit: %w", err)
		}
	}
	return Message{}, false, ErrRateLimited
}

// delivery is a set of frames for a set of connections.
type delivery struct {
	conns  []Connection
	frames [][]byte
}

func encodeFrames(frames ...any) ([][]byte, error) {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		b, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("encode frame: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// connectionsOf returns the live connections of users, asking the store in
// chunks it accepts.
func (s *Service) connectionsOf(ctx context.Context, userIDs []string) ([]Connection, error) {
	seen := map[string]bool{}
	var uniq []string
	for _, id := range userIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	var all []Connection
	for len(uniq) > 0 {
		n := min(len(uniq), SeatCount+1)
		cs, err := s.store.ConnectionsOf(ctx, uniq[:n]...)
		if err != nil {
			return nil, fmt.Errorf("connections: %w", err)
		}
		all = append(all, cs...)
		uniq = uniq[n:]
	}
	return all, nil
}

// send pushes frames, in order, to every connection of users except the
// connection named exclude, with bounded concurrency. Connections found
// gone are dropped afterwards (their seats freed) unless cleanup is false,
// which is how a drop's own notices avoid cascading.
func (s *Service) send(ctx context.Context, users []string, exclude string, cleanup bool, frames ...any) error {
	conns, err := s.connectionsOf(ctx, users)
	if err != nil {
		return err
	}
	return s.deliver(ctx, conns, exclude, cleanup, frames...)
}

func (s *Service) deliver(ctx context.Context, conns []Connection, exclude string, cleanup bool, frames ...any) error {
	data, err := encodeFrames(frames...)
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		gone []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, s.limits.Fanout)
		now  = s.now()
	)
	for _, c := range conns {
		if c.ConnID == exclude {
			continue
		}
		// A connection this young may still be inside its $connect, where a
		// push answers Gone although the socket is about to open: it is
		// not dropped for that. Its $disconnect or a later push tells.
		young := now.Sub(c.ConnectedAt) < connectGrace
		wg.Add(1)
		sem <- struct{}{}
		go func(connID string) {
			defer func() { <-sem; wg.Done() }()
			for _, d := range data {
				err := s.push.Push(ctx, connID, d)
				if err == nil {
					continue
				}
				if isGone(err) && !young {
					mu.Lock()
					gone = append(gone, connID)
					mu.Unlock()
				} else if !isGone(err) {
					s.log.WarnContext(ctx, "push failed", "target", connID, "err", err)
				}
				return
			}
		}(c.ConnID)
	}
	wg.Wait()
	if !cleanup {
		for _, id := range gone {
			if _, err := s.store.DeleteConnection(ctx, id); err != nil && !isNotFound(err) {
				s.log.WarnContext(ctx, "drop gone connection", "target", id, "err", err)
			}
		}
		return nil
	}
	for _, id := range gone {
		s.log.InfoContext(ctx, "connection gone, dropping it", "target", id)
		if err := s.drop(ctx, id, false); err != nil {
			s.log.WarnContext(ctx, "drop gone connection", "target", id, "err", err)
		}
	}
	return nil
}
