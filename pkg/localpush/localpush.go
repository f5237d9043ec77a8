package localpush

import (
	"context"
	"errors"
	"fmt"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/localgw"
)

var _ chat.Pusher = (*GatewayPusher)(nil)

// GatewayPusher pushes through a gateway of this process. Gateway is set
// once the gateway exists (it needs the handlers, which need the pusher);
// until then every push fails.
type GatewayPusher struct {
	Gateway *localgw.Gateway
}

var errNoGateway = errors.New("localpush: no gateway attached")

// Push sends one frame.
func (p *GatewayPusher) Push(ctx context.Context, connID string, data []byte) error {
	if p.Gateway == nil {
		return errNoGateway
	}
	return classify("push", p.Gateway.PostToConnection(ctx, connID, data))
}

// Disconnect closes a connection.
func (p *GatewayPusher) Disconnect(_ context.Context, connID string) error {
	if p.Gateway == nil {
		return errNoGateway
	}
	return classify("disconnect", p.Gateway.DeleteConnection(connID))
}

// Alive reports whether the connection is open.
func (p *GatewayPusher) Alive(_ context.Context, connID string) (bool, error) {
	if p.Gateway == nil {
		return false, errNoGateway
	}
	return p.Gateway.ConnectionOpen(connID), nil
}

func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, localgw.ErrGone):
		return fmt.Errorf("%s: %w", op, chat.ErrGone)
	}
	return fmt.Errorf("%s: %w", op, err)
}
