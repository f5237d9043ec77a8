package memlimit_test

import (
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/limitertest"
	"github.com/minichatbar/minichat/pkg/memlimit"
)

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T) chat.Limiter { return memlimit.New() })
}
