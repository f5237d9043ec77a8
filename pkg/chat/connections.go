package chat

import (
	"context"
	"errors"
	"fmt"
)

// Authenticate verifies a token and returns the identity it speaks for.
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, refuse(ErrUnauthorized, "no token")
	}
	if err := need(s.tokens); err != nil {
		return Identity{}, err
	}
	return s.tokens.Verify(token)
}

// Connect records a new connection. id is the identity already
// established by the $connect authorizer or a token in the connect URL;
// nil leaves the connection anonymous until it sends the login action.
func (s *Service) Connect(ctx context.Context, call Call, id *Identity) error {
	now := s.clock()
	c := Connection{ConnID: call.ConnID, ConnectedAt: now, ExpiresAt: now.Add(s.limits.ConnectionTTL)}
	if id != nil {
		c.UserID, c.Username = id.UserID, id.Username
	}
	first, err := s.store.Connect(ctx, c)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	s.metrics.Count(ctx, MetricConnectionsOpened, 1, Label{})
	if first {
		s.announcePresence(ctx, Presence{UserID: c.UserID, Online: true, LastSeen: now}, call.ConnID)
	}
	return nil
}

// Login authenticates an open connection with a token (for clients that
// cannot put it in the connect URL).
func (s *Service) Login(ctx context.Context, call Call, token string) (Identity, error) {
	id, err := s.Authenticate(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	_, first, err := s.store.Authenticate(ctx, call.ConnID, id)
	switch {
	case errors.Is(err, ErrForbidden):
		return Identity{}, refuse(ErrForbidden, "connection already speaks for another user")
	case errors.Is(err, ErrNotFound):
		return Identity{}, refuse(ErrUnauthorized, "unknown connection")
	case err != nil:
		return Identity{}, fmt.Errorf("login: %w", err)
	}
	if first {
		s.announcePresence(ctx, Presence{UserID: id.UserID, Online: true, LastSeen: s.clock()}, "")
	}
	return id, nil
}

// Disconnect forgets a closed connection; when it was its user's last one,
// the user leaves every room they sat in and goes offline.
func (s *Service) Disconnect(ctx context.Context, call Call) error {
	c, last, left, err := s.store.Disconnect(ctx, call.ConnID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	s.metrics.Count(ctx, MetricConnectionsClosed, 1, Label{})
	if !c.Authenticated() || !last {
		return nil
	}
	s.wentOffline(ctx, c.Identity(), left, call.ConnID, true)
	return nil
}

// forget drops dead connections of a user; if the user has none left,
// they leave their rooms and go offline, as on a disconnect.
func (s *Service) forget(ctx context.Context, userID string, conns []string, cleanup bool) error {
	if userID == "" {
		return nil
	}
	last, left, err := s.store.Forget(ctx, userID, conns)
	if err != nil {
		return fmt.Errorf("forget connections: %w", err)
	}
	s.metrics.Count(ctx, MetricConnectionsClosed, len(conns), Label{})
	if !last {
		return nil
	}
	id := Identity{UserID: userID}
	for _, l := range left {
		id.Username = l.Freed.Username
	}
	s.wentOffline(ctx, id, left, "", cleanup)
	return nil
}

// wentOffline tells the rooms a user left because their last connection
// closed, and their presence subscribers.
func (s *Service) wentOffline(ctx context.Context, id Identity, left []Left, exclude string, cleanup bool) {
	for _, l := range left {
		s.announceLeave(ctx, id, l, exclude, cleanup)
	}
	s.announcePresence(ctx, Presence{UserID: id.UserID, Online: false, LastSeen: s.clock()}, exclude)
}

// identify returns the identity of an authenticated connection: the one
// the authorizer established, or the one its record holds.
func (s *Service) identify(ctx context.Context, call Call) (Identity, error) {
	if call.Identity != nil {
		return *call.Identity, nil
	}
	c, err := s.connection(ctx, call.ConnID)
	if err != nil {
		return Identity{}, err
	}
	return c.Identity(), nil
}

// connection returns the caller's authenticated connection record.
func (s *Service) connection(ctx context.Context, connID string) (Connection, error) {
	c, err := s.store.GetConnection(ctx, connID)
	if errors.Is(err, ErrNotFound) {
		return Connection{}, refuse(ErrUnauthorized, "unknown connection")
	}
	if err != nil {
		return Connection{}, fmt.Errorf("identify: %w", err)
	}
	if !c.Authenticated() {
		return Connection{}, refuse(ErrUnauthorized, "log in first")
	}
	return c, nil
}

// Identify is for actions that need nothing but an authenticated caller:
// anything but login and ping from an anonymous connection is refused.
func (s *Service) Identify(ctx context.Context, call Call) (Identity, error) {
	return s.identify(ctx, call)
}
