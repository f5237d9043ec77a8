package awsproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/minichatbar/minichat/pkg/testenv/awsproxy"
)

// upstream answers every request 200 {} and counts them.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func dynamo(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

func TestClassify(t *testing.T) {
	cases := []struct {
		method, target, path, body string
		header                     map[string]string
		want                       string
	}{
		{method: "POST", target: "DynamoDB_20120810.PutItem", body: `{"TableName":"t"}`, want: "table:dynamodb:PutItem"},
		{method: "POST", target: "DynamoDB_20120810.Query", body: `{"TableName":"t","IndexName":"gsi1"}`, want: "index:dynamodb:Query"},
		{method: "POST", target: "secretsmanager.GetSecretValue", want: "secret:secretsmanager:GetSecretValue"},
		{method: "POST", path: "/prod/@connections/abc%3D", want: "connections:POST"},
		{method: "GET", path: "/prod/@connections/abc", want: "connections:GET"},
		{method: "DELETE", path: "/prod/@connections/abc", want: "connections:DELETE"},
		{method: "GET", path: "/bucket", want: "bucket:s3:ListBucket"},
		{method: "POST", path: "/bucket", want: "objects:s3:PutObject"},
		{method: "POST", path: "/bucket?delete", want: "objects:s3:DeleteObject"},
		{method: "HEAD", path: "/bucket/a/b", want: "objects:s3:GetObject"},
		{method: "GET", path: "/bucket/a/b", want: "objects:s3:GetObject"},
		{method: "PUT", path: "/bucket/a/b", want: "objects:s3:PutObject"},
		{method: "PUT", path: "/bucket/a/b", header: map[string]string{"X-Amz-Copy-Source": "/bucket/c"}, want: "objects:s3:GetObject objects:s3:PutObject"},
		{method: "DELETE", path: "/bucket/a/b", want: "objects:s3:DeleteObject"},
	}
	for _, c := range cases {
		path := c.path
		if path == "" {
			path = "/"
		}
		r := httptest.NewRequest(c.method, path, strings.NewReader(c.body))
		if c.target != "" {
			r.Header.Set("X-Amz-Target", c.target)
		}
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		var got []string
		for _, call := range awsproxy.Classify(r, []byte(c.body)) {
			got = append(got, call.String())
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s %s %s = %v, want %s", c.method, c.target, path, got, c.want)
		}
	}
}

func TestRecordsAndForwards(t *testing.T) {
	up, n := upstream(t)
	p := awsproxy.Start(t, up.URL)
	db := dynamo(p.URL)
	if _, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if got := p.Calls(); len(got) != 1 || got[0].String() != "table:dynamodb:GetItem" || n.Load() != 1 {
		t.Fatalf("calls %v, upstream saw %d", got, n.Load())
	}
}

func TestInjectsFaultsTheSDKKnows(t *testing.T) {
	up, n := upstream(t)
	p := awsproxy.Start(t, up.URL)
	db := dynamo(p.URL)
	get := func() error {
		_, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}})
		return err
	}
	cases := []struct {
		fault     awsproxy.Fault
		forwarded bool
		check     func(error) bool
	}{
		{awsproxy.Throttle, false, func(err error) bool {
			var e *types.ProvisionedThroughputExceededException
			return errors.As(err, &e)
		}},
		{awsproxy.ServerError, false, func(err error) bool {
			var e *types.InternalServerError
			return errors.As(err, &e)
		}},
		{awsproxy.Unavailable, false, func(err error) bool { return err != nil && strings.Contains(err.Error(), "503") }},
		{awsproxy.Reset, false, func(err error) bool { return err != nil }},
		{awsproxy.Lost, true, func(err error) bool { return err != nil }},
		{awsproxy.Latency, true, func(err error) bool { return err == nil }},
	}
	for _, c := range cases {
		before := n.Load()
		p.SetFaults(awsproxy.Faults{Rate: 1, Kinds: []awsproxy.Fault{c.fault}})
		err := get()
		if !c.check(err) {
			t.Errorf("%v: the SDK got %v", c.fault, err)
		}
		if forwarded := n.Load() > before; forwarded != c.forwarded {
			t.Errorf("%v: forwarded %v, want %v", c.fault, forwarded, c.forwarded)
		}
		if p.Injected()[c.fault] != 1 {
			t.Errorf("%v: injected %v", c.fault, p.Injected())
		}
	}
	p.SetFaults(awsproxy.Faults{Rate: 1, Kinds: []awsproxy.Fault{awsproxy.Throttle}, Match: func(c awsproxy.Call) bool { return c.Action == "dynamodb:PutItem" }})
	if err := get(); err != nil {
		t.Errorf("a fault matched a call it should not: %v", err)
	}
}
