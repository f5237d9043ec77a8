package apigwpush

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/minichatbar/minichat/pkg/chat"
)

// API is the part of the Management API client the pusher uses.
type API interface {
	PostToConnection(context.Context, *apigatewaymanagementapi.PostToConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(context.Context, *apigatewaymanagementapi.DeleteConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
	GetConnection(context.Context, *apigatewaymanagementapi.GetConnectionInput, ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.GetConnectionOutput, error)
}

var _ chat.Pusher = (*ManagementAPIPusher)(nil)

// ManagementAPIPusher pushes frames with PostToConnection.
type ManagementAPIPusher struct {
	api API
}

// New returns a pusher over api.
func New(api API) *ManagementAPIPusher { return &ManagementAPIPusher{api: api} }

// NewFromConfig returns a pusher for the Management API at endpoint
// (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}, or the local
// gateway's http://127.0.0.1:8080/ws).
func NewFromConfig(cfg aws.Config, endpoint string, opts ...func(*apigatewaymanagementapi.Options)) *ManagementAPIPusher {
	opts = append([]func(*apigatewaymanagementapi.Options){func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, opts...)
	return New(apigatewaymanagementapi.NewFromConfig(cfg, opts...))
}

// Push sends data to one connection.
func (p *ManagementAPIPusher) Push(ctx context.Context, connID string, data []byte) error {
	_, err := p.api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connID), Data: data,
	})
	return classify("push", err)
}

// Disconnect closes one connection.
func (p *ManagementAPIPusher) Disconnect(ctx context.Context, connID string) error {
	_, err := p.api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(connID)})
	return classify("disconnect", err)
}

// Alive asks GetConnection whether a connection is open: API Gateway
// answers 410 Gone for one that closed, even when its $disconnect never
// reached us.
func (p *ManagementAPIPusher) Alive(ctx context.Context, connID string) (bool, error) {
	_, err := p.api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(connID)})
	err = classify("get connection", err)
	if errors.Is(err, chat.ErrGone) {
		return false, nil
	}
	return err == nil, err
}

func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	// The status decides when the error type is missing, as it is from a
	// gateway that answers a plain 410 or 429 (API Gateway names them).
	var status int
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var gone *types.GoneException
	if errors.As(err, &gone) || status == http.StatusGone {
		return fmt.Errorf("%s: %w", op, chat.ErrGone)
	}
	var limit *types.LimitExceededException
	if errors.As(err, &limit) || status == http.StatusTooManyRequests {
		return fmt.Errorf("%s: %w: %w", op, chat.ErrThrottled, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
