package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// loginWindow is the fixed window of the failed-login limits.
const loginWindow = time.Minute

// Register creates an account and returns a session for it. Each source
// IP may try a bounded number of registrations a minute, so that names
// cannot be hoarded or probed in bulk.
func (s *Service) Register(ctx context.Context, username, password, sourceIP string) (protocol.Session, error) {
	if err := ValidUsername(username); err != nil {
		return protocol.Session{}, err
	}
	if err := ValidPassword(password); err != nil {
		return protocol.Session{}, err
	}
	n, err := s.store.Hit(ctx, "register#ip#"+sourceIP, loginWindow, s.now())
	if err != nil {
		return protocol.Session{}, fmt.Errorf("register limit: %w", err)
	}
	if n > s.limits.RegistersPerIP {
		return protocol.Session{}, refuse(ErrRateLimited, "too many registrations from this address, try again in a minute")
	}
	hash, err := s.passwords.Hash(password)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("register: %w", err)
	}
	u := User{UserID: s.newID(), Username: username, PasswordHash: hash, CreatedAt: s.clock()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			return protocol.Session{}, refuse(ErrConflict, "username taken")
		}
		return protocol.Session{}, fmt.Errorf("register: %w", err)
	}
	return s.session(Identity{UserID: u.UserID, Username: u.Username})
}

// LoginPassword checks a username and password and returns a session.
// Unknown users and wrong passwords get the same answer after the same
// work; repeated failures per username and per source IP are refused for
// the rest of the minute.
func (s *Service) LoginPassword(ctx context.Context, username, password, sourceIP string) (protocol.Session, error) {
	if err := ValidUsername(username); err != nil {
		return protocol.Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	if len(password) > 4*MaxPasswordChars {
		return protocol.Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	userKey := "loginfail#user#" + strings.ToLower(username)
	ipKey := "loginfail#ip#" + sourceIP
	if blocked, err := s.loginBlocked(ctx, userKey, ipKey); err != nil || blocked {
		if err != nil {
			return protocol.Session{}, err
		}
		return protocol.Session{}, refuse(ErrRateLimited, "too many failed logins, try again in a minute")
	}
	u, err := s.store.UserByName(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return protocol.Session{}, fmt.Errorf("login: %w", err)
	}
	hash := s.dummyHash
	if err == nil {
		hash = u.PasswordHash
	}
	if !s.passwords.Verify(hash, password) || err != nil {
		s.loginFailed(ctx, userKey, ipKey)
		return protocol.Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	return s.session(Identity{UserID: u.UserID, Username: u.Username})
}

func (s *Service) session(id Identity) (protocol.Session, error) {
	tok, exp, err := s.tokens.Issue(id)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("session: %w", err)
	}
	return protocol.Session{UserID: id.UserID, Username: id.Username, Token: tok, ExpiresAt: FormatTime(exp)}, nil
}

// SearchUsers returns users whose name starts with prefix.
func (s *Service) SearchUsers(ctx context.Context, _ Identity, prefix string) ([]protocol.UserInfo, error) {
	if !prefixPattern.MatchString(prefix) {
		return nil, badInput("prefix", "at most 32 characters of A-Z a-z 0-9 _ . -")
	}
	us, err := s.store.SearchUsers(ctx, prefix, MaxSearchResults)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	out := make([]protocol.UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, protocol.UserInfo{UserID: u.UserID, Username: u.Username, Avatar: u.Avatar})
	}
	return out, nil
}

// AvatarUpdated is the avatar-updated action.
func (s *Service) AvatarUpdated(ctx context.Context, call Call, req protocol.Request) ([]any, error) {
	id, err := s.identify(ctx, call)
	if err != nil {
		return nil, err
	}
	if err := s.SetAvatar(ctx, id, call.ConnID, req.Avatar); err != nil {
		return nil, err
	}
	return []any{protocol.Ack{Type: protocol.TypeAck, ID: req.ID}}, nil
}

// SetAvatar changes id's avatar and tells the users who share a room or a
// conversation with them, and their own other connections. Its fan-out
// grows with the user's conversations, so it has a rate limit of its own.
func (s *Service) SetAvatar(ctx context.Context, id Identity, conn, avatar string) error {
	if err := ValidAvatar(avatar); err != nil {
		return err
	}
	ok, err := s.store.Allow(ctx, "avatar#"+id.UserID, s.limits.AvatarRate, s.limits.AvatarBurst, s.now())
	if err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	if !ok {
		return refuse(ErrRateLimited, "too many avatar changes, slow down")
	}
	if err := s.store.SetAvatar(ctx, id.UserID, avatar); err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	audience := []string{id.UserID}
	convs, err := s.store.Conversations(ctx, id.UserID)
	if err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	for _, c := range convs {
		audience = append(audience, c.PeerID)
	}
	rooms, err := s.store.RoomsOf(ctx, id.UserID)
	if err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	for _, name := range rooms {
		r, err := s.store.GetRoom(ctx, name)
		if err != nil {
			return fmt.Errorf("avatar: %w", err)
		}
		audience = append(audience, r.Members()...)
	}
	frame := protocol.AvatarUpdated{Type: protocol.TypeAvatarUpdated, UserID: id.UserID, Avatar: avatar}
	if err := s.send(ctx, audience, conn, true, frame); err != nil {
		return fmt.Errorf("avatar: %w", err)
	}
	return nil
}

func (s *Service) loginBlocked(ctx context.Context, userKey, ipKey string) (bool, error) {
	now := s.now()
	n, err := s.store.Hits(ctx, userKey, loginWindow, now)
	if err != nil {
		return false, fmt.Errorf("login limit: %w", err)
	}
	if n >= s.limits.LoginFailsPerUser {
		return true, nil
	}
	n, err = s.store.Hits(ctx, ipKey, loginWindow, now)
	if err != nil {
		return false, fmt.Errorf("login limit: %w", err)
	}
	return n >= s.limits.LoginFailsPerIP, nil
}

// loginFailed counts a failure; a counting error is logged, not returned,
// because the attempt has failed either way.
func (s *Service) loginFailed(ctx context.Context, userKey, ipKey string) {
	now := s.now()
	for _, k := range []string{userKey, ipKey} {
		if _, err := s.store.Hit(ctx, k, loginWindow, now); err != nil {
			s.log.WarnContext(ctx, "count failed login", "err", err)
		}
	}
}
