package infra

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// The $connect authorizer exists only with RequireTokenAtConnect=true, and
// then asks for ?token=; otherwise $connect has no authorizer, and neither
// the authorizer nor its invoke permission exists.
func TestConnectAuthorizerOnlyWhenATokenIsRequired(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	const cond = "TokenRequiredAtConnect"
	if !parsesAs(t, tpl.section("Conditions", cond), `!Equals [!Ref RequireTokenAtConnect, "true"]`) {
		t.Errorf("%s = %s", cond, yamlString(t, tpl.section("Conditions", cond)))
	}
	if d := child(tpl.param("RequireTokenAtConnect"), "Default"); d == nil || d.Value != "false" {
		t.Error(`RequireTokenAtConnect must default to "false"`)
	}
	for _, id := range []string{"ConnectAuthorizer", "AuthorizerPermission"} {
		if got := tpl.scalar(id, "Condition"); got != cond {
			t.Errorf("%s: Condition %q, want %s", id, got, cond)
		}
	}
	if got := tpl.scalar("ConnectAuthorizer", "Properties", "AuthorizerType"); got != "REQUEST" {
		t.Errorf("ConnectAuthorizer: AuthorizerType %q", got)
	}
	if src := tpl.field("ConnectAuthorizer", "Properties", "IdentitySource"); !parsesAs(t, src, "[route.request.querystring.token]") {
		t.Errorf("ConnectAuthorizer: IdentitySource %s, want [route.request.querystring.token]", yamlString(t, src))
	}
	if !parsesAs(t, tpl.field("AuthorizerPermission", "Properties", "FunctionName"), "!Ref AuthorizerFunction") ||
		!slices.Contains(refsIn(tpl.field("AuthorizerPermission", "Properties", "SourceArn")), "ConnectAuthorizer") {
		t.Error("AuthorizerPermission must let API Gateway invoke AuthorizerFunction as ConnectAuthorizer only")
	}

	route := ""
	for _, id := range tpl.ofType("AWS::ApiGatewayV2::Route") {
		if tpl.scalar(id, "Properties", "RouteKey") != "$connect" {
			if got := tpl.scalar(id, "Properties", "AuthorizationType"); got != "NONE" {
				t.Errorf("%s: AuthorizationType %q: API Gateway authorizes only $connect", id, got)
			}
			continue
		}
		route = id
	}
	if !parsesAs(t, tpl.field(route, "Properties", "AuthorizationType"), "!If [TokenRequiredAtConnect, CUSTOM, NONE]") {
		t.Errorf("%s: AuthorizationType %s", route, yamlString(t, tpl.field(route, "Properties", "AuthorizationType")))
	}
	if !parsesAs(t, tpl.field(route, "Properties", "AuthorizerId"), "!If [TokenRequiredAtConnect, !Ref ConnectAuthorizer, !Ref AWS::NoValue]") {
		t.Errorf("%s: AuthorizerId %s", route, yamlString(t, tpl.field(route, "Properties", "AuthorizerId")))
	}
	// Nothing else may refer to the conditional authorizer.
	for _, id := range tpl.referrers("ConnectAuthorizer") {
		if id != route && tpl.scalar(id, "Condition") != cond {
			t.Errorf("%s refers to ConnectAuthorizer without its condition", id)
		}
	}
}

// As the local tooling reads the template (samtemplate, with parameter
// defaults): no authorizer by default, the token authorizer once the
// parameter says "true".
func TestConnectAuthorizerAsDeployedWithEitherValue(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	const def = "  RequireTokenAtConnect:\n    Type: String\n    Default: \"false\"\n"
	if !strings.Contains(string(data), def) {
		t.Fatalf("template.yaml does not declare RequireTokenAtConnect as %q", def)
	}
	for value, want := range map[string][]string{"false": nil, "true": {"route.request.querystring.token"}} {
		src := strings.Replace(string(data), def, strings.Replace(def, `"false"`, `"`+value+`"`, 1), 1)
		tpl, err := samtemplate.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		routes, err := tpl.WebSocketRoutes()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			var got []string
			if r.Authorizer != nil {
				got = r.Authorizer.IdentitySources
				if r.Authorizer.CodeURI != "functions/authorizer" {
					t.Errorf("RequireTokenAtConnect=%s: %s authorizer runs %s", value, r.RouteKey, r.Authorizer.CodeURI)
				}
			}
			if r.RouteKey != "$connect" {
				if got != nil {
					t.Errorf("RequireTokenAtConnect=%s: %s has an authorizer", value, r.RouteKey)
				}
				continue
			}
			if !slices.Equal(got, want) || (want != nil && r.Authorizer == nil) {
				t.Errorf("RequireTokenAtConnect=%s: $connect authorizer identity sources %v, want %v", value, got, want)
			}
		}
	}
}
