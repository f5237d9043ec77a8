package apigwpush_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/minichatbar/minichat/pkg/apigwpush"
	"github.com/minichatbar/minichat/pkg/awsconf"
	"github.com/minichatbar/minichat/pkg/chat/pushertest"
	"github.com/minichatbar/minichat/pkg/localgw"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// TestConformance runs the unmodified SDK client over the local gateway's
// Management API: the path of every push on AWS, and of outside tools
// locally.
func TestConformance(t *testing.T) {
	pushertest.Run(t, func(t *testing.T) pushertest.Env {
		gw := testenv.NewGateway(t)
		cfg := aws.Config{
			Region:      "us-east-1",
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
			Retryer:     awsconf.Retryer,
			HTTPClient:  awsconf.HTTPClient(),
		}
		return pushertest.Env{Pusher: apigwpush.NewFromConfig(cfg, gw.URL+localgw.DefaultWebSocketPath), Dial: gw.Dial}
	})
}
