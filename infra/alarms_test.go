package infra

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/infra/permissions"
	"github.com/minichatbar/minichat/infra/templategen"
)

const alarmActions = "!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"

// Every alarm notifies the optional topic, when it fires and when it
// clears; with no topic the alarms exist without actions.
func TestEveryAlarmNotifiesTheOptionalTopic(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	p := tpl.param("AlarmTopicArn")
	if d := child(p, "Default"); d == nil || d.Value != "" {
		t.Error(`AlarmTopicArn must be optional (Default: "")`)
	}
	pattern := regexp.MustCompile(child(p, "AllowedPattern").Value)
	for v, ok := range map[string]bool{"": true, "arn:aws:sns:eu-west-1:123456789012:minichat-alerts": true, "arn:aws-cn:sns:cn-north-1:123456789012:a": true, "minichat-alerts": false, "arn:aws:sqs:eu-west-1:123456789012:q": false} {
		if pattern.MatchString(v) != ok {
			t.Errorf("AlarmTopicArn pattern on %q: %v, want %v", v, !ok, ok)
		}
	}
	if !parsesAs(t, tpl.section("Conditions", "HasAlarmTopic"), `!Not [!Equals [!Ref AlarmTopicArn, ""]]`) {
		t.Errorf("HasAlarmTopic = %s", yamlString(t, tpl.section("Conditions", "HasAlarmTopic")))
	}
	alarms := tpl.ofType("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for _, id := range alarms {
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if !parsesAs(t, tpl.field(id, "Properties", k), alarmActions) {
				t.Errorf("%s: %s %s, want %s", id, k, yamlString(t, tpl.field(id, "Properties", k)), alarmActions)
			}
		}
		if tpl.scalar(id, "Properties", "TreatMissingData") != "notBreaching" {
			t.Errorf("%s: TreatMissingData must be notBreaching (no traffic is no trouble)", id)
		}
	}
	if got := tpl.referrers("AlarmTopicArn"); len(got) != len(alarms)+1 { // and its condition
		t.Errorf("AlarmTopicArn is used by %d resources, want the %d alarms", len(got)-1, len(alarms))
	}
}

// alarmOn describes a single-metric alarm: "namespace metric dim=value...".
func (tpl *template) alarmOn(t *testing.T, id string) string {
	t.Helper()
	p := func(k string) string { return tpl.scalar(id, "Properties", k) }
	s := p("Namespace") + " " + p("MetricName")
	dims := tpl.field(id, "Properties", "Dimensions")
	if dims != nil {
		for _, d := range dims.Content {
			s += " " + child(d, "Name").Value + "=" + yamlString(t, child(d, "Value"))
		}
	}
	return s
}

// Alarms on each function's errors and throttles, the APIs' failures and
// latency, and the table's throttled requests.
func TestAlarmsCoverFunctionsAPIsAndTable(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	have := map[string]string{} // alarmOn -> id
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		have[tpl.alarmOn(t, id)] = id
	}
	for _, fn := range tpl.functions(t) {
		for id, metric := range map[string]string{templategen.ErrorsAlarmID(fn.id): "Errors", templategen.ThrottlesAlarmID(fn.id): "Throttles"} {
			if got, want := tpl.alarmOn(t, id), "AWS/Lambda "+metric+" FunctionName=!Ref "+fn.id; got != want {
				t.Errorf("%s watches %q, want %q", id, got, want)
			}
			if tpl.scalar(id, "Condition") != tpl.scalar(fn.id, "Condition") {
				t.Errorf("%s: Condition %q, want its function's", id, tpl.scalar(id, "Condition"))
			}
		}
	}
	ws, httpAPI := " ApiId=!Ref WebSocketApi Stage=!Ref StageName", " ApiId=!Ref HttpApi"
	for _, want := range []string{
		"AWS/ApiGateway ExecutionError" + ws,
		"AWS/ApiGateway IntegrationError" + ws,
		"AWS/ApiGateway IntegrationLatency" + ws,
		"AWS/ApiGateway 5xx" + httpAPI,
		"AWS/ApiGateway IntegrationLatency" + httpAPI,
	} {
		id, ok := have[want]
		if !ok {
			t.Errorf("no alarm on %s", want)
			continue
		}
		if strings.HasSuffix(want, "Latency"+ws) || strings.HasSuffix(want, "Latency"+httpAPI) {
			if tpl.scalar(id, "Properties", "ExtendedStatistic") != "p99" {
				t.Errorf("%s: a latency alarm watches the p99", id)
			}
		}
	}

	// The table: throttled requests of every operation a function may send.
	ops := map[string]bool{}
	for _, fn := range tpl.functions(t) {
		list, err := permissions.Load(functionsDir, fn.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range append(slices.Clone(list["table"]), list["index"]...) {
			ops[strings.TrimPrefix(a, "dynamodb:")] = true
		}
	}
	const table = "TableThrottlesAlarm"
	metrics := tpl.field(table, "Properties", "Metrics")
	if metrics == nil {
		t.Fatalf("no %s", table)
	}
	var ids []string
	watched := map[string]bool{}
	expr := ""
	for _, m := range metrics.Content {
		if e := child(m, "Expression"); e != nil {
			if child(m, "ReturnData").Value != "true" {
				t.Errorf("%s: the expression must be what the alarm watches", table)
			}
			expr = e.Value
			continue
		}
		ids = append(ids, child(m, "Id").Value)
		metric := child(child(m, "MetricStat"), "Metric")
		if child(metric, "Namespace").Value != "AWS/DynamoDB" || child(metric, "MetricName").Value != "ThrottledRequests" {
			t.Errorf("%s: %s is not ThrottledRequests", table, yamlString(t, metric))
		}
		for _, d := range child(metric, "Dimensions").Content {
			switch child(d, "Name").Value {
			case "TableName":
				if !parsesAs(t, child(d, "Value"), "!Ref ChatTable") {
					t.Errorf("%s: not ChatTable's metric", table)
				}
			case "Operation":
				watched[child(d, "Value").Value] = true
			}
		}
	}
	for op := range ops {
		if !watched[op] {
			t.Errorf("%s misses the throttles of %s, which a function may send", table, op)
		}
	}
	for _, id := range ids {
		if !strings.Contains(expr, id) {
			t.Errorf("%s: expression %q leaves out %s", table, expr, id)
		}
	}
}

// dashboardMetric is one chart line: "namespace metric dim=value... stat".
type dashboardMetric string

func dashboardBody(t *testing.T, tpl *template) map[string]any {
	t.Helper()
	body := tpl.field(templategen.DashboardID, "Properties", "DashboardBody")
	if tpl.typeOf(templategen.DashboardID) != "AWS::CloudWatch::Dashboard" || body == nil || body.Tag != "!Sub" {
		t.Fatalf("no AWS::CloudWatch::Dashboard %s with a !Sub body", templategen.DashboardID)
	}
	// ${Name} stands for what it will be; <Name> in the JSON.
	resolved := subVar.ReplaceAllString(body.Value, "<$1>")
	var doc map[string]any
	if err := json.Unmarshal([]byte(resolved), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	return doc
}

func dashboardContents(t *testing.T, doc map[string]any) (metrics map[dashboardMetric]bool, alarms []string) {
	metrics = map[dashboardMetric]bool{}
	widgets, _ := doc["widgets"].([]any)
	for _, w := range widgets {
		props, _ := w.(map[string]any)["properties"].(map[string]any)
		for _, a := range asSlice(props["alarms"]) {
			alarms = append(alarms, a.(string))
		}
		defStat, _ := props["stat"].(string)
		for _, line := range asSlice(props["metrics"]) {
			parts := asSlice(line)
			stat := defStat
			var words []string
			for _, p := range parts {
				switch v := p.(type) {
				case string:
					words = append(words, v)
				case map[string]any:
					if s, ok := v["stat"].(string); ok {
						stat = s
					}
				}
			}
			if len(words) < 2 {
				t.Errorf("chart line %v", parts)
				continue
			}
			s := words[0] + " " + words[1]
			for i := 2; i+1 < len(words); i += 2 {
				s += " " + words[i] + "=" + words[i+1]
			}
			metrics[dashboardMetric(s+" "+stat)] = true
		}
	}
	return metrics, alarms
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// The dashboard charts the AWS metrics the alarms watch and the metrics the
// functions publish in Embedded Metric Format (namespace minichat), and
// shows every alarm.
func TestDashboardChartsTheStackAndTheApplication(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	metrics, alarms := dashboardContents(t, dashboardBody(t, tpl))
	var want []string
	// The application's metrics, as the functions are to publish them.
	for _, k := range []string{"private", "file", "group"} {
		want = append(want, "minichat MessagesStored Kind="+k+" Sum")
	}
	for _, r := range []string{"gone", "throttled", "error"} {
		want = append(want, "minichat PushFailures Reason="+r+" Sum")
	}
	for _, m := range []string{"Deliveries", "ConnectionsGone", "RateLimited", "SeatsFull", "ConnectionsOpened", "ConnectionsClosed"} {
		want = append(want, "minichat "+m+" Sum")
	}
	want = append(want, "minichat FanoutMs p50", "minichat FanoutMs p99")
	// AWS's.
	ws, httpAPI := " ApiId=<WebSocketApi> Stage=<StageName>", " ApiId=<HttpApi>"
	for _, m := range []string{"ConnectCount", "MessageCount", "IntegrationError", "ExecutionError", "ClientError"} {
		want = append(want, "AWS/ApiGateway "+m+ws+" Sum")
	}
	for _, m := range []string{"Count", "4xx", "5xx"} {
		want = append(want, "AWS/ApiGateway "+m+httpAPI+" Sum")
	}
	for _, s := range []string{"p50", "p99"} {
		want = append(want, "AWS/ApiGateway IntegrationLatency"+ws+" "+s, "AWS/ApiGateway IntegrationLatency"+httpAPI+" "+s)
	}
	for _, op := range []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "BatchWriteItem"} {
		want = append(want, "AWS/DynamoDB ThrottledRequests TableName=<ChatTable> Operation="+op+" Sum")
	}
	for _, fn := range tpl.functions(t) {
		if tpl.scalar(fn.id, "Condition") != "" {
			continue // a !Sub cannot name it
		}
		for _, m := range []string{"Errors", "Throttles"} {
			want = append(want, fmt.Sprintf("AWS/Lambda %s FunctionName=<%s> Sum", m, fn.id))
		}
	}
	for _, w := range want {
		if !metrics[dashboardMetric(w)] {
			t.Errorf("the dashboard does not chart %s", w)
		}
	}
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		if tpl.scalar(id, "Condition") == "" && !slices.Contains(alarms, "<"+id+".Arn>") {
			t.Errorf("the dashboard's alarm widget does not show %s", id)
		}
	}
	if out := tpl.section("Outputs", "DashboardURL", "Value"); !slices.Contains(refsIn(out), templategen.DashboardID) {
		t.Errorf("output DashboardURL must link the dashboard: %s", yamlString(t, out))
	}
}
