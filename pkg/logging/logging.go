package logging

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
)

type ctxKey struct{}

// With returns a context whose log records carry attrs in addition to any
// the context already had.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	all = append(append(all, prev...), attrs...)
	return context.WithValue(ctx, ctxKey{}, all)
}

// New returns a JSON logger writing to w at level, adding the context's
// attributes to every record and redacting secrets.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&handler{inner: slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: redactAttr,
	})})
}

// FromEnv returns New(os.Stderr, level) with the level named by LOG_LEVEL
// (debug, info, warn, error; default info).
func FromEnv() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil {
		lvl = slog.LevelInfo
	}
	return New(os.Stderr, lvl)
}

type handler struct{ inner slog.Handler }

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(ctxKey{}).([]slog.Attr); ok {
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.inner.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(attrs)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name)}
}

var secretKeys = map[string]bool{
	"token": true, "password": true, "authorization": true, "secret": true,
	"jwt": true, "cookie": true, "x-amz-signature": true, "fileurl": true, "url": true,
}

var (
	jwtPattern      = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	signedURLQuery  = regexp.MustCompile(`(?i)([?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|token|Signature)=)[^&\s"]+`)
	bearerPattern   = regexp.MustCompile(`(?i)(bearer\s+)\S+`)
	passwordPattern = regexp.MustCompile(`(?i)("password"\s*:\s*")(?:[^"\\]|\\.)*`)
)

// Redact removes tokens, bearer credentials, passwords in JSON and URL
// signatures from s.
func Redact(s string) string {
	s = jwtPattern.ReplaceAllString(s, "[REDACTED]")
	s = signedURLQuery.ReplaceAllString(s, "${1}[REDACTED]")
	s = bearerPattern.ReplaceAllString(s, "${1}[REDACTED]")
	return passwordPattern.ReplaceAllString(s, "${1}[REDACTED]")
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[REDACTED]")
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); s != Redact(s) {
			return slog.String(a.Key, Redact(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, Redact(err.Error()))
		}
		// Maps, structs, slices and raw JSON are redacted through their JSON
		// form, the form the handler writes.
		b, err := json.Marshal(a.Value.Any())
		if err != nil {
			return a
		}
		var tree any
		if json.Unmarshal(b, &tree) != nil {
			return a
		}
		return slog.Any(a.Key, redactTree(tree))
	}
	return a
}

// redactTree redacts secret keys at any depth and secrets inside strings.
func redactTree(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if secretKeys[strings.ToLower(k)] {
				v[k] = "[REDACTED]"
			} else {
				v[k] = redactTree(e)
			}
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = redactTree(e)
		}
		return v
	case string:
		return Redact(v)
	}
	return v
}
