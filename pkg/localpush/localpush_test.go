package localpush_test

import (
	"testing"

	"github.com/minichatbar/minichat/pkg/chat/pushertest"
	"github.com/minichatbar/minichat/pkg/localpush"
	"github.com/minichatbar/minichat/pkg/testenv"
)

func TestConformance(t *testing.T) {
	pushertest.Run(t, func(t *testing.T) pushertest.Env {
		gw := testenv.NewGateway(t)
		return pushertest.Env{Pusher: &localpush.GatewayPusher{Gateway: gw.Gateway}, Dial: gw.Dial}
	})
}
