package templategen

import "fmt"

// ErrorsAlarmID and ThrottlesAlarmID are the logical ids of a function's
// alarms.
func ErrorsAlarmID(fnID string) string    { return fnID + "ErrorsAlarm" }
func ThrottlesAlarmID(fnID string) string { return fnID + "ThrottlesAlarm" }

// AlarmActions is how every alarm of the template notifies: the SNS topic
// of AlarmTopicArn, or nobody when it is empty (the alarm still shows its
// state on the dashboard and the console).
const AlarmActions = "!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"

// alarms are an Errors and a Throttles alarm per function: one alarm per
// function names the function that fails, and costs what a metric-math sum
// would (CloudWatch bills an alarm per metric it reads); a sum could not
// hold them all anyway (an alarm's math reads at most 10 metrics).
func alarms(fns []Function) []string {
	out := []string{"# An errors and a throttles alarm per function of the template, by `go generate ./infra`."}
	for i, fn := range fns {
		for j, a := range []struct{ id, metric, what string }{
			{ErrorsAlarmID(fn.ID), "Errors", "invocations failed (an error, a timeout or a crash)"},
			{ThrottlesAlarmID(fn.ID), "Throttles", "invocations were throttled (no concurrency left)"},
		} {
			if i > 0 || j > 0 {
				out = append(out, "")
			}
			out = append(out, a.id+":", "  Type: AWS::CloudWatch::Alarm")
			if fn.Condition != "" {
				out = append(out, "  Condition: "+fn.Condition)
			}
			out = append(out,
				"  Properties:",
				"    AlarmDescription: "+quote(fmt.Sprintf("functions/%s/: %s in 5 minutes", fn.Dir, a.what)),
				"    Namespace: AWS/Lambda",
				"    MetricName: "+a.metric,
				"    Dimensions:",
				"      - Name: FunctionName",
				"        Value: !Ref "+fn.ID,
				"    Statistic: Sum",
				"    Period: 300",
				"    EvaluationPeriods: 1",
				"    Threshold: 1",
				"    ComparisonOperator: GreaterThanOrEqualToThreshold",
				"    TreatMissingData: notBreaching",
				"    AlarmActions: "+AlarmActions,
				"    OKActions: "+AlarmActions,
			)
		}
	}
	return out
}
