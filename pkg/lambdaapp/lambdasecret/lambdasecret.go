// Package lambdasecret is the lambdaapp Option of the functions that verify
// or issue tokens: their signing secret comes from Secrets Manager, read
// once per function instance when a token is first checked (not at start,
// which would add a request to every cold start), and only these functions
// link the Secrets Manager client or may read the secret.
package lambdasecret

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/awsconf"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/lambdaapp"
)

// fetchTimeout bounds the one read of the secret.
const fetchTimeout = 5 * time.Second

// Tokens gives the function tokens signed with the secret that
// MINICHAT_JWT_SECRET_ARN names; without it, MINICHAT_JWT_SECRET serves
// (as in tests and local runs of a bootstrap).
func Tokens() lambdaapp.Option {
	return func(_ context.Context, env lambdaapp.Env, cfg *app.Config) error {
		arn := env.Settings.JWTSecretARN
		if arn == "" {
			return nil
		}
		client := secretsmanager.NewFromConfig(env.AWS, func(o *secretsmanager.Options) {
			o.BaseEndpoint = awsconf.Endpoint(secretsmanager.ServiceID)
		})
		cfg.Tokens = &LazyTokens{TTL: env.Settings.TokenTTL, Fetch: func(ctx context.Context) ([]byte, error) {
			out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
			if err != nil {
				return nil, err
			}
			return []byte(aws.ToString(out.SecretString)), nil
		}}
		return nil
	}
}

// LazyTokens are JWT tokens whose secret is fetched on first use; a failed
// fetch is tried again on the next use.
type LazyTokens struct {
	Fetch func(context.Context) ([]byte, error)
	TTL   time.Duration

	mu     sync.Mutex
	tokens *auth.JWTTokens
}

var _ chat.Tokens = (*LazyTokens)(nil)

var errSecret = errors.New("lambdasecret: token secret unavailable")

func (l *LazyTokens) get() (*auth.JWTTokens, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens != nil {
		return l.tokens, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	secret, err := l.Fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSecret, err)
	}
	var opts []auth.JWTOption
	if l.TTL > 0 {
		opts = append(opts, auth.WithTTL(l.TTL))
	}
	t, err := auth.NewJWTTokens(secret, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSecret, err)
	}
	l.tokens = t
	return t, nil
}

// Issue signs a token for id.
func (l *LazyTokens) Issue(id chat.Identity) (string, time.Time, error) {
	t, err := l.get()
	if err != nil {
		return "", time.Time{}, err
	}
	return t.Issue(id)
}

// Verify checks a token. A secret that cannot be read is an internal
// error, not a refused token.
func (l *LazyTokens) Verify(token string) (chat.Identity, error) {
	t, err := l.get()
	if err != nil {
		return chat.Identity{}, err
	}
	return t.Verify(token)
}
