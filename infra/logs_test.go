package infra

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/templategen"
)

// cloudWatchRetentions are the retention periods CloudWatch Logs accepts
// (PutRetentionPolicy).
var cloudWatchRetentions = []string{"1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"}

// Every function logs to a group of the stack, /aws/lambda/<function name>
// (where Lambda writes unless told otherwise), kept LogRetentionDays; so
// are the APIs' access logs.
func TestEveryFunctionLogsToAGroupWithRetention(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	p := tpl.param("LogRetentionDays")
	if typ := child(p, "Type"); typ == nil || typ.Value != "Number" {
		t.Error("LogRetentionDays must be a Number")
	}
	if d := child(p, "Default"); d == nil || d.Value != "30" {
		t.Error("LogRetentionDays must default to 30")
	}
	var allowed []string
	for _, v := range child(p, "AllowedValues").Content {
		allowed = append(allowed, v.Value)
	}
	if !slices.Equal(allowed, cloudWatchRetentions) {
		t.Errorf("LogRetentionDays AllowedValues %v, want CloudWatch's %v", allowed, cloudWatchRetentions)
	}

	for _, fn := range tpl.functions(t) {
		lg := templategen.LogGroupID(fn.id)
		if tpl.typeOf(lg) != "AWS::Logs::LogGroup" {
			t.Errorf("%s has no log group %s", fn.id, lg)
			continue
		}
		if !parsesAs(t, tpl.field(lg, "Properties", "LogGroupName"), `!Sub "/aws/lambda/${`+fn.id+`}"`) {
			t.Errorf("%s: LogGroupName %s is not where %s logs", lg, yamlString(t, tpl.field(lg, "Properties", "LogGroupName")), fn.id)
		}
		if got, want := tpl.scalar(lg, "Condition"), tpl.scalar(fn.id, "Condition"); got != want {
			t.Errorf("%s: Condition %q, want its function's %q", lg, got, want)
		}
		if tpl.field(fn.id, "Properties", "LoggingConfig", "LogGroup") != nil {
			t.Errorf("%s: LoggingConfig.LogGroup sends its logs past %s", fn.id, lg)
		}
	}
	if tpl.global(t, "Function", "LoggingConfig", "LogGroup") != nil {
		t.Error("Globals: LoggingConfig.LogGroup sends every function's logs to one group")
	}
	for _, id := range tpl.ofType("AWS::Logs::LogGroup") {
		if !parsesAs(t, tpl.field(id, "Properties", "RetentionInDays"), "!Ref LogRetentionDays") {
			t.Errorf("%s: RetentionInDays %s, want !Ref LogRetentionDays", id, yamlString(t, tpl.field(id, "Properties", "RetentionInDays")))
		}
	}
	// The custom resource's function runs during the deployment itself.
	if deps := tpl.field("WebClientContent", "DependsOn"); deps == nil || !slices.Contains(scalarList(deps), templategen.LogGroupID("WebClientFunction")) {
		t.Errorf("WebClientContent must depend on %s, or its first invocation creates the group without retention", templategen.LogGroupID("WebClientFunction"))
	}
}

func scalarList(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

// Both stages write JSON access logs, each to its own group; the WebSocket
// stage after the account's CloudWatch role exists when the stack sets it.
func TestAccessLogsAreJSONInTheirOwnGroups(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	for _, c := range []struct{ id, group string }{
		{"WebSocketStage", "WebSocketAccessLogGroup"},
		{"HttpApi", "HttpApiAccessLogGroup"},
	} {
		s := tpl.field(c.id, "Properties", "AccessLogSettings")
		if !parsesAs(t, child(s, "DestinationArn"), "!GetAtt "+c.group+".Arn") {
			t.Errorf("%s: access logs go to %s, want %s", c.id, yamlString(t, child(s, "DestinationArn")), c.group)
		}
		if tpl.typeOf(c.group) != "AWS::Logs::LogGroup" {
			t.Errorf("%s is not a log group", c.group)
		}
		format := child(s, "Format")
		var fields map[string]string
		if format == nil || json.Unmarshal([]byte(format.Value), &fields) != nil {
			t.Errorf("%s: access log Format is not a JSON object: %s", c.id, yamlString(t, format))
			continue
		}
		if fields["requestId"] != "$context.requestId" || fields["status"] != "$context.status" || fields["routeKey"] != "$context.routeKey" {
			t.Errorf("%s: access log fields %v lack requestId, status or routeKey", c.id, fields)
		}
		for k, v := range fields {
			if strings.Contains(strings.ToLower(v), "querystring") || strings.Contains(strings.ToLower(v), "header") || strings.Contains(v, "authorizer.principalId") {
				t.Errorf("%s: access log field %s=%s may log a token", c.id, k, v)
			}
		}
	}
	if a, b := tpl.field("WebSocketAccessLogGroup", "Properties", "LogGroupName"), tpl.field("HttpApiAccessLogGroup", "Properties", "LogGroupName"); sameNode(a, b) {
		t.Error("both APIs log to the same group")
	}

	const cond = "CreatesApiGatewayAccountRole"
	if !parsesAs(t, tpl.section("Conditions", cond), `!Equals [!Ref CreateApiGatewayAccountRole, "true"]`) {
		t.Errorf("%s = %s", cond, yamlString(t, tpl.section("Conditions", cond)))
	}
	if d := child(tpl.param("CreateApiGatewayAccountRole"), "Default"); d == nil || d.Value != "true" {
		t.Error(`CreateApiGatewayAccountRole must default to "true"`)
	}
	for _, id := range []string{"ApiGatewayAccount", "ApiGatewayCloudWatchRole"} {
		if tpl.scalar(id, "Condition") != cond {
			t.Errorf("%s: Condition %q, want %s", id, tpl.scalar(id, "Condition"), cond)
		}
		if tpl.scalar(id, "DeletionPolicy") != "Retain" {
			t.Errorf("%s: DeletionPolicy must be Retain: the region's other APIs log through it", id)
		}
	}
	if tpl.typeOf("ApiGatewayAccount") != "AWS::ApiGateway::Account" || !parsesAs(t, tpl.field("ApiGatewayAccount", "Properties", "CloudWatchRoleArn"), "!GetAtt ApiGatewayCloudWatchRole.Arn") {
		t.Error("ApiGatewayAccount must set ApiGatewayCloudWatchRole as the account's CloudWatch role")
	}
	role := "ApiGatewayCloudWatchRole"
	trust := tpl.field(role, "Properties", "AssumeRolePolicyDocument", "Statement")
	if trust == nil || len(trust.Content) != 1 || !parsesAs(t, child(trust.Content[0], "Principal"), "{Service: apigateway.amazonaws.com}") {
		t.Errorf("%s must be assumable by API Gateway only: %s", role, yamlString(t, trust))
	}
	if !parsesAs(t, tpl.field(role, "Properties", "ManagedPolicyArns"), `[!Sub "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]`) {
		t.Errorf("%s: ManagedPolicyArns %s", role, yamlString(t, tpl.field(role, "Properties", "ManagedPolicyArns")))
	}
	// The stage refers to the account setting, under the same condition, so
	// that CloudFormation creates it first.
	desc := tpl.field("WebSocketStage", "Properties", "Description")
	if desc == nil || desc.Tag != "!If" || desc.Content[0].Value != cond || !slices.Contains(refsIn(desc.Content[1]), "ApiGatewayAccount") {
		t.Errorf("WebSocketStage must be ordered after ApiGatewayAccount when the stack creates it: %s", yamlString(t, desc))
	}
}
