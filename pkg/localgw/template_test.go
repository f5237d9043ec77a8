package localgw

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// The project's template.yaml wires into the gateway: every function it
// names gets a handler, and messages and requests reach the directory the
// template says serves them.
func TestProjectTemplateWiring(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	cfg, err := FromTemplate(tpl)
	if err != nil {
		t.Fatalf("FromTemplate: %v", err)
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatalf("Functions: %v", err)
	}
	handlers := map[string]any{}
	for _, fn := range fns {
		dir := strings.TrimPrefix(fn.CodeURI, "functions/")
		if fn.LogicalID == "AuthorizerFunction" {
			handlers[dir] = func(req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
				return events.APIGatewayCustomAuthorizerResponse{PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
					Version:   "2012-10-17",
					Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{req.MethodArn}}},
				}}, nil
			}
			continue
		}
		if strings.HasPrefix(dir, "httpapi") {
			handlers[dir] = func(events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent}, nil
			}
			continue
		}
		handlers[dir] = ok
	}
	if len(cfg.WebSocketRoutes) == 0 || len(cfg.HTTPRoutes) == 0 {
		t.Fatalf("FromTemplate found %d WebSocket and %d HTTP routes", len(cfg.WebSocketRoutes), len(cfg.HTTPRoutes))
	}
	h := newHarness(t, cfg, handlers)

	c := h.dial("", nil)
	h.nextWS("connect")
	send(t, c, `{"action":"ping"}`)
	if ev := h.nextWS("ping"); ev.RequestContext.RouteKey != "ping" || ev.RequestContext.Stage != DefaultStage {
		t.Errorf("ping event: %+v", ev.RequestContext)
	}
	send(t, c, `{"action":"no-such-action"}`)
	if ev := h.nextWS("default"); ev.RequestContext.RouteKey != "$default" {
		t.Errorf("unrouted action went to %q", ev.RequestContext.RouteKey)
	}
	resp, _ := do(t, newRequest(t, "POST", h.srv.URL+"/api/auth/login", strings.NewReader(`{}`)))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("POST /api/auth/login: %d", resp.StatusCode)
	}
	h.next("httpapi")
}
