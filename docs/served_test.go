package docs

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestPlannedMarksMatchWhatIsServed checks that the server serves exactly
// the routes and actions the documents call built.
func TestPlannedMarksMatchWhatIsServed(t *testing.T) {
	h := newHarness(t, scenarioLimits)
	for key, op := range h.ops {
		ev := events.APIGatewayV2HTTPRequest{RouteKey: key, RawPath: op.path}
		resp, err := h.http.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		served := !(resp.StatusCode == 404 && strings.Contains(resp.Body, "no such route"))
		switch {
		case served && op.planned:
			t.Errorf("pkg/edge serves %s now: drop %s from it in openapi.yaml and document it in protocol.md", key, plannedMark)
		case !served && !op.planned:
			t.Errorf("pkg/edge does not serve %s, which openapi.yaml documents as built", key)
		}
	}
	served := h.ws.Actions()
	for action, m := range h.actions {
		switch in := slices.Contains(served, action); {
		case in && m.planned:
			t.Errorf("pkg/edge serves action %q now: drop %s from it in asyncapi.yaml and document it in protocol.md", action, plannedMark)
		case !in && !m.planned:
			t.Errorf("pkg/edge does not serve action %q, which asyncapi.yaml documents as built", action)
		}
	}
	for _, a := range served {
		if _, ok := h.actions[a]; !ok {
			t.Errorf("pkg/edge serves action %q, which asyncapi.yaml does not describe", a)
		}
	}
}
