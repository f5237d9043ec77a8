package infra

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/pkg/testenv"
)

const (
	repoRoot     = ".."
	templatePath = repoRoot + "/template.yaml"
	functionsDir = repoRoot + "/functions"
)

// wantWebSocketRoutes are the route keys of the wire protocol (PROTOCOL.md) that
// need a route of their own; other actions reach $default.
var wantWebSocketRoutes = []string{
	"$connect", "$disconnect", "$default", "login", "ping", "private-message",
	"private-file-message", "message-deleted", "avatar-updated", "joinroom", "leaveroom", "group-message",
	// protocol v1.1
	"typing", "read", "subscribe-presence", "unsubscribe-presence",
}

// wantHTTPRoutes are the HTTP API routes of the wire protocol.
var wantHTTPRoutes = []string{
	"POST /api/auth/register",
	"POST /api/auth/login",
	"GET /api/conversations",
	"GET /api/conversations/{peerId}/messages",
	"POST /api/conversations/{peerId}/messages",
	"DELETE /api/messages/{messageId}",
	"GET /api/users",
	"PUT /api/users/me/avatar",
	"GET /api/rooms/{room}",
	"POST /api/files",
	// protocol v1.1
	"GET /api/rooms/{room}/messages",
	"GET /api/users/{userId}/avatar",
}

func TestTemplatePassesCfnLint(t *testing.T) {
	t.Parallel()
	lint := requireTool(t, "cfn-lint", "pip install cfn-lint==1.51.0")
	// A bound so that a wedged linter stops the test instead of the whole suite.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, lint, templatePath).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}

func TestEveryFunctionHasABuildableDirectory(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	fns := tpl.functions(t)
	if len(fns) == 0 {
		t.Fatal("template declares no AWS::Serverless::Function")
	}
	for _, fn := range fns {
		if m := tpl.field(fn.id, "Metadata", "BuildMethod"); m == nil || m.Value != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod must be makefile so that sam build runs functions/%s/Makefile", fn.id, fn.dir)
		}
		for _, name := range []string{"main.go", "Makefile"} {
			p := filepath.Join(functionsDir, fn.dir, name)
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: CodeUri functions/%s/ lacks %s: %v", fn.id, fn.dir, name, err)
			}
		}
	}
}

func TestEveryFunctionDirectoryIsInTheTemplate(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	used := map[string]string{}
	for _, fn := range tpl.functions(t) {
		if other, ok := used[fn.dir]; ok {
			t.Errorf("functions/%s/ is the CodeUri of both %s and %s", fn.dir, other, fn.id)
		}
		used[fn.dir] = fn.id
	}
	entries, err := os.ReadDir(functionsDir)
	if err != nil {
		t.Fatalf("read %s: %v", functionsDir, err)
	}
	for _, e := range entries {
		if e.IsDir() && used[e.Name()] == "" {
			t.Errorf("functions/%s/ is served by no function of template.yaml (orphan directory)", e.Name())
		}
	}
}

func TestEveryWebSocketRouteReachesOneFunction(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	dirs := map[string]string{}
	for _, fn := range tpl.functions(t) {
		dirs[fn.id] = fn.dir
	}
	served := map[string]bool{}
	var keys []string
	for _, route := range tpl.ofType("AWS::ApiGatewayV2::Route") {
		key := tpl.scalar(route, "Properties", "RouteKey")
		if slices.Contains(keys, key) {
			t.Errorf("route key %q is declared twice", key)
		}
		keys = append(keys, key)

		integration := subRef(t, tpl.field(route, "Properties", "Target"), `^integrations/\$\{(\w+)\}$`)
		if tpl.typeOf(integration) != "AWS::ApiGatewayV2::Integration" {
			t.Errorf("%s (%s): target %q is not an AWS::ApiGatewayV2::Integration", route, key, integration)
			continue
		}
		if got := tpl.scalar(integration, "Properties", "IntegrationType"); got != "AWS_PROXY" {
			t.Errorf("%s: IntegrationType %q, want AWS_PROXY", integration, got)
		}
		fn := subRef(t, tpl.field(integration, "Properties", "IntegrationUri"), `/functions/\$\{(\w+)\.Arn\}/invocations$`)
		if dirs[fn] == "" {
			t.Errorf("%s (%s): integration %s invokes %q, not a serverless function", route, key, integration, fn)
			continue
		}
		if !tpl.hasInvokePermission(fn, key) {
			t.Errorf("%s (%s): no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke %s from this route", route, key, fn)
		}
		served[fn] = true
		t.Logf("route %-16s -> %s -> functions/%s/", key, fn, dirs[fn])
	}
	for _, want := range wantWebSocketRoutes {
		if !slices.Contains(keys, want) {
			t.Errorf("no WebSocket route %q", want)
		}
	}
	for _, r := range tpl.httpRoutes(t) {
		served[r.function] = true
	}
	for _, a := range tpl.ofType("AWS::ApiGatewayV2::Authorizer") {
		fn := subRef(t, tpl.field(a, "Properties", "AuthorizerUri"), `/functions/\$\{(\w+)\.Arn\}/invocations$`)
		if dirs[fn] == "" {
			t.Errorf("%s invokes %q, not a serverless function", a, fn)
			continue
		}
		served[fn] = true
		t.Logf("authorizer %s -> %s -> functions/%s/", a, fn, dirs[fn])
	}
	// A custom resource's function serves CloudFormation, at deploy time.
	for _, id := range tpl.ids {
		if !strings.HasPrefix(tpl.typeOf(id), "Custom::") && tpl.typeOf(id) != "AWS::CloudFormation::CustomResource" {
			continue
		}
		token := tpl.field(id, "Properties", "ServiceToken")
		if token == nil || token.Tag != "!GetAtt" || dirs[strings.TrimSuffix(token.Value, ".Arn")] == "" {
			t.Errorf("%s: ServiceToken must be !GetAtt <Function>.Arn of a serverless function", id)
			continue
		}
		fn := strings.TrimSuffix(token.Value, ".Arn")
		served[fn] = true
		t.Logf("custom resource %s -> %s -> functions/%s/", id, fn, dirs[fn])
	}
	for id, dir := range dirs {
		if !served[id] {
			t.Errorf("%s (functions/%s/) serves no WebSocket route, authorizer, HTTP API event or custom resource", id, dir)
		}
	}
}

// The stage is created after every route (AutoDeploy deploys what exists
// then), so DependsOn lists them all.
func TestWebSocketStageWaitsForEveryRoute(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	deps := tpl.field("WebSocketStage", "DependsOn")
	if deps == nil {
		t.Fatal("WebSocketStage has no DependsOn")
	}
	var got []string
	for _, d := range deps.Content {
		got = append(got, d.Value)
	}
	for _, r := range tpl.ofType("AWS::ApiGatewayV2::Route") {
		if !slices.Contains(got, r) {
			t.Errorf("WebSocketStage does not depend on %s (%s)", r, tpl.scalar(r, "Properties", "RouteKey"))
		}
	}
}

func TestHTTPAPIServesTheProtocolRoutes(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	got := map[string]bool{}
	for _, r := range tpl.httpRoutes(t) {
		if got[r.key] {
			t.Errorf("HTTP route %q is declared twice", r.key)
		}
		got[r.key] = true
	}
	for _, want := range wantHTTPRoutes {
		if !got[want] {
			t.Errorf("no HttpApi event for %q", want)
		}
	}
}

// sam build copies CodeUri to a scratch directory and runs
// `make --makefile <CodeUri>/Makefile build-<LogicalId>` there with
// ARTIFACTS_DIR set; this replays that call (with -n, which still runs the
// recursive make) and checks it compiles the function's own directory.
func TestSAMBuildCompilesEachFunctionDirectory(t *testing.T) {
	t.Parallel()
	mk := requireTool(t, "make", "apt-get install make")
	tpl := loadTemplate(t)
	for _, fn := range tpl.functions(t) {
		src, err := filepath.Abs(filepath.Join(functionsDir, fn.dir))
		if err != nil {
			t.Fatal(err)
		}
		scratch := t.TempDir()
		if err := os.CopyFS(scratch, os.DirFS(src)); err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
		artifacts := filepath.Join(t.TempDir(), fn.id)
		cmd := exec.Command(mk, "-n", "--makefile", filepath.Join(src, "Makefile"), "build-"+fn.id)
		cmd.Dir = scratch
		cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts, "MAKEFLAGS=", "MAKELEVEL=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: make build-%s: %v\n%s", fn.id, fn.id, err, out)
			continue
		}
		want := `-o "` + artifacts + `/bootstrap" ./functions/` + fn.dir + "\n"
		if !strings.Contains(string(out), want) {
			t.Errorf("%s: make build-%s does not build functions/%s into $ARTIFACTS_DIR/bootstrap; it runs:\n%s", fn.id, fn.id, fn.dir, out)
		}
	}
}

// requireTool returns the path of a command the test cannot do without; a
// missing one fails the tier with its install hint (SKIP=cfnlint skips it).
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	return testenv.Tool(t, testenv.TierCfnLint, name, install)
}

// template is template.yaml as YAML nodes, so that short-form intrinsics
// (!Ref, !Sub, !GetAtt) survive as tags instead of failing to decode.
type template struct {
	root      *yaml.Node
	resources map[string]*yaml.Node
	ids       []string
}

type function struct {
	id, dir string
}

type httpRoute struct {
	key      string // "METHOD /path"
	function string
}

func loadTemplate(t *testing.T) *template {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", templatePath, err)
	}
	if len(doc.Content) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", templatePath, len(doc.Content))
	}
	res := child(doc.Content[0], "Resources")
	if res == nil || res.Kind != yaml.MappingNode {
		t.Fatalf("%s: no Resources mapping", templatePath)
	}
	tpl := &template{root: doc.Content[0], resources: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id := res.Content[i].Value
		tpl.resources[id] = res.Content[i+1]
		tpl.ids = append(tpl.ids, id)
	}
	return tpl
}

func (tpl *template) typeOf(id string) string { return tpl.scalar(id, "Type") }

// section returns the node at path under a top-level section (Parameters,
// Conditions, Globals, Outputs), nil if any step is missing.
func (tpl *template) section(name string, path ...string) *yaml.Node {
	n := child(tpl.root, name)
	for _, k := range path {
		if n = child(n, k); n == nil {
			return nil
		}
	}
	return n
}

// global returns the node at path under Globals.
func (tpl *template) global(t *testing.T, path ...string) *yaml.Node {
	t.Helper()
	return tpl.section("Globals", path...)
}

func (tpl *template) ofType(typ string) []string {
	var ids []string
	for _, id := range tpl.ids {
		if tpl.typeOf(id) == typ {
			ids = append(ids, id)
		}
	}
	return ids
}

// field returns the node at path under resource id, nil if any step is missing.
func (tpl *template) field(id string, path ...string) *yaml.Node {
	n := tpl.resources[id]
	for _, k := range path {
		if n = child(n, k); n == nil {
			return nil
		}
	}
	return n
}

// scalar returns the plain string at path, "" if missing or not a literal.
func (tpl *template) scalar(id string, path ...string) string {
	n := tpl.field(id, path...)
	if n == nil || n.Kind != yaml.ScalarNode || (strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")) {
		return ""
	}
	return n.Value
}

var codeURIPattern = regexp.MustCompile(`^functions/([^/]+)/?$`)

func (tpl *template) functions(t *testing.T) []function {
	t.Helper()
	var fns []function
	for _, id := range tpl.ofType("AWS::Serverless::Function") {
		uri := tpl.scalar(id, "Properties", "CodeUri")
		m := codeURIPattern.FindStringSubmatch(uri)
		if m == nil {
			t.Errorf("%s: CodeUri %q is not functions/<dir>/", id, uri)
			continue
		}
		fns = append(fns, function{id: id, dir: m[1]})
	}
	return fns
}

func (tpl *template) httpRoutes(t *testing.T) []httpRoute {
	t.Helper()
	var routes []httpRoute
	for _, id := range tpl.ofType("AWS::Serverless::Function") {
		events := tpl.field(id, "Properties", "Events")
		if events == nil {
			continue
		}
		for i := 0; i+1 < len(events.Content); i += 2 {
			name, ev := events.Content[i].Value, events.Content[i+1]
			if typ := child(ev, "Type"); typ == nil || typ.Value != "HttpApi" {
				continue
			}
			props := child(ev, "Properties")
			method, path := child(props, "Method"), child(props, "Path")
			if method == nil || path == nil {
				t.Errorf("%s: HttpApi event %s needs Method and Path", id, name)
				continue
			}
			routes = append(routes, httpRoute{key: strings.ToUpper(method.Value) + " " + path.Value, function: id})
		}
	}
	return routes
}

// hasInvokePermission reports whether a Lambda permission lets API Gateway
// invoke fn through the route key (or through every route, "/*").
func (tpl *template) hasInvokePermission(fn, routeKey string) bool {
	for _, p := range tpl.ofType("AWS::Lambda::Permission") {
		target, ok := intrinsicArg(tpl.field(p, "Properties", "FunctionName"), "Ref")
		if !ok || target.Value != fn || tpl.scalar(p, "Properties", "Principal") != "apigateway.amazonaws.com" {
			continue
		}
		arn, ok := intrinsicArg(tpl.field(p, "Properties", "SourceArn"), "Fn::Sub")
		if ok && arn.Kind == yaml.ScalarNode && strings.Contains(arn.Value, "${WebSocketApi}/") &&
			(strings.HasSuffix(arn.Value, "/*/"+routeKey) || strings.HasSuffix(arn.Value, "/*")) {
			return true
		}
	}
	return false
}

// subRef matches a !Sub string against pattern and returns its first group.
func subRef(t *testing.T, n *yaml.Node, pattern string) string {
	t.Helper()
	arg, ok := intrinsicArg(n, "Fn::Sub")
	if !ok || arg.Kind != yaml.ScalarNode {
		t.Errorf("line %d: want a !Sub string matching %s", line(n), pattern)
		return ""
	}
	m := regexp.MustCompile(pattern).FindStringSubmatch(arg.Value)
	if m == nil {
		t.Errorf("line %d: !Sub %q does not match %s", line(n), arg.Value, pattern)
		return ""
	}
	return m[1]
}

// intrinsicArg returns the argument of intrinsic name ("Ref", "Fn::Sub", ...)
// written either in short form (!Sub x) or long form ({"Fn::Sub": x}).
func intrinsicArg(n *yaml.Node, name string) (*yaml.Node, bool) {
	if n == nil {
		return nil, false
	}
	short := "!" + strings.TrimPrefix(name, "Fn::")
	if n.Tag == short {
		return n, true
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == name {
		return n.Content[1], true
	}
	return nil, false
}

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}
