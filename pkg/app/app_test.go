package app_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/apigwpush"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/testenv"
)

func TestSettingsFromEnv(t *testing.T) {
	t.Setenv(app.EnvMaxFile, "2048")
	t.Setenv(app.EnvFileTypes, "image/png, text/plain")
	t.Setenv(app.EnvOrigins, "https://chat.example.com, https://m.example.com/")
	t.Setenv(app.EnvTokenTTL, "90m")
	s, err := app.SettingsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if s.Store != "" || s.Bucket != app.DefaultBucket || s.TokenTTL.Minutes() != 90 ||
		s.FilePolicy.MaxSize != 2048 || !slices.Equal(s.FilePolicy.Types, []string{"image/png", "text/plain"}) ||
		!slices.Equal([]string(s.Origins), []string{"https://chat.example.com", "https://m.example.com"}) {
		t.Fatalf("settings = %+v", s)
	}
	for key, bad := range map[string]string{
		app.EnvMaxFile: "-1", app.EnvTokenTTL: "soon", app.EnvSendRate: "fast", app.EnvSendBurst: "0",
		app.EnvAvatarRate: "-2", app.EnvAvatarBurst: "1.5", app.EnvFanout: "many", app.EnvRegistersPerIP: "",
		app.EnvLoginFailsPerUser: "-1", app.EnvLoginFailsPerIP: "NaN",
	} {
		if bad == "" {
			bad = " "
		}
		t.Run(key, func(t *testing.T) {
			t.Setenv(key, bad)
			if _, err := app.SettingsFromEnv(); err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("%s=%s: err = %v", key, bad, err)
			}
		})
	}
}

// Every function template.yaml names has a handler, and every handler a
// function: the template is the only table of routes and functions.
func TestHandlersMatchTheTemplate(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, err := app.New(app.Config{
		Store: store, Limiter: memlimit.New(), Pusher: apigwpush.NewFromConfig(awsConfig(), "http://127.0.0.1:1/ws"),
		Files: testenv.EmbeddedFiles(t, "b"), JWTSecret: []byte(strings.Repeat("s", 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, fn := range fns {
		want = append(want, strings.TrimPrefix(fn.CodeURI, "functions/"))
	}
	for dir := range a.Handlers() {
		got = append(got, dir)
		if _, err := a.Handler(dir); err != nil {
			t.Error(err)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("handlers %v, template functions %v", got, want)
	}
	if _, err := a.Handler("no-such-function"); err == nil {
		t.Fatal("a handler for a directory the template does not name")
	}
}

// Every limit of chat.Limits but the connection TTL has its variable, with
// exactly the names outside tools use; unset ones keep the defaults.
func TestLimitsFromEnv(t *testing.T) {
	l, err := app.LimitsFromEnv()
	if err != nil || l != (chat.Limits{}) {
		t.Fatalf("no variables set: %+v, %v", l, err)
	}
	for k, v := range map[string]string{
		"MINICHAT_SEND_RATE": "1000", "MINICHAT_SEND_BURST": "2000", "MINICHAT_REGISTERS_PER_IP": "30",
		"MINICHAT_LOGIN_FAILS_PER_USER": "7", "MINICHAT_LOGIN_FAILS_PER_IP": "40", "MINICHAT_AVATAR_RATE": "0.5",
		"MINICHAT_AVATAR_BURST": "3", "MINICHAT_FANOUT": "64",
	} {
		t.Setenv(k, v)
	}
	l, err = app.LimitsFromEnv()
	want := chat.Limits{SendRate: 1000, SendBurst: 2000, RegistersPerIP: 30, LoginFailsPerUser: 7,
		LoginFailsPerIP: 40, AvatarRate: 0.5, AvatarBurst: 3, Fanout: 64}
	if err != nil || l != want {
		t.Fatalf("got %+v, %v; want %+v", l, err, want)
	}
}

func awsConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")}
}
