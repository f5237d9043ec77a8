package samtemplate

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

func loadFixture(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load("testdata/template.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tpl
}

func TestWebSocketAPIResolvesRoutesThroughIntrinsics(t *testing.T) {
	api, err := loadFixture(t).WebSocketAPI()
	if err != nil {
		t.Fatalf("WebSocketAPI: %v", err)
	}
	if api.LogicalID != "WebSocketApi" || api.RouteSelectionExpression != "$request.body.action" || api.StageName != "prod" {
		t.Fatalf("api = %+v", api)
	}
	want := []WSRoute{
		{RouteKey: "$connect", FunctionLogicalID: "ConnectFunction", CodeURI: "functions/connect", Authorizer: &Authorizer{
			LogicalID: "ConnectAuthorizer", Name: "connect-auth", FunctionLogicalID: "AuthFunction",
			CodeURI: "functions/authorizer", IdentitySources: []string{"route.request.querystring.token"},
		}},
		// Target and IntegrationUri via !Join with nested !Ref and !GetAtt.
		{RouteKey: "$default", FunctionLogicalID: "DefaultFunction", CodeURI: "functions/default"},
		// IntegrationUri via the list form of !Sub with a variable map.
		{RouteKey: "send-message", FunctionLogicalID: "SendFunction", CodeURI: "functions/send"},
	}
	if !reflect.DeepEqual(api.Routes, want) {
		t.Fatalf("routes:\n got %+v\nwant %+v", api.Routes, want)
	}
	routes, err := loadFixture(t).WebSocketRoutes()
	if err != nil || !reflect.DeepEqual(routes, want) {
		t.Fatalf("WebSocketRoutes = %+v, %v", routes, err)
	}
}

func TestHTTPRoutes(t *testing.T) {
	routes, err := loadFixture(t).HTTPRoutes()
	if err != nil {
		t.Fatalf("HTTPRoutes: %v", err)
	}
	want := []HTTPRoute{
		{Method: "GET", Path: "/api/conversations/{peerId}/messages", FunctionLogicalID: "HttpFunction", CodeURI: "functions/httpapi"},
		{Method: "POST", Path: "/api/conversations/{peerId}/messages", FunctionLogicalID: "HttpFunction", CodeURI: "functions/httpapi"},
		{Method: "ANY", Path: "/api/files/{proxy+}", FunctionLogicalID: "HttpFunction", CodeURI: "functions/httpapi"},
	}
	if !reflect.DeepEqual(routes, want) {
		t.Fatalf("routes:\n got %+v\nwant %+v", routes, want)
	}
	if got := routes[1].RouteKey(); got != "POST /api/conversations/{peerId}/messages" {
		t.Fatalf("RouteKey = %q", got)
	}
}

func TestTablesAndBuckets(t *testing.T) {
	tpl := loadFixture(t)
	tables := tpl.Tables()
	want := []Table{{
		LogicalID:   "ChatTable",
		Name:        "fixture-chat",
		BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{
			{AttributeName: "pk", AttributeType: "S"},
			{AttributeName: "sk", AttributeType: "S"},
			{AttributeName: "gsi1pk", AttributeType: "S"},
		},
		KeySchema: []KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		GlobalSecondaryIndexes: []SecondaryIndex{{
			IndexName:        "gsi1",
			KeySchema:        []KeyElement{{AttributeName: "gsi1pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
			ProjectionType:   "INCLUDE",
			NonKeyAttributes: []string{"body"},
		}},
		TTLAttribute: "expiresAt",
	}}
	if !reflect.DeepEqual(tables, want) {
		t.Fatalf("tables:\n got %+v\nwant %+v", tables, want)
	}
	buckets := tpl.Buckets()
	wantBuckets := []Bucket{
		// BucketName is a !Sub of the stack name: only known once deployed.
		{LogicalID: "ConditionalBucket", Name: "fixture-prod"},
		{LogicalID: "FilesBucket", CORSRules: []CORSRule{{
			AllowedHeaders: []string{"*"}, AllowedMethods: []string{"GET", "POST"},
			AllowedOrigins: []string{"*"}, MaxAgeSeconds: 300,
		}}},
		{LogicalID: "PlainBucket", Name: "fixture-plain"},
		// SiteBucket is cloud-only; of SplitBucket's rules only the one whose
		// origins are known before deployment remains.
		{LogicalID: "SplitBucket", Name: "fixture-split", CORSRules: []CORSRule{{
			AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"https://a.example", "https://b.example"},
		}}},
	}
	if !reflect.DeepEqual(buckets, wantBuckets) {
		t.Fatalf("buckets:\n got %+v\nwant %+v", buckets, wantBuckets)
	}
}

func TestFunctions(t *testing.T) {
	fns, err := loadFixture(t).Functions()
	if err != nil {
		t.Fatalf("Functions: %v", err)
	}
	got := map[string]string{}
	for _, f := range fns {
		got[f.LogicalID] = f.CodeURI
	}
	// SiteFunction is cloud-only.
	want := map[string]string{
		"AuthFunction": "functions/authorizer", "ConnectFunction": "functions/connect",
		"DefaultFunction": "functions/default", "SendFunction": "functions/send", "HttpFunction": "functions/httpapi",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("functions = %v", got)
	}
}

func TestNormaliseCodeURI(t *testing.T) {
	for in, want := range map[string]string{
		"functions/connect/":   "functions/connect",
		"./functions/connect":  "functions/connect",
		" functions//connect ": "functions/connect",
		"functions/connect":    "functions/connect",
	} {
		if got := NormaliseCodeURI(in); got != want {
			t.Errorf("NormaliseCodeURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnresolvedReferences(t *testing.T) {
	const head = `
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: x, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/fn/, Runtime: provided.al2023, Handler: bootstrap}
`
	cases := map[string]string{
		"target is not an integration": head + `
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Fn}"}
`,
		"integration invokes no function": head + `
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${Integ}"}
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: AWS_PROXY, IntegrationUri: "arn:aws:lambda:us-east-1:1:function:elsewhere"}
`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			tpl, err := Parse([]byte(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if _, err := tpl.WebSocketRoutes(); !errors.Is(err, ErrUnresolved) {
				t.Fatalf("WebSocketRoutes error = %v, want ErrUnresolved", err)
			}
		})
	}
	tpl, err := Parse([]byte("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn/}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := tpl.WebSocketAPI(); !errors.Is(err, ErrNoWebSocketAPI) {
		t.Fatalf("WebSocketAPI error = %v, want ErrNoWebSocketAPI", err)
	}
}

func TestLiteralIsNotMistakenForIntrinsic(t *testing.T) {
	// Valid base64 that does not decode to an intrinsic stays a literal.
	for _, s := range []string{"abcd", "functions", "dGVzdA==", "e30="} {
		if decodeIntrinsic(s) != nil {
			t.Errorf("decodeIntrinsic(%q) took a literal for an intrinsic", s)
		}
	}
}

// The project's own template: every WebSocket route the wire protocol needs
// must resolve to a function directory that exists in the repository.
func TestProjectTemplate(t *testing.T) {
	root := filepath.Join("..", "..")
	tpl, err := Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatalf("the project's template.yaml must exist at the repository root and parse: %v", err)
	}
	api, err := tpl.WebSocketAPI()
	if err != nil {
		t.Fatalf("WebSocketAPI: %v", err)
	}
	if api.RouteSelectionExpression != "$request.body.action" || api.StageName == "" {
		t.Errorf("RouteSelectionExpression = %q, StageName = %q", api.RouteSelectionExpression, api.StageName)
	}
	var keys []string
	for _, r := range api.Routes {
		keys = append(keys, r.RouteKey)
		if fi, err := os.Stat(filepath.Join(root, r.CodeURI)); err != nil || !fi.IsDir() {
			t.Errorf("route %s: CodeUri %q is not a directory of the repository", r.RouteKey, r.CodeURI)
		}
	}
	want := []string{"$connect", "$default", "$disconnect", "avatar-updated", "group-message", "joinroom",
		"leaveroom", "login", "message-deleted", "ping", "private-file-message", "private-message",
		"read", "subscribe-presence", "typing", "unsubscribe-presence"}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("route keys:\n got %v\nwant %v", keys, want)
	}
	httpRoutes, err := tpl.HTTPRoutes()
	if err != nil {
		t.Fatalf("HTTPRoutes: %v", err)
	}
	if len(httpRoutes) == 0 {
		t.Error("the template declares no HttpApi route")
	}
	for _, r := range httpRoutes {
		if fi, err := os.Stat(filepath.Join(root, r.CodeURI)); err != nil || !fi.IsDir() {
			t.Errorf("HTTP route %s: CodeUri %q is not a directory of the repository", r.RouteKey(), r.CodeURI)
		}
	}
	if len(tpl.Tables()) == 0 {
		t.Error("the template declares no DynamoDB table")
	}
}
