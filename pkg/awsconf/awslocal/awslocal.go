package awslocal

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/minichatbar/minichat/pkg/awsconf"
)

// Local returns the SDK's default configuration for a developer's machine:
// the EC2 metadata service is not asked, placeholder credentials stand in
// when the environment has none (the local gateway, moto and LocalStack
// accept any), and the region defaults to us-east-1.
func Local(ctx context.Context) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := load(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// Default returns the SDK's default configuration, for tools run against a
// real AWS account.
func Default(ctx context.Context) (aws.Config, error) { return load(ctx) }

func load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append(opts, config.WithRetryer(awsconf.Retryer), config.WithHTTPClient(awsconf.HTTPClient()))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("awslocal: %w", err)
	}
	return cfg, nil
}
