package app

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/edge"
)

// Environment variables read by FromEnv (README lists them all).
const (
	EnvStore        = "MINICHAT_STORE"           // "bolt" (serve's default) or "dynamodb" (Lambda's)
	EnvDataDir      = "MINICHAT_DATA_DIR"        // bolt: where minichat.db lives
	EnvTable        = "MINICHAT_TABLE"           // dynamodb: the table name (serve: DefaultTable)
	EnvJWTSecret    = "MINICHAT_JWT_SECRET"      // at least 32 bytes
	EnvJWTSecretARN = "MINICHAT_JWT_SECRET_ARN"  // Lambda: the Secrets Manager secret holding it
	EnvWSEndpoint   = "MINICHAT_WS_ENDPOINT"     // the Management API endpoint
	EnvOrigins      = "MINICHAT_ALLOWED_ORIGINS" // comma-separated
	EnvTokenTTL     = "MINICHAT_TOKEN_TTL"       // Go duration, default 24h
	EnvBucket       = "MINICHAT_BUCKET"          // the S3 bucket for files
	EnvFiles        = "MINICHAT_FILES"           // "embedded" (serve's default) or "s3"
	EnvPathStyle    = "MINICHAT_S3_PATH_STYLE"   // "true" for moto and LocalStack
	EnvMaxFile      = "MINICHAT_MAX_FILE_BYTES"  // largest file, default 10 MiB
	EnvFileTypes    = "MINICHAT_FILE_TYPES"      // comma-separated content types
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
	EnvTypingRate        = "MINICHAT_TYPING_RATE"          // typing frames relayed per second per user
	EnvTypingBurst       = "MINICHAT_TYPING_BURST"         // typing frames relayed in a burst
)

// File backends.
const (
	FilesEmbedded = "embedded"
	FilesS3       = "s3"
)

// DefaultBucket is the bucket name used when MINICHAT_BUCKET is not set.
const DefaultBucket = "minichat-files"

// DefaultTable is the table `minichat provision` creates, and the one
// `minichat serve` uses with the DynamoDB store unless told otherwise.
const DefaultTable = "minichat"

// Stores.
const (
	StoreBolt     = "bolt"
	StoreDynamoDB = "dynamodb"
)

// Settings are the environment-derived settings of a process.
type Settings struct {
	Store     string
	DataDir   string
	Table     string
	JWTSecret []byte
	// JWTSecretARN names the Secrets Manager secret that holds the JWT
	// secret (on Lambda, instead of JWTSecret).
	JWTSecretARN string
	WSEndpoint   string
	Origins      edge.Origins
	TokenTTL     time.Duration
	Bucket       string
	Files        string
	PathStyle    bool
	FilePolicy   chat.FilePolicy
	// Limits hold the limits set in the environment; zero fields keep
	// chat's defaults.
	Limits chat.Limits
}

// SettingsFromEnv reads Settings from the environment.
func SettingsFromEnv() (Settings, error) {
	s := Settings{
		Store:        os.Getenv(EnvStore),
		DataDir:      os.Getenv(EnvDataDir),
		Table:        os.Getenv(EnvTable),
		JWTSecret:    []byte(os.Getenv(EnvJWTSecret)),
		JWTSecretARN: os.Getenv(EnvJWTSecretARN),
		WSEndpoint:   os.Getenv(EnvWSEndpoint),
		Origins:      edge.ParseOrigins(os.Getenv(EnvOrigins)),
		Bucket:       os.Getenv(EnvBucket),
		Files:        os.Getenv(EnvFiles),
		PathStyle:    os.Getenv(EnvPathStyle) == "true",
	}
	if s.Bucket == "" {
		s.Bucket = DefaultBucket
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
	}{{EnvSendRate, &l.SendRate}, {EnvAvatarRate, &l.AvatarRate}, {EnvTypingRate, &l.TypingRate}}
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
		{EnvAvatarBurst, &l.AvatarBurst}, {EnvFanout, &l.Fanout}, {EnvTypingBurst, &l.TypingBurst},
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
