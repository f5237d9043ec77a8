package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
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
	DefaultTypingRate    = 2.0
	DefaultTypingBurst   = 4
	// connectGrace is longer than API Gateway's 29 s integration timeout,
	// the longest a $connect can run.
	connectGrace = 30 * time.Second
)

// Push retries: a push that fails for another reason than a gone
// connection is tried pushAttempts times in all, pushBackoff apart (then
// doubled), and the connection is closed if it still fails, so that its
// client reconnects and catches up on what it missed.
const (
	pushAttempts = 3
	pushBackoff  = 25 * time.Millisecond
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
	TypingRate        float64 // typing frames relayed per second per user
	TypingBurst       int
	Fanout            int // concurrent pushes of one fan-out
	ConnectionTTL     time.Duration
}

func (l Limits) withDefaults() Limits {
	setF := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	setI := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setF(&l.SendRate, DefaultSendRate)
	setI(&l.SendBurst, DefaultSendBurst)
	setI(&l.LoginFailsPerUser, DefaultLoginFailsPerUser)
	setI(&l.LoginFailsPerIP, DefaultLoginFailsPerIP)
	setI(&l.RegistersPerIP, DefaultRegistersPerIP)
	setF(&l.AvatarRate, DefaultAvatarRate)
	setI(&l.AvatarBurst, DefaultAvatarBurst)
	setF(&l.TypingRate, DefaultTypingRate)
	setI(&l.TypingBurst, DefaultTypingBurst)
	setI(&l.Fanout, DefaultFanout)
	if l.ConnectionTTL <= 0 {
		l.ConnectionTTL = DefaultConnectionTTL
	}
	return l
}

// Config holds the ports and settings of a Service. Store, Limiter, Pusher
// and Encoder are required; Tokens, Passwords and Files only by the use
// cases that need them (a function that never issues a token is built
// without), which fail with an internal error if they are missing.
type Config struct {
	Store      Store
	Limiter    Limiter
	Pusher     Pusher
	Encoder    Encoder
	Tokens     Tokens
	Passwords  Passwords
	Files      Files
	Metrics    Metrics
	FilePolicy FilePolicy
	Limits     Limits
	Logger     *slog.Logger
	// Now and NewID default to time.Now and UUIDv7 (ids that sort by time).
	Now   func() time.Time
	NewID func() string
}

// Service runs the use cases of the protocol.
type Service struct {
	store     Store
	limiter   Limiter
	push      Pusher
	enc       Encoder
	tokens    Tokens
	passwords Passwords
	files     fileDeps
	metrics   Metrics
	limits    Limits
	log       *slog.Logger
	now       func() time.Time
	newID     func() string
	// dummyHash is verified when a login names no user, so that the
	// answer takes as long as for a wrong password. It is made on the
	// first login that needs it: most functions never check a password,
	// and hashing costs tens of milliseconds at start-up.
	dummyOnce sync.Once
	dummyHash string
	dummyErr  error
}

type fileDeps struct {
	store  Files
	policy FilePolicy
}

// errMissingPort is what a use case reports when its Service was built
// without a port it needs: a wiring mistake, shown to clients as internal.
var errMissingPort = errors.New("chat: this function was built without a port the use case needs")

// NewService checks cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Limiter == nil || cfg.Pusher == nil || cfg.Encoder == nil {
		return nil, fmt.Errorf("chat: Store, Limiter, Pusher and Encoder are required")
	}
	s := &Service{
		store: cfg.Store, limiter: cfg.Limiter, push: cfg.Pusher, enc: cfg.Encoder,
		tokens: cfg.Tokens, passwords: cfg.Passwords, metrics: cfg.Metrics,
		files:  fileDeps{store: cfg.Files, policy: cfg.FilePolicy.withDefaults()},
		limits: cfg.Limits.withDefaults(), log: cfg.Logger, now: cfg.Now, newID: cfg.NewID,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	return s, nil
}

type noMetrics struct{}

func (noMetrics) Count(context.Context, string, int, Label)   {}
func (noMetrics) Time(context.Context, string, time.Duration) {}

// Call identifies the WebSocket request being served. Identity, when set,
// is what the $connect authorizer established for the connection (API
// Gateway passes it with every event), so no lookup is needed.
type Call struct {
	ConnID    string
	RequestID string
	SourceIP  string
	Identity  *Identity
}

// Sender is the Call as a sender of messages.
func (c Call) Sender() Sender { return Sender{ConnID: c.ConnID, Identity: c.Identity} }

// clock returns the current time at the protocol's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// FormatTime renders t as the protocol does: RFC 3339, UTC, milliseconds.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Receipt is what a sender learns of a stored message: its ack.
type Receipt struct {
	MessageID string
	At        time.Time
	Seq       int64
	Room      string
	Epoch     string
}

func receipt(m Message) Receipt {
	return Receipt{MessageID: m.MessageID, At: m.At, Seq: m.Seq, Room: m.Room, Epoch: m.Epoch}
}

// admitSend is the send rate limit as SavePrivate and SaveGroup call it.
func (s *Service) admitSend(userID string) func(context.Context) error {
	return func(ctx context.Context) error {
		ok, wait, err := s.limiter.Allow(ctx, "send#"+userID, s.limits.SendRate, s.limits.SendBurst, s.now())
		if err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		if !ok {
			s.metrics.Count(ctx, MetricRateLimited, 1, Label{})
			return limited("too many messages, slow down", wait)
		}
		return nil
	}
}

// deliver pushes ev to every target but the connection named exclude, with
// bounded concurrency. Transient failures are retried a few times; a
// connection that still fails is closed, so that its client reconnects and
// catches up. Connections found gone are forgotten afterwards (their seats
// freed, their users' presence updated) unless cleanup is false, which is
// how a drop's own notices avoid cascading.
func (s *Service) deliver(ctx context.Context, targets []Target, exclude string, cleanup bool, evs ...Event) {
	if len(targets) == 0 {
		return
	}
	frames := make([][]byte, 0, len(evs))
	for _, ev := range evs {
		b, err := s.enc.Encode(ev)
		if err != nil {
			s.log.ErrorContext(ctx, "encode event", "err", err)
			return
		}
		frames = append(frames, b)
	}
	start := s.now()
	var (
		mu   sync.Mutex
		gone = map[string][]string{} // by user
		g    errgroup.Group
		seen = make(map[string]bool, len(targets))
	)
	g.SetLimit(s.limits.Fanout)
	for _, t := range targets {
		if t.ConnID == exclude || seen[t.ConnID] {
			continue
		}
		seen[t.ConnID] = true
		// A connection this young may still be inside its $connect, where
		// a push answers Gone although the socket is about to open: it is
		// not dropped for that. Its $disconnect or a later push tells.
		young := !t.ExpiresAt.IsZero() && start.Sub(t.ExpiresAt.Add(-s.limits.ConnectionTTL)) < connectGrace
		g.Go(func() error {
			for _, f := range frames {
				err := s.pushWithRetry(ctx, t.ConnID, f)
				if err == nil {
					s.metrics.Count(ctx, MetricDeliveries, 1, Label{})
					continue
				}
				if isGone(err) {
					s.metrics.Count(ctx, MetricPushFailures, 1, Label{Name: "Reason", Value: "gone"})
					if !young {
						mu.Lock()
						gone[t.UserID] = append(gone[t.UserID], t.ConnID)
						mu.Unlock()
					}
					return nil
				}
				reason := "error"
				if errors.Is(err, ErrThrottled) {
					reason = "throttled"
				}
				s.metrics.Count(ctx, MetricPushFailures, 1, Label{Name: "Reason", Value: reason})
				s.log.WarnContext(ctx, "push failed, closing the connection so that its client catches up", "target", t.ConnID, "err", err)
				if err := s.push.Disconnect(ctx, t.ConnID); err != nil && !isGone(err) {
					s.log.WarnContext(ctx, "close failing connection", "target", t.ConnID, "err", err)
				}
				return nil
			}
			return nil
		})
	}
	_ = g.Wait()
	s.metrics.Time(ctx, MetricFanout, s.now().Sub(start))
	for userID, conns := range gone {
		s.metrics.Count(ctx, MetricConnectionsGone, len(conns), Label{})
		s.log.InfoContext(ctx, "connections gone, dropping them", "user", userID, "targets", conns)
		if err := s.forget(ctx, userID, conns, cleanup); err != nil {
			s.log.WarnContext(ctx, "drop gone connections", "user", userID, "err", err)
		}
	}
}

func (s *Service) pushWithRetry(ctx context.Context, connID string, frame []byte) error {
	wait := pushBackoff
	var err error
	for attempt := range pushAttempts {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			wait *= 2
		}
		err = s.push.Push(ctx, connID, frame)
		if err == nil || isGone(err) {
			return err
		}
	}
	return err
}

// need returns errMissingPort when p, a port a use case needs, was not
// configured.
func need(p any) error {
	if p == nil {
		return errMissingPort
	}
	return nil
}
