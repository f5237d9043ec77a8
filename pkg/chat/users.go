package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// loginWindow is the fixed window of the failed-login and registration
// limits.
const loginWindow = time.Minute

// Session is a signed-in user's token.
type Session struct {
	Identity
	Token     string
	ExpiresAt time.Time
}

// Register creates an account and returns a session for it. Each source
// IP may try a bounded number of registrations a minute, so that names
// cannot be hoarded or probed in bulk.
func (s *Service) Register(ctx context.Context, username, password, sourceIP string) (Session, error) {
	if err := ValidUsername(username); err != nil {
		return Session{}, err
	}
	if err := ValidPassword(password); err != nil {
		return Session{}, err
	}
	if err := need(s.passwords); err != nil {
		return Session{}, err
	}
	now := s.now()
	n, err := s.limiter.Hit(ctx, "register#ip#"+sourceIP, loginWindow, now)
	if err != nil {
		return Session{}, fmt.Errorf("register limit: %w", err)
	}
	if n > s.limits.RegistersPerIP {
		s.metrics.Count(ctx, MetricRateLimited, 1, Label{})
		return Session{}, limited("too many registrations from this address, try again in a minute", untilNextWindow(now, loginWindow))
	}
	hash, err := s.passwords.Hash(password)
	if err != nil {
		return Session{}, fmt.Errorf("register: %w", err)
	}
	u := User{UserID: s.newID(), Username: username, PasswordHash: hash, CreatedAt: s.clock()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, ErrConflict) {
			return Session{}, refuse(ErrConflict, "username taken")
		}
		return Session{}, fmt.Errorf("register: %w", err)
	}
	return s.session(Identity{UserID: u.UserID, Username: u.Username})
}

// untilNextWindow is how long until the fixed window containing now ends.
func untilNextWindow(now time.Time, window time.Duration) time.Duration {
	return window - time.Duration(now.UnixNano()%int64(window))
}

// LoginPassword checks a username and password and returns a session.
// Unknown users and wrong passwords get the same answer after the same
// work; repeated failures per username and per source IP are refused for
// the rest of the minute.
func (s *Service) LoginPassword(ctx context.Context, username, password, sourceIP string) (Session, error) {
	if err := ValidUsername(username); err != nil {
		return Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	if len(password) > 4*MaxPasswordChars {
		return Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	if err := need(s.passwords); err != nil {
		return Session{}, err
	}
	userKey := "loginfail#user#" + strings.ToLower(username)
	ipKey := "loginfail#ip#" + sourceIP
	if blocked, err := s.loginBlocked(ctx, userKey, ipKey); err != nil || blocked {
		if err != nil {
			return Session{}, err
		}
		s.metrics.Count(ctx, MetricRateLimited, 1, Label{})
		return Session{}, limited("too many failed logins, try again in a minute", untilNextWindow(s.now(), loginWindow))
	}
	u, err := s.store.UserByName(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	var hash string
	if err == nil {
		hash = u.PasswordHash
	} else if hash, err = s.dummy(); err != nil {
		return Session{}, err
	}
	if !s.passwords.Verify(hash, password) || u.UserID == "" {
		s.loginFailed(ctx, userKey, ipKey)
		return Session{}, refuse(ErrUnauthorized, "wrong username or password")
	}
	return s.session(Identity{UserID: u.UserID, Username: u.Username})
}

// dummy returns the hash a login of an unknown user is checked against.
func (s *Service) dummy() (string, error) {
	s.dummyOnce.Do(func() {
		s.dummyHash, s.dummyErr = s.passwords.Hash("timing-equaliser-" + s.newID())
	})
	if s.dummyErr != nil {
		return "", fmt.Errorf("login: %w", s.dummyErr)
	}
	return s.dummyHash, nil
}

func (s *Service) session(id Identity) (Session, error) {
	if err := need(s.tokens); err != nil {
		return Session{}, err
	}
	tok, exp, err := s.tokens.Issue(id)
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return Session{Identity: id, Token: tok, ExpiresAt: exp}, nil
}

// SearchUsers returns users whose name starts with prefix.
func (s *Service) SearchUsers(ctx context.Context, _ Identity, prefix string) ([]User, error) {
	if !nameOf(prefix, 0, 32, "_.-") {
		return nil, badInput("prefix", "at most 32 characters of A-Z a-z 0-9 _ . -")
	}
	us, err := s.store.SearchUsers(ctx, prefix, MaxSearchResults)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return us, nil
}

// SetAvatar changes the sender's text avatar (an emoji, say) and tells
// the users who share a room or a conversation with them, and their own
// other connections. Its fan-out grows with the user's conversations, so
// it has a rate limit of its own.
func (s *Service) SetAvatar(ctx context.Context, from Sender, avatar string) (User, error) {
	if err := ValidAvatar(avatar); err != nil {
		return User{}, err
	}
	return s.changeAvatar(ctx, from, func(id Identity) (string, string, string, error) {
		return avatar, "", "", nil
	})
}

// changeAvatar applies a change that pick computes (the new text avatar,
// image key and version) once the sender is known and within the limit.
func (s *Service) changeAvatar(ctx context.Context, from Sender, pick func(Identity) (avatar, key, version string, err error)) (User, error) {
	me, err := s.senderConnection(ctx, from)
	if err != nil {
		return User{}, err
	}
	ok, wait, err := s.limiter.Allow(ctx, "avatar#"+me.UserID, s.limits.AvatarRate, s.limits.AvatarBurst, s.now())
	if err != nil {
		return User{}, fmt.Errorf("avatar: %w", err)
	}
	if !ok {
		s.metrics.Count(ctx, MetricRateLimited, 1, Label{})
		return User{}, limited("too many avatar changes, slow down", wait)
	}
	avatar, key, version, err := pick(me.Identity())
	if err != nil {
		return User{}, err
	}
	u, rooms, err := s.store.SetAvatar(ctx, me.Identity(), avatar, key, version)
	if err != nil {
		return User{}, fmt.Errorf("avatar: %w", err)
	}
	peers, err := s.store.ConversationPeers(ctx, me.UserID)
	if err != nil {
		return User{}, fmt.Errorf("avatar: %w", err)
	}
	targets := append([]Target(nil), me.Siblings...)
	for len(peers) > 0 || len(rooms) > 0 {
		nu := min(len(peers), maxPeers)
		nr := min(len(rooms), maxPeers-nu)
		ts, err := s.store.Targets(ctx, peers[:nu], rooms[:nr])
		if err != nil {
			return User{}, fmt.Errorf("avatar: %w", err)
		}
		targets = append(targets, ts...)
		peers, rooms = peers[nu:], rooms[nr:]
	}
	s.deliver(ctx, targets, from.ConnID, true, AvatarEvent{User: u})
	return u, nil
}

func (s *Service) loginBlocked(ctx context.Context, userKey, ipKey string) (bool, error) {
	now := s.now()
	n, err := s.limiter.Hits(ctx, userKey, loginWindow, now)
	if err != nil {
		return false, fmt.Errorf("login limit: %w", err)
	}
	if n >= s.limits.LoginFailsPerUser {
		return true, nil
	}
	n, err = s.limiter.Hits(ctx, ipKey, loginWindow, now)
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
		if _, err := s.limiter.Hit(ctx, k, loginWindow, now); err != nil {
			s.log.WarnContext(ctx, "count failed login", "err", err)
		}
	}
}
