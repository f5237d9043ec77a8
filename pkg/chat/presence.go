package chat

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// MaxPresenceIDs is how many users one subscribe-presence may name.
const MaxPresenceIDs = 100

// SubscribePresence makes the caller's connection watch userIDs for as
// long as it lives, and returns their presence now. Unknown ids are
// reported offline and never seen.
func (s *Service) SubscribePresence(ctx context.Context, call Call, userIDs []string) ([]Presence, error) {
	ids, err := presenceIDs(userIDs)
	if err != nil {
		return nil, err
	}
	c, err := s.connection(ctx, call.ConnID)
	if err != nil {
		return nil, err
	}
	if err := s.store.Subscribe(ctx, call.ConnID, ids, c.ExpiresAt); err != nil {
		return nil, fmt.Errorf("subscribe presence: %w", err)
	}
	peers, err := s.store.Peers(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("subscribe presence: %w", err)
	}
	out := make([]Presence, 0, len(ids))
	for _, id := range ids {
		p := peers[id]
		out = append(out, Presence{UserID: id, Online: p.Online(), LastSeen: lastSeen(p, s.clock())})
	}
	return out, nil
}

// UnsubscribePresence ends the caller's watch of userIDs.
func (s *Service) UnsubscribePresence(ctx context.Context, call Call, userIDs []string) error {
	ids, err := presenceIDs(userIDs)
	if err != nil {
		return err
	}
	if _, err := s.connection(ctx, call.ConnID); err != nil {
		return err
	}
	if err := s.store.Unsubscribe(ctx, call.ConnID, ids); err != nil {
		return fmt.Errorf("unsubscribe presence: %w", err)
	}
	return nil
}

// presenceIDs checks a list of user ids and drops repeats.
func presenceIDs(userIDs []string) ([]string, error) {
	if len(userIDs) < 1 || len(userIDs) > MaxPresenceIDs {
		return nil, badInput("userIds", "1 to 100 user ids")
	}
	for _, id := range userIDs {
		if err := ValidID("userIds", id); err != nil {
			return nil, err
		}
	}
	ids := slices.Clone(userIDs)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// lastSeen is when p was last online: now while they are.
func lastSeen(p Peer, now time.Time) time.Time {
	if p.Online() {
		return now
	}
	return p.LastSeen
}

// announcePresence tells the subscribers of a user that they came online
// or went offline. A subscriber found gone is not dropped here: its
// subscriptions expire with it, and its own $disconnect or next push tells.
func (s *Service) announcePresence(ctx context.Context, p Presence, exclude string) {
	subs, err := s.store.Subscribers(ctx, p.UserID)
	if err != nil {
		s.log.WarnContext(ctx, "presence subscribers", "err", err)
		return
	}
	targets := make([]Target, 0, len(subs))
	for _, sub := range subs {
		targets = append(targets, Target{ConnID: sub})
	}
	s.deliver(ctx, targets, exclude, false, PresenceEvent{Presence: p})
}
