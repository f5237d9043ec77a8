package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// Authenticate verifies a token and returns the identity it speaks for.
func (s *Service) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, refuse(ErrUnauthorized, "no token")
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
	if err := s.store.PutConnection(ctx, c); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}

// Login authenticates an open connection with a token (for clients that
// cannot put it in the connect URL).
func (s *Service) Login(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.Authenticate(ctx, req.Token)
	if err != nil {
		return nil, err
	}
	c, err := s.store.GetConnection(ctx, call.ConnID)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if c.Authenticated() && c.UserID != id.UserID {
		return nil, refuse(ErrForbidden, "connection already speaks for another user")
	}
	c.UserID, c.Username = id.UserID, id.Username
	if err := s.store.PutConnection(ctx, c); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return []any{protocol.LoginOK{Type: protocol.TypeLoginOK, ID: req.ID, UserID: id.UserID, Username: id.Username}}, nil
}

// Ping answers pong; clients use it to keep the connection from idling out.
func (s *Service) Ping(_ context.Context, _ Call, req protocol.Request) ([]any, error) {
	return []any{protocol.Pong{Type: protocol.TypePong, ID: req.ID}}, nil
}

// Unknown answers an action no route serves: unknown-action, or
// unauthorized to a connection that has not logged in, which may send
// nothing but login and ping.
func (s *Service) Unknown(ctx context.Context, call Call, _ protocol.Request) ([]any, error) {
	if _, err := s.identify(ctx, call); err != nil {
		return nil, err
	}
	return nil, ErrUnknownAction
}

// Disconnect forgets a closed connection; when it was its user's last one,
// the user leaves every room they sat in.
func (s *Service) Disconnect(ctx context.Context, call Call) error {
	return s.drop(ctx, call.ConnID, true)
}

func (s *Service) drop(ctx context.Context, connID string, cleanup bool) error {
	c, err := s.store.DeleteConnection(ctx, connID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	if !c.Authenticated() {
		return nil
	}
	others, err := s.store.ConnectionsOf(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	if len(others) > 0 {
		return nil
	}
	rooms, err := s.store.RoomsOf(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	var errs []error
	for _, room := range rooms {
		if _, err := s.leave(ctx, Identity{UserID: c.UserID, Username: c.Username}, room, connID, cleanup); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// identify returns the identity of an authenticated connection.
func (s *Service) identify(ctx context.Context, call Call) (Identity, error) {
	c, err := s.store.GetConnection(ctx, call.ConnID)
	if errors.Is(err, ErrNotFound) {
		return Identity{}, refuse(ErrUnauthorized, "unknown connection")
	}
	if err != nil {
		return Identity{}, fmt.Errorf("identify: %w", err)
	}
	if !c.Authenticated() {
		return Identity{}, refuse(ErrUnauthorized, "log in first")
	}
	return Identity{UserID: c.UserID, Username: c.Username}, nil
}
