package app

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/apigwpush"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/logging"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
)

// Environment variables read by FromEnv (README lists them all).
const (
	EnvStore      = "MINICHAT_STORE"           // "bolt" (default) or "dynamodb"
	EnvDataDir    = "MINICHAT_DATA_DIR"        // bolt: where minichat.db lives
	EnvTable      = "MINICHAT_TABLE"           // dynamodb: the table name
	EnvJWTSecret  = "MINICHAT_JWT_SECRET"      // at least 32 bytes
	EnvWSEndpoint = "MINICHAT_WS_ENDPOINT"     // the Management API endpoint
	EnvOrigins    = "MINICHAT_ALLOWED_ORIGINS" // comma-separated
	EnvTokenTTL   = "MINICHAT_TOKEN_TTL"       // Go duration, default 24h
	EnvBucket     = "MINICHAT_BUCKET"          // the S3 bucket for files
	EnvFiles      = "MINICHAT_FILES"           // "embedded" (serve's default) or "s3"
	EnvPathStyle  = "MINICHAT_S3_PATH_STYLE"   // "true" for moto and LocalStack
	EnvMaxFile    = "MINICHAT_MAX_FILE_BYTES"  // largest file, default 10 MiB
	EnvFileTypes  = "MINICHAT_FILE_TYPES"      // comma-separated content types
)

// Environment variables of chat.Limits. Outside tools (load generators,
// deploy scripts) use these exact names; each unset one keeps its default.
const (
	EnvSendRate          = "MINICHAT_SEND_RATE"            // sends per second per user
	EnvSendBurst         = "MINICHAT_SEND_BURST"           // sends in a burst
	EnvRegistersPerIP    = "MINICHAT_REGISTERS_PER_IP"     // registrations per source IP per minute
	EnvLoginFailsPerUser = "MINICHAT_LOGIN_FAILS_PER_USER" // failed logins per username per minute
	EnvLoginFailsPerIP   = "MINICHAT_LOGIN_FAILS_PER_IP"   // failed logins per source IP per minute
	EnvAvatarRate        = "MINICHAT_AVATAR_RATE"          // avatar changes per second per user
	EnvAvatarBurst       = "MINICHAT_AVATAR_BURST"         // avatar changes in a burst
	EnvFanout            = "MINICHAT_FANOUT"               // concurrent pushes of one fan-out
)

// File backends.
const (
	FilesEmbedded = "embedded"
	FilesS3       = "s3"
)

// DefaultBucket is the bucket name used when MINICHAT_BUCKET is not set.
const DefaultBucket = "minichat-files"

// Stores.
const (
	StoreBolt     = "bolt"
	StoreDynamoDB = "dynamodb"
)

// Settings are the environment-derived settings of a process.
type Settings struct {
	Store      string
	DataDir    string
	Table      string
	JWTSecret  []byte
	WSEndpoint string
	Origins    edge.Origins
	TokenTTL   time.Duration
	Bucket     string
	Files      string
	PathStyle  bool
	FilePolicy chat.FilePolicy
	// Limits hold the limits set in the environment; zero fields keep
	// chat's defaults.
	Limits chat.Limits
}

// SettingsFromEnv reads Settings from the environment.
func SettingsFromEnv() (Settings, error) {
	s := Settings{
		Store:      os.Getenv(EnvStore),
		DataDir:    os.Getenv(EnvDataDir),
		Table:      os.Getenv(EnvTable),
		JWTSecret:  []byte(os.Getenv(EnvJWTSecret)),
		WSEndpoint: os.Getenv(EnvWSEndpoint),
		Origins:    edge.ParseOrigins(os.Getenv(EnvOrigins)),
		Bucket:     os.Getenv(EnvBucket),
		Files:      os.Getenv(EnvFiles),
		PathStyle:  os.Getenv(EnvPathStyle) == "true",
	}
	if s.Bucket == "" {
		s.Bucket = DefaultBucket
	}
	if s.Store == "" {
		s.Store = StoreBolt
	}
	if v := os.Getenv(EnvMaxFile); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("app: %s=%q is not a positive number of bytes", EnvMaxFile, v)
		}
		s.FilePolicy.MaxSize = n
	}
	for _, t := range strings.Split(os.Getenv(EnvFileTypes), ",") {
		if t = strings.TrimSpace(t); t != "" {
			s.FilePolicy.Types = append(s.FilePolicy.Types, t)
		}
	}
	limits, err := LimitsFromEnv()
	if err != nil {
		return s, err
	}
	s.Limits = limits
	if v := os.Getenv(EnvTokenTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("app: %s=%q is not a positive duration", EnvTokenTTL, v)
		}
		s.TokenTTL = d
	}
	return s, nil
}

// LimitsFromEnv reads the limits set in the environment. A value that is
// not a positive number is an error naming its variable, so that a typo
// refuses to start instead of silently keeping a default.
func LimitsFromEnv() (chat.Limits, error) {
	var l chat.Limits
	rates := []struct {
		env string
		dst *float64
	}{{EnvSendRate, &l.SendRate}, {EnvAvatarRate, &l.AvatarRate}}
	for _, r := range rates {
		v := os.Getenv(r.env)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return chat.Limits{}, fmt.Errorf("app: %s=%q is not a positive number", r.env, v)
		}
		*r.dst = f
	}
	counts := []struct {
		env string
		dst *int
	}{
		{EnvSendBurst, &l.SendBurst}, {EnvRegistersPerIP, &l.RegistersPerIP},
		{EnvLoginFailsPerUser, &l.LoginFailsPerUser}, {EnvLoginFailsPerIP, &l.LoginFailsPerIP},
		{EnvAvatarBurst, &l.AvatarBurst}, {EnvFanout, &l.Fanout},
	}
	for _, c := range counts {
		v := os.Getenv(c.env)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return chat.Limits{}, fmt.Errorf("app: %s=%q is not a positive whole number", c.env, v)
		}
		*c.dst = n
	}
	return l, nil
}

// LoadAWS returns the SDK configuration from the standard chain
// (AWS_REGION, AWS_ENDPOINT_URL*, credentials). With local set, the EC2
// metadata service is not asked, and without credentials in the
// environment placeholders are used, because the local gateway, moto and
// LocalStack accept any.
func LoadAWS(ctx context.Context, local bool) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if local {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("app: aws config: %w", err)
	}
	if local && cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// OpenStore opens the store s names; close releases it.
func OpenStore(ctx context.Context, s Settings, awsCfg aws.Config) (store chat.Store, close func() error, err error) {
	switch s.Store {
	case StoreBolt:
		dir := s.DataDir
		if dir == "" {
			dir = ".minichat"
		}
		b, err := boltstore.Open(filepath.Join(dir, "minichat.db"))
		if err != nil {
			return nil, nil, fmt.Errorf("app: %w", err)
		}
		return b, b.Close, nil
	case StoreDynamoDB:
		if s.Table == "" {
			return nil, nil, fmt.Errorf("app: %s is required with %s=%s", EnvTable, EnvStore, StoreDynamoDB)
		}
		return dynamostore.New(dynamodb.NewFromConfig(awsCfg), s.Table), func() error { return nil }, nil
	default:
		return nil, nil, fmt.Errorf("app: %s=%q: want %q or %q", EnvStore, s.Store, StoreBolt, StoreDynamoDB)
	}
}

// S3Files returns the Files adapter over the bucket s names; endpoint, when
// set, overrides the SDK's (the embedded S3 of `minichat serve`).
func S3Files(awsCfg aws.Config, s Settings, endpoint string) *s3files.S3Files {
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = s.PathStyle || endpoint != ""
	})
	return s3files.New(client, s.Bucket)
}

// Lambda builds the App of a Lambda function from its environment.
func Lambda(ctx context.Context) (*App, error) {
	s, err := SettingsFromEnv()
	if err != nil {
		return nil, err
	}
	awsCfg, err := LoadAWS(ctx, false)
	if err != nil {
		return nil, err
	}
	store, _, err := OpenStore(ctx, s, awsCfg)
	if err != nil {
		return nil, err
	}
	if s.WSEndpoint == "" {
		return nil, fmt.Errorf("app: %s is required", EnvWSEndpoint)
	}
	return New(Config{
		Store: store, Pusher: apigwpush.NewFromConfig(awsCfg, s.WSEndpoint), Files: S3Files(awsCfg, s, ""), FilePolicy: s.FilePolicy,
		JWTSecret: s.JWTSecret, TokenTTL: s.TokenTTL, Origins: s.Origins, Limits: s.Limits, Logger: logging.FromEnv(),
	})
}

// Main is what a function's main.go calls: build the App from the
// environment and start the handler of functions/<dir> under the Lambda
// runtime. A wiring error ends the process, so the failed init shows in
// the function's logs.
func Main(dir string) {
	ctx := context.Background()
	a, err := Lambda(ctx)
	if err != nil {
		logging.FromEnv().Error("init failed", "function", dir, "err", err)
		os.Exit(1)
	}
	h, err := a.Handler(dir)
	if err != nil {
		a.Log.Error("init failed", "function", dir, "err", err)
		os.Exit(1)
	}
	lambda.StartHandler(h)
}
