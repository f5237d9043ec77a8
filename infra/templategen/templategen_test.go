package templategen

import (
	"errors"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/infra/permissions"
)

const fixture = `Resources:
  # a hand-written comment stays
  Api:
    Type: AWS::ApiGatewayV2::Api

  PingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/ping/
      Description: pong

  # route joinroom
  JoinFunction:
    Type: AWS::Serverless::Function
    Condition: Rooms
    Properties:
      CodeUri: ./functions/joinroom
      # BEGIN GENERATED: policies JoinFunction
      stale: true
      # END GENERATED: policies JoinFunction
      Description: seats

  # BEGIN GENERATED: function log groups
  # END GENERATED: function log groups

  TableAlarm:
    Type: AWS::CloudWatch::Alarm
  # BEGIN GENERATED: function alarms
  # END GENERATED: function alarms
  # BEGIN GENERATED: dashboard
  # END GENERATED: dashboard
`

func lists(t *testing.T) Loader {
	return func(dir string) (permissions.List, error) {
		switch dir {
		case "ping":
			return permissions.List{}, nil
		case "joinroom":
			return permissions.List{"table": {"dynamodb:GetItem"}, "connections": {"GET", "POST"}}, nil
		}
		t.Errorf("no list for %s", dir)
		return nil, errors.New("no list")
	}
}

func TestGenerateWritesPoliciesAndIsIdempotent(t *testing.T) {
	out, err := Generate([]byte(fixture), lists(t))
	if err != nil {
		t.Fatal(err)
	}
	want := `Resources:
  # a hand-written comment stays
  Api:
    Type: AWS::ApiGatewayV2::Api

  PingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/ping/
      Description: pong
      # BEGIN GENERATED: policies PingFunction
      # From functions/ping/permissions.yaml by ` + "`go generate ./infra`" + `: edit that list, not this.
      Policies: []
      # END GENERATED: policies PingFunction

  # route joinroom
  JoinFunction:
    Type: AWS::Serverless::Function
    Condition: Rooms
    Properties:
      CodeUri: ./functions/joinroom
      # BEGIN GENERATED: policies JoinFunction
      # From functions/joinroom/permissions.yaml by ` + "`go generate ./infra`" + `: edit that list, not this.
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Sid: ChatTable
              Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt ChatTable.Arn
            - Sid: Connections
              Effect: Allow
              Action: execute-api:ManageConnections
              Resource:
                - !Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/GET/@connections/*"
                - !Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/POST/@connections/*"
      # END GENERATED: policies JoinFunction
      Description: seats

  # BEGIN GENERATED: function log groups
  # A log group per function of the template, by ` + "`go generate ./infra`" + `.
  PingFunctionLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub "/aws/lambda/${PingFunction}"
      RetentionInDays: !Ref LogRetentionDays

  JoinFunctionLogGroup:
    Type: AWS::Logs::LogGroup
    Condition: Rooms
    Properties:
      LogGroupName: !Sub "/aws/lambda/${JoinFunction}"
      RetentionInDays: !Ref LogRetentionDays
  # END GENERATED: function log groups
`
	if !strings.HasPrefix(string(out), want) {
		t.Fatalf("got:\n%s", out)
	}
	rest := string(out)[len(want):]
	for _, part := range []string{
		"  PingFunctionErrorsAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n",
		"      MetricName: Throttles\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref PingFunction\n",
		"  JoinFunctionThrottlesAlarm:\n    Type: AWS::CloudWatch::Alarm\n    Condition: Rooms\n",
		"      AlarmActions: " + AlarmActions + "\n",
		"  Dashboard:\n    Type: AWS::CloudWatch::Dashboard\n",
		`"${TableAlarm.Arn}",`, `"${PingFunctionErrorsAlarm.Arn}",`, `"${PingFunction}"`,
	} {
		if !strings.Contains(rest, part) {
			t.Errorf("the generated alarms and dashboard lack %q:\n%s", part, rest)
		}
	}
	// A !Sub may not name what exists only under a condition.
	if strings.Contains(rest, "${JoinFunction") {
		t.Errorf("the dashboard names the conditional JoinFunction or its alarms:\n%s", rest)
	}

	again, err := Generate(out, lists(t))
	if err != nil || string(again) != string(out) {
		t.Fatalf("a second run changed the template (%v):\n%s", err, again)
	}
}

func TestGenerateRefuses(t *testing.T) {
	for name, tpl := range map[string]string{
		"hand-written Policies": strings.Replace(fixture, "      Description: pong\n", "      Description: pong\n      Policies: [AWSLambdaExecute]\n", 1),
		"unpaired marker":       strings.Replace(fixture, "      # END GENERATED: policies JoinFunction\n", "", 1),
		"unknown region":        strings.ReplaceAll(fixture, "policies JoinFunction", "policies Gone"),
		"CodeUri elsewhere":     strings.Replace(fixture, "functions/ping/", "src/ping/", 1),
		"region twice":          fixture + "      # BEGIN GENERATED: policies JoinFunction\n      # END GENERATED: policies JoinFunction\n",
		"no log groups region":  strings.Replace(fixture, "  # BEGIN GENERATED: function log groups\n  # END GENERATED: function log groups\n", "", 1),
		"no dashboard region":   strings.Replace(fixture, "  # BEGIN GENERATED: dashboard\n  # END GENERATED: dashboard\n", "", 1),
	} {
		if _, err := Generate([]byte(tpl), lists(t)); !errors.Is(err, ErrTemplate) {
			t.Errorf("%s: err = %v, want ErrTemplate", name, err)
		}
	}
}
