package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/minichatbar/minichat/pkg/protocol"
)

// maxPresenceIDs is how many users one subscribe-presence may name.
const maxPresenceIDs = 100

// SubscribePresence makes this client watch whether userIDs are online
// and returns their presence now (users that do not exist are reported
// offline, never seen). From then on a Presence event comes whenever one
// of them goes online or offline. The subscription lives with the
// connection on the server, so the client subscribes again after every
// reconnect, until UnsubscribePresence.
func (c *Client) SubscribePresence(ctx context.Context, userIDs ...string) ([]protocol.PresenceInfo, error) {
	if len(userIDs) == 0 {
		return nil, errors.New("client: subscribe-presence: no user ids")
	}
	var out []protocol.PresenceInfo
	for ids := range slices.Chunk(userIDs, maxPresenceIDs) {
		rep, err := c.do(ctx, kindSubscribe, protocol.Request{Action: protocol.ActionSubscribePresence, UserIDs: ids})
		if err != nil {
			return out, err
		}
		var ps protocol.PresenceState
		if err := json.Unmarshal(rep.data, &ps); err != nil || rep.typ != protocol.TypePresenceState {
			return out, fmt.Errorf("client: subscribe-presence: unexpected answer %q", rep.typ)
		}
		out = append(out, ps.Users...)
	}
	return out, nil
}

// UnsubscribePresence ends the watch of userIDs; the client stops
// subscribing to them again at once.
func (c *Client) UnsubscribePresence(ctx context.Context, userIDs ...string) error {
	if len(userIDs) == 0 {
		return errors.New("client: unsubscribe-presence: no user ids")
	}
	c.mu.Lock()
	for _, id := range userIDs {
		delete(c.presence, id)
	}
	c.mu.Unlock()
	for ids := range slices.Chunk(userIDs, maxPresenceIDs) {
		if _, err := c.do(ctx, kindOther, protocol.Request{Action: protocol.ActionUnsubscribePresence, UserIDs: ids}); err != nil {
			return err
		}
	}
	return nil
}
