package localgw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"
)

// ErrIntegrationTimeout is returned by an invocation that did not answer
// within Limits.IntegrationTimeout.
var ErrIntegrationTimeout = errors.New("localgw: integration timed out")

// errHandlerPanic wraps a panic of a handler, which on Lambda would have
// ended the invocation with an error.
var errHandlerPanic = errors.New("localgw: handler panicked")

// invoke runs fn with event marshalled to JSON, as the Lambda service would:
// with a deadline and a lambdacontext. A handler that overruns its deadline is
// abandoned (its result discarded) but still waited for by Shutdown.
func (g *Gateway) invoke(fn function, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("localgw: marshal event for %s: %w", fn.logicalID, err)
	}
	return g.run(fn, func(ctx context.Context) ([]byte, error) {
		inst := fn.instances.Get().(lambda.Handler)
		out, err := inst.Invoke(ctx, payload)
		// out is the instance's own buffer, overwritten by its next
		// invocation: copy it before the instance serves another.
		out = bytes.Clone(out)
		fn.instances.Put(inst)
		return out, err
	})
}

// invokeMessage runs fn's MessageHandler with the event as a value. Its
// response is not used (API Gateway sends none back on routes without a
// route response).
func (g *Gateway) invokeMessage(fn function, event any) ([]byte, error) {
	ev, ok := event.(events.APIGatewayWebsocketProxyRequest)
	if !ok {
		return g.invoke(fn, event)
	}
	return g.run(fn, func(ctx context.Context) ([]byte, error) {
		_, err := fn.message(ctx, ev)
		return nil, err
	})
}

// run calls call as an invocation of fn: with the integration timeout, a
// lambdacontext, panics recovered, and counted for Shutdown and WaitIdle.
func (g *Gateway) run(fn function, call func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), g.limits.IntegrationTimeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid.NewString(),
		InvokedFunctionArn: fn.arn,
	})
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	g.inflight.Add(1)
	g.started()
	g.runners.run(func() {
		defer g.inflight.Done()
		defer g.finished()
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%w: %v", errHandlerPanic, p)}
			}
		}()
		out, err := call(ctx)
		done <- result{out, err}
	})
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s after %s", ErrIntegrationTimeout, fn.logicalID, g.limits.IntegrationTimeout)
	}
}
