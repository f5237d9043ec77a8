package lambdaapp

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/minichatbar/minichat/pkg/apigwpush"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/awsconf"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/metrics/emf"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
)

// Option adds what some functions need to the app's configuration.
type Option func(ctx context.Context, env Env, cfg *app.Config) error

// Env is what an Option builds from: the settings and AWS configuration.
type Env struct {
	Settings app.Settings
	AWS      aws.Config
}

// Errors of a function deployed without what it needs.
var (
	ErrNoTable    = errors.New("lambdaapp: " + app.EnvTable + " is not set: deploy the function with its table (template.yaml sets it)")
	ErrNoEndpoint = errors.New("lambdaapp: " + app.EnvWSEndpoint + " is not set: deploy the function with its Management API endpoint (template.yaml sets it)")
	ErrStore      = errors.New("lambdaapp: on Lambda the store is DynamoDB")
)

// Handler builds the handler of functions/<dir> from the environment. It
// writes each invocation's metrics when the invocation ends; the metrics
// are returned too, for tests.
func Handler(ctx context.Context, dir string, opts ...Option) (lambda.Handler, *emf.EMFMetrics, error) {
	s, err := app.SettingsFromEnv()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case s.Store != "" && s.Store != app.StoreDynamoDB:
		return nil, nil, fmt.Errorf("%w, not %s=%q", ErrStore, app.EnvStore, s.Store)
	case s.Table == "":
		return nil, nil, ErrNoTable
	case s.WSEndpoint == "":
		return nil, nil, ErrNoEndpoint
	}
	awsCfg, err := awsconf.Lambda()
	if err != nil {
		return nil, nil, err
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = awsconf.Endpoint(dynamodb.ServiceID) })
	metrics := emf.New(os.Stdout)
	cfg := app.Config{
		Store:   dynamostore.New(db, s.Table),
		Limiter: dynamostore.NewLimiter(db, s.Table),
		Pusher:  apigwpush.NewFromConfig(awsCfg, s.WSEndpoint),
		Metrics: metrics, FilePolicy: s.FilePolicy, JWTSecret: s.JWTSecret, TokenTTL: s.TokenTTL,
		Origins: s.Origins, Limits: s.Limits, Logger: logging.FromEnv(),
	}
	for _, o := range opts {
		if err := o(ctx, Env{Settings: s, AWS: awsCfg}, &cfg); err != nil {
			return nil, nil, err
		}
	}
	a, err := app.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	h, err := a.Handler(dir)
	if err != nil {
		return nil, nil, err
	}
	return flushing{h, metrics}, metrics, nil
}

// flushing writes the metrics of each invocation when it ends, so that
// they reach CloudWatch with the invocation's log lines.
type flushing struct {
	lambda.Handler
	metrics *emf.EMFMetrics
}

func (f flushing) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.Handler.Invoke(ctx, payload)
	if ferr := f.metrics.Flush(); ferr != nil {
		logging.FromEnv().WarnContext(ctx, "write metrics", "err", ferr)
	}
	return out, err
}

// Main is what a function's main.go calls: build the handler of
// functions/<dir> and start it under the Lambda runtime. A wiring error
// ends the process, so the failed init shows in the function's log.
func Main(dir string, opts ...Option) {
	h, _, err := Handler(context.Background(), dir, opts...)
	if err != nil {
		logging.FromEnv().Error("init failed", "function", dir, "err", err)
		os.Exit(1)
	}
	lambda.StartHandler(h)
}
