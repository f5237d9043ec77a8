package templategen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// DashboardID is the logical id of the stack's dashboard.
const DashboardID = "Dashboard"

// AppNamespace is the CloudWatch namespace of the metrics the functions
// publish themselves, in Embedded Metric Format.
const AppNamespace = "minichat"

// appMetric is an application metric the dashboard charts: a counter
// (summed) unless Stats says otherwise, with one line per value of its
// dimension when it has one.
type appMetric struct {
	name      string
	dimension string
	values    []string
	stats     []string
}

// The application's metrics, as the functions publish them: these exact
// names, dimensions and values (docs/deploy.md, "Metrics").
var (
	messagesStored    = appMetric{name: "MessagesStored", dimension: "Kind", values: []string{"private", "file", "group"}}
	deliveries        = appMetric{name: "Deliveries"}
	pushFailures      = appMetric{name: "PushFailures", dimension: "Reason", values: []string{"gone", "throttled", "error"}}
	connectionsGone   = appMetric{name: "ConnectionsGone"}
	rateLimited       = appMetric{name: "RateLimited"}
	seatsFull         = appMetric{name: "SeatsFull"}
	connectionsOpened = appMetric{name: "ConnectionsOpened"}
	connectionsClosed = appMetric{name: "ConnectionsClosed"}
	fanoutMs          = appMetric{name: "FanoutMs", stats: []string{"p50", "p99"}}
)

// tableOperations are the DynamoDB operations the functions send (what
// their permission lists allow; the store uses no transactions), whose
// throttles the table's alarm sums.
var tableOperations = []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "BatchWriteItem"}

// period is every widget's period, in seconds: the alarms' too.
const period = 300

type widget map[string]any

func metricWidget(title string, metrics [][]any, extra map[string]any) widget {
	props := map[string]any{
		"title":   title,
		"region":  "${AWS::Region}",
		"view":    "timeSeries",
		"stacked": false,
		"stat":    "Sum",
		"period":  period,
		"metrics": metrics,
	}
	for k, v := range extra {
		props[k] = v
	}
	return widget{"type": "metric", "properties": props}
}

// metric is one line of a metric widget.
func metric(namespace, name string, dims ...string) []any {
	out := []any{namespace, name}
	for _, d := range dims {
		out = append(out, d)
	}
	return out
}

func withStat(m []any, stat string) []any {
	return append(m, map[string]any{"stat": stat, "label": m[1].(string) + " " + stat})
}

func (a appMetric) lines() [][]any {
	var out [][]any
	switch {
	case a.dimension != "":
		for _, v := range a.values {
			m := metric(AppNamespace, a.name, a.dimension, v)
			out = append(out, append(m, map[string]any{"label": a.name + " " + v}))
		}
	case a.stats != nil:
		for _, s := range a.stats {
			out = append(out, withStat(metric(AppNamespace, a.name), s))
		}
	default:
		out = append(out, metric(AppNamespace, a.name))
	}
	return out
}

func appLines(ms ...appMetric) [][]any {
	var out [][]any
	for _, m := range ms {
		out = append(out, m.lines()...)
	}
	return out
}

// dashboard is the stack's one dashboard: its alarms, the APIs' traffic,
// errors and latency, each function's errors, throttles and duration, the
// table's throttles and capacity, and the application's own metrics.
// Functions and alarms that exist only under a condition are left out: a
// !Sub cannot name what may not exist.
func dashboard(fns []Function, handAlarms []string) ([]string, error) {
	ws := []string{"ApiId", "${WebSocketApi}", "Stage", "${StageName}"}
	httpAPI := []string{"ApiId", "${HttpApi}"}
	var always []Function
	for _, fn := range fns {
		if fn.Condition == "" {
			always = append(always, fn)
		}
	}
	perFunction := func(name string, stat string) [][]any {
		var out [][]any
		for _, fn := range always {
			m := metric("AWS/Lambda", name, "FunctionName", "${"+fn.ID+"}")
			out = append(out, append(m, map[string]any{"label": fn.Dir, "stat": stat}))
		}
		return out
	}
	var alarmARNs []string
	for _, id := range handAlarms {
		alarmARNs = append(alarmARNs, "${"+id+".Arn}")
	}
	for _, fn := range always {
		alarmARNs = append(alarmARNs, "${"+ErrorsAlarmID(fn.ID)+".Arn}", "${"+ThrottlesAlarmID(fn.ID)+".Arn}")
	}
	var throttles [][]any
	for _, op := range tableOperations {
		throttles = append(throttles, append(metric("AWS/DynamoDB", "ThrottledRequests", "TableName", "${ChatTable}", "Operation", op), map[string]any{"label": op}))
	}
	latency := func(m []any) [][]any {
		return [][]any{withStat(slices.Clone(m), "p50"), withStat(slices.Clone(m), "p99")}
	}

	rows := [][]widget{
		{{"type": "text", "properties": map[string]any{"markdown": "# minichat: ${AWS::StackName}\n" +
			"Alarms first, then the APIs, the functions, the table and the application's own metrics " +
			"(namespace `" + AppNamespace + "`, which the functions publish in Embedded Metric Format). " +
			"Logs: `/aws/lambda/<function>`, `/minichat/${AWS::StackName}/websocket-access` and `/minichat/${AWS::StackName}/http-access`."}}},
		{{"type": "alarm", "properties": map[string]any{"title": "Alarms", "alarms": alarmARNs}}},
		{
			metricWidget("WebSocket: connections and messages", [][]any{metric("AWS/ApiGateway", "ConnectCount", ws...), metric("AWS/ApiGateway", "MessageCount", ws...)}, nil),
			metricWidget("WebSocket: errors", [][]any{metric("AWS/ApiGateway", "IntegrationError", ws...), metric("AWS/ApiGateway", "ExecutionError", ws...), metric("AWS/ApiGateway", "ClientError", ws...)}, nil),
			metricWidget("WebSocket: integration latency (ms)", latency(metric("AWS/ApiGateway", "IntegrationLatency", ws...)), nil),
		},
		{
			metricWidget("HTTP API: requests", [][]any{metric("AWS/ApiGateway", "Count", httpAPI...)}, nil),
			metricWidget("HTTP API: errors", [][]any{metric("AWS/ApiGateway", "4xx", httpAPI...), metric("AWS/ApiGateway", "5xx", httpAPI...)}, nil),
			metricWidget("HTTP API: latency (ms)", append(latency(metric("AWS/ApiGateway", "IntegrationLatency", httpAPI...)), latency(metric("AWS/ApiGateway", "Latency", httpAPI...))...), nil),
		},
		{
			metricWidget("Functions: errors", perFunction("Errors", "Sum"), nil),
			metricWidget("Functions: throttles", perFunction("Throttles", "Sum"), nil),
			metricWidget("Functions: duration p99 (ms)", perFunction("Duration", "p99"), nil),
		},
		{
			metricWidget("Table: throttled requests", throttles, nil),
			metricWidget("Table: consumed capacity", [][]any{
				metric("AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", "${ChatTable}"),
				metric("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", "${ChatTable}"),
			}, nil),
		},
		{
			metricWidget("Messages stored", appLines(messagesStored), nil),
			metricWidget("Deliveries and push failures", appLines(deliveries, pushFailures, connectionsGone), nil),
			metricWidget("Connections", appLines(connectionsOpened, connectionsClosed), nil),
		},
		{
			metricWidget("Refusals: rate limited, seats full", appLines(rateLimited, seatsFull), nil),
			metricWidget("Fan-out time (ms)", appLines(fanoutMs), nil),
		},
	}
	var widgets []widget
	y := 0
	for _, row := range rows {
		w := 24 / len(row)
		h := 6
		if row[0]["type"] == "text" {
			h = 2
		}
		for i, wd := range row {
			wd["x"], wd["y"], wd["width"], wd["height"] = i*w, y, w, h
			widgets = append(widgets, wd)
		}
		y += h
	}
	body, err := formatBody(widgets)
	if err != nil {
		return nil, fmt.Errorf("templategen: dashboard: %w", err)
	}
	out := []string{
		"# The stack's dashboard, by `go generate ./infra` (infra/templategen/dashboard.go).",
		DashboardID + ":",
		"  Type: AWS::CloudWatch::Dashboard",
		"  Properties:",
		`    DashboardName: !Sub "${AWS::StackName}-${AWS::Region}"`,
		"    DashboardBody: !Sub |",
	}
	for _, l := range body {
		out = append(out, "      "+l)
	}
	return out, nil
}

// formatBody writes the dashboard's JSON a widget per line, and each line
// of a chart (or each alarm) on a line of its own: short enough to read in
// the template, and a change to one metric is a one-line diff.
func formatBody(widgets []widget) ([]string, error) {
	lines := []string{`{"widgets": [`}
	for i, w := range widgets {
		props, _ := w["properties"].(map[string]any)
		listKey := ""
		for _, k := range []string{"metrics", "alarms"} {
			if _, ok := props[k]; ok {
				listKey = k
			}
		}
		rest := map[string]any{}
		for k, v := range props {
			if k != listKey {
				rest[k] = v
			}
		}
		head, err := compact(rest)
		if err != nil {
			return nil, err
		}
		line := fmt.Sprintf(`  {"type": %q, "x": %d, "y": %d, "width": %d, "height": %d, "properties": %s`, w["type"], w["x"], w["y"], w["width"], w["height"], head)
		end := "}"
		if i < len(widgets)-1 {
			end += ","
		}
		if listKey == "" {
			lines = append(lines, line+end)
			continue
		}
		lines = append(lines, strings.TrimSuffix(line, "}")+`, "`+listKey+`": [`)
		items, _ := props[listKey].([][]any)
		var elems []any
		for _, it := range items {
			elems = append(elems, it)
		}
		if arns, ok := props[listKey].([]string); ok {
			for _, a := range arns {
				elems = append(elems, a)
			}
		}
		for j, e := range elems {
			b, err := compact(e)
			if err != nil {
				return nil, err
			}
			sep := ","
			if j == len(elems)-1 {
				sep = ""
			}
			lines = append(lines, "    "+b+sep)
		}
		lines = append(lines, "  ]}"+end)
	}
	return append(lines, "]}"), nil
}

// compact is json.Marshal without HTML escaping, with a space after
// separators.
func compact(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	var out bytes.Buffer
	inString, escaped := false, false
	for _, c := range bytes.TrimSpace(buf.Bytes()) {
		out.WriteByte(c)
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inString:
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ',' || c == ':'):
			out.WriteByte(' ')
		}
	}
	return out.String(), nil
}
