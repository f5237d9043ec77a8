package localgw

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// lambdaFixture reads a JSON fixture of aws-lambda-go's events/testdata from
// the module cache, at the version this module requires.
func lambdaFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go (run `go mod download`): %v", err)
	}
	dir := strings.TrimSpace(string(out))
	data, err := os.ReadFile(filepath.Join(dir, "events", "testdata", name))
	if err != nil {
		t.Fatalf("read fixture (run `go mod download github.com/aws/aws-lambda-go`): %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("parse fixture %s: %v", name, err)
	}
	return m
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func missing(want, got []string, except map[string]bool) []string {
	have := map[string]bool{}
	for _, k := range got {
		have[k] = true
	}
	var out []string
	for _, k := range want {
		if !have[k] && !except[k] {
			out = append(out, k)
		}
	}
	return out
}

// restOnly are fields of aws-lambda-go's apigw-websocket-request.json that
// belong to REST API proxy events (the fixture mixes both); API Gateway does
// not send them for WebSocket APIs.
var restOnly = map[string]bool{
	"resource": true, "path": true, "httpMethod": true, "pathParameters": true, "stageVariables": true,
	"body": true, "accountId": true, "resourceId": true, "resourcePath": true, "error": true,
	"integrationLatency": true, "status": true, "authorizer": true,
}

// The gateway's events have the shape of API Gateway's, as recorded in
// aws-lambda-go's fixtures.
func TestEventsMatchLambdaFixtures(t *testing.T) {
	h := newHarness(t, Config{WebSocketRoutes: []samtemplate.WSRoute{
		wsRoute("$connect", "connect"), wsRoute("$disconnect", "disconnect"), wsRoute("$default", "default"),
	}, Stage: "prod", DomainName: "abc123.execute-api.us-east-1.amazonaws.com"}, map[string]any{
		"connect": accept, "disconnect": ok, "default": ok,
	})
	c := h.dial("name=me&name=you", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"fixture-test"}, "X-Multi": {"a", "b"}}})
	send(t, c, `{"a": 1}`)
	connect, message := h.next("connect"), h.next("default")
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	disconnect := h.next("disconnect")

	decode := func(p []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("event is not JSON: %v", err)
		}
		return m
	}
	got := map[string]map[string]any{"connect": decode(connect), "message": decode(message), "disconnect": decode(disconnect)}
	fixtures := map[string]map[string]any{
		"connect":    lambdaFixture(t, "apigw-websocket-request.json"),
		"message":    lambdaFixture(t, "apigw-websocket-request-send-message.json"),
		"disconnect": lambdaFixture(t, "apigw-websocket-request-disconnect.json"),
	}
	for name, fx := range fixtures {
		ev := got[name]
		if m := missing(keys(fx), keys(ev), restOnly); len(m) > 0 {
			t.Errorf("%s event lacks top-level fields %v of the fixture", name, m)
		}
		if m := missing(keys(fx["requestContext"]), keys(ev["requestContext"]), restOnly); len(m) > 0 {
			t.Errorf("%s event lacks requestContext fields %v of the fixture", name, m)
		}
		fxID := fx["requestContext"].(map[string]any)["identity"]
		evID := ev["requestContext"].(map[string]any)["identity"]
		if m := missing([]string{"sourceIp", "userAgent"}, keys(evID), nil); len(m) > 0 || len(keys(fxID)) == 0 {
			t.Errorf("%s event identity lacks %v", name, m)
		}
	}
	// The real WebSocket fixtures (message, disconnect) have exactly the
	// requestContext API Gateway sends: no REST leftovers either.
	for _, name := range []string{"message", "disconnect"} {
		want, have := keys(fixtures[name]["requestContext"]), keys(got[name]["requestContext"])
		if strings.Join(want, ",") != strings.Join(have, ",") {
			t.Errorf("%s requestContext fields:\n got %v\nwant %v", name, have, want)
		}
	}

	rc := func(name string) map[string]any { return got[name]["requestContext"].(map[string]any) }
	for name, want := range map[string][2]string{
		"connect": {"$connect", "CONNECT"}, "message": {"$default", "MESSAGE"}, "disconnect": {"$disconnect", "DISCONNECT"},
	} {
		r := rc(name)
		if r["routeKey"] != want[0] || r["eventType"] != want[1] || r["messageDirection"] != "IN" || r["stage"] != "prod" ||
			r["domainName"] != "abc123.execute-api.us-east-1.amazonaws.com" || r["apiId"] != DefaultAPIID {
			t.Errorf("%s requestContext = %v", name, r)
		}
		if r["connectionId"] != rc("connect")["connectionId"] || r["connectedAt"] != rc("connect")["connectedAt"] {
			t.Errorf("%s: connectionId/connectedAt differ from $connect's", name)
		}
		if got[name]["isBase64Encoded"] != false {
			t.Errorf("%s: isBase64Encoded = %v", name, got[name]["isBase64Encoded"])
		}
	}
	id, _ := rc("connect")["connectionId"].(string)
	if len(id) != 16 || !strings.HasSuffix(id, "=") {
		t.Errorf("connectionId %q is not shaped like API Gateway's", id)
	}
	if rc("connect")["requestId"] == rc("message")["requestId"] {
		t.Error("two events share a requestId")
	}
	if _, ok := rc("connect")["messageId"]; ok {
		t.Error("$connect event has a messageId")
	}
	if got["message"]["body"] != `{"a": 1}` {
		t.Errorf("message body = %v", got["message"]["body"])
	}
	if rc("disconnect")["disconnectStatusCode"] != float64(1000) || rc("disconnect")["disconnectReason"] != "bye" {
		t.Errorf("disconnect status = %v %v", rc("disconnect")["disconnectStatusCode"], rc("disconnect")["disconnectReason"])
	}
	q, _ := got["connect"]["multiValueQueryStringParameters"].(map[string]any)
	if qs, _ := got["connect"]["queryStringParameters"].(map[string]any); qs["name"] != "you" || len(q["name"].([]any)) != 2 {
		t.Errorf("query = %v / %v", got["connect"]["queryStringParameters"], q)
	}
	hdr, _ := got["connect"]["headers"].(map[string]any)
	mhdr, _ := got["connect"]["multiValueHeaders"].(map[string]any)
	if hdr["User-Agent"] != "fixture-test" || len(mhdr["X-Multi"].([]any)) != 2 || hdr["Sec-WebSocket-Key"] == nil {
		t.Errorf("headers = %v", hdr)
	}
}
