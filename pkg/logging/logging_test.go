package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/pkg/logging"
)

// Secrets of the shapes the service handles: an HS256 token, an alg:none
// token, a password and a presigned URL's signature and credential.
const (
	token      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTg5In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	noneToken  = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
	password   = "correct-horse-battery"
	signature  = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	credential = "AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
	presigned  = "http://127.0.0.1:8080/s3/files/files/a/b/c?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + credential +
		"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=" + signature
)

var secrets = []string{token, noneToken, password, signature, credential, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"}

// capture logs with a logger like the server's and returns every record.
func capture(t *testing.T, log func(l *slog.Logger)) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(logging.New(&buf, slog.LevelDebug))
	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q", line)
		}
		records = append(records, r)
	}
	return records
}

// noSecret fails if a secret is anywhere in the records.
func noSecret(t *testing.T, records []map[string]any) {
	t.Helper()
	b, _ := json.Marshal(records)
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Fatalf("secret %q logged: %s", s, b)
		}
	}
}

func TestSecretAttrsAreRedacted(t *testing.T) {
	records := capture(t, func(l *slog.Logger) {
		l.Info("keys", "token", "anything", "Password", password, "authorization", "Bearer "+token,
			"SECRET", "s3cr3t", "jwt", token, "cookie", "sid=1", "X-Amz-Signature", signature,
			"fileUrl", presigned, "url", presigned)
		l.Info("group", slog.Group("req", slog.String("Authorization", "Bearer "+token), slog.String("password", password)))
		l.With("token", token).WithGroup("g").Info("with", "password", password)
		ctx := logging.With(context.Background(), slog.String("token", token), slog.String("connectionId", "c1"))
		l.InfoContext(ctx, "context attrs")
	})
	noSecret(t, records)
	k := records[0]
	for _, key := range []string{"token", "Password", "authorization", "SECRET", "jwt", "cookie", "X-Amz-Signature", "fileUrl", "url"} {
		if k[key] != "[REDACTED]" {
			t.Errorf("%s = %v, want [REDACTED]", key, k[key])
		}
	}
	req := records[1]["req"].(map[string]any)
	if req["Authorization"] != "[REDACTED]" || req["password"] != "[REDACTED]" {
		t.Errorf("group = %v", req)
	}
	if records[2]["token"] != "[REDACTED]" || records[2]["g"].(map[string]any)["password"] != "[REDACTED]" {
		t.Errorf("With = %v", records[2])
	}
	if records[3]["token"] != "[REDACTED]" || records[3]["connectionId"] != "c1" {
		t.Errorf("context attrs = %v", records[3])
	}
}

func TestSecretsInsideStringsAreRedacted(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"token in text":         {"connect with " + token + " failed", "connect with [REDACTED] failed"},
		"alg none token":        {"token " + noneToken, "token [REDACTED]"},
		"token in query":        {"/ws?token=" + token + "&x=1", "/ws?token=[REDACTED]&x=1"},
		"opaque token in query": {"GET /ws?token=opaque-value HTTP/1.1", "GET /ws?token=[REDACTED] HTTP/1.1"},
		"bearer header":         {"Authorization: Bearer opaque-value", "Authorization: Bearer [REDACTED]"},
		"bearer lower case":     {"authorization: bearer opaque-value", "authorization: bearer [REDACTED]"},
		"password in JSON":      {`{"username":"alice","password":"` + password + `"}`, `{"username":"alice","password":"[REDACTED]"}`},
		"password key spaced":   {`{"Password" : "` + password + `"}`, `{"Password" : "[REDACTED]"}`},
		"presigned URL": {presigned, "http://127.0.0.1:8080/s3/files/files/a/b/c?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[REDACTED]" +
			"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=[REDACTED]"},
		"security token": {"https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FQoGZXIvYXdz&X-Amz-Signature=abc", "https://b.s3.amazonaws.com/k?X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]"},
		"nothing secret": {"user alice joined room bar; 3 tokens left", "user alice joined room bar; 3 tokens left"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := logging.Redact(tc.in); got != tc.want {
				t.Fatalf("Redact(%q)\n = %q\nwant %q", tc.in, got, tc.want)
			}
			records := capture(t, func(l *slog.Logger) { l.Info(tc.in, "detail", tc.in) })
			noSecret(t, records)
			if records[0]["msg"] != tc.want || records[0]["detail"] != tc.want {
				t.Fatalf("record = %v, want msg and detail %q", records[0], tc.want)
			}
		})
	}
}

func TestSecretsInErrorsAreRedacted(t *testing.T) {
	base := fmt.Errorf("auth: verify %s: %w", token, errors.New("signature is invalid"))
	records := capture(t, func(l *slog.Logger) {
		l.Error("request failed", "err", fmt.Errorf("login: %w", base))
		l.Error("joined", "err", errors.Join(errors.New("presign: "+presigned), fmt.Errorf(`body {"password":"%s"}`, password)))
		l.Error("any", slog.Any("cause", fmt.Errorf("Bearer %s", token)))
		l.Error(fmt.Sprint("as message: ", base))
	})
	noSecret(t, records)
	if got := records[0]["err"]; got != "login: auth: verify [REDACTED]: signature is invalid" {
		t.Fatalf("err = %q", got)
	}
	if !strings.Contains(records[1]["err"].(string), "X-Amz-Signature=[REDACTED]") {
		t.Fatalf("joined err = %q", records[1]["err"])
	}
}

func TestContextAttrsAccumulate(t *testing.T) {
	ctx := logging.With(context.Background(), slog.String("requestId", "r1"))
	ctx = logging.With(ctx, slog.String("route", "private-message"))
	records := capture(t, func(l *slog.Logger) {
		l.InfoContext(ctx, "served", "userId", "u1")
		l.Info("no context")
	})
	if r := records[0]; r["requestId"] != "r1" || r["route"] != "private-message" || r["userId"] != "u1" {
		t.Fatalf("record = %v", r)
	}
	if _, ok := records[1]["requestId"]; ok {
		t.Fatalf("attrs leaked into a record without the context: %v", records[1])
	}
}

func TestLevel(t *testing.T) {
	records := capture(t, func(l *slog.Logger) {
		l.Debug("debug")
		l.Info("info")
	})
	if len(records) != 2 {
		t.Fatalf("%d records at debug level", len(records))
	}
	var buf bytes.Buffer
	logging.New(&buf, slog.LevelWarn).Info("dropped")
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %s", buf.String())
	}
}

func TestStructuredValuesAreRedacted(t *testing.T) {
	records := capture(t, func(l *slog.Logger) {
		l.Info("map", "body", map[string]any{"username": "alice", "password": password, "nested": map[string]any{"Token": token}})
		l.Info("struct", "creds", struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}{"alice", password})
		l.Info("raw", "body", json.RawMessage(`{"password":"`+password+`","url":"`+presigned+`"}`))
		l.Info("slice", "headers", []string{"Authorization: Bearer " + token, "X-Request: 1"})
	})
	noSecret(t, records)
	if body := records[0]["body"].(map[string]any); body["username"] != "alice" || body["password"] != "[REDACTED]" {
		t.Fatalf("map = %v", body)
	}
	if h := records[3]["headers"].([]any); h[0] != "Authorization: Bearer [REDACTED]" || h[1] != "X-Request: 1" {
		t.Fatalf("slice = %v", h)
	}
}

func TestPasswordWithEscapedQuoteIsRedactedWhole(t *testing.T) {
	in := `{"password":"correct\"horse-battery","username":"alice"}`
	if got, want := logging.Redact(in), `{"password":"[REDACTED]","username":"alice"}`; got != want {
		t.Fatalf("Redact(%s) = %s, want %s", in, got, want)
	}
}
