package awsconf

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Retry bounds: MaxAttempts tries in all, backoff up to MaxBackoff, each
// attempt bounded by AttemptTimeout. In the worst case a request gives up
// after about MaxAttempts x AttemptTimeout + the backoffs, under 20 s.
const (
	MaxAttempts    = 4
	MaxBackoff     = 2 * time.Second
	AttemptTimeout = 4 * time.Second
)

// Retryer is the SDK retryer every client uses: the standard one, bounded,
// without the retry token bucket (whose quota, once spent by a burst of
// throttled requests, makes every later request of the instance fail at
// once with "retry quota exceeded").
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// HTTPClient bounds each attempt, so that a stalled connection is retried
// instead of holding the request until the integration times out, and
// keeps enough idle connections for a fan-out's concurrent pushes.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(AttemptTimeout).WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
	})
}

// ErrNoRegion is returned by Lambda when AWS_REGION is not set.
var ErrNoRegion = errors.New("awsconf: AWS_REGION is not set")

// Lambda returns the configuration of a Lambda function: the region and
// credentials the runtime puts in the environment (AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Endpoints
// come from AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> as in the SDK,
// through Endpoint.
func Lambda() (aws.Config, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		return aws.Config{}, ErrNoRegion
	}
	return aws.Config{
		Region: region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))),
		Retryer:    Retryer,
		HTTPClient: HTTPClient(),
	}, nil
}

// Endpoint returns the endpoint the environment sets for a service (its
// SDK id, such as "DynamoDB" or "S3"), or nil for the SDK's own.
func Endpoint(serviceID string) *string {
	env := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(serviceID, " ", "_"))
	for _, k := range []string{env, "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(k); v != "" {
			return aws.String(v)
		}
	}
	return nil
}
