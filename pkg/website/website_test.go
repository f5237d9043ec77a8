package website_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/testenv/moto"
	"github.com/minichatbar/minichat/pkg/website"
	"github.com/minichatbar/minichat/web"
)

var cfg = website.Config{
	WebSocketURL: "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod",
	HTTPAPIURL:   "https://def456.execute-api.eu-west-1.amazonaws.com",
}

// object is what a test reads back from the bucket.
type object struct {
	body, contentType, cacheControl string
}

// s3Bucket returns a client of the moto_server at endpoint, with a new
// bucket of that name.
func s3Bucket(t *testing.T, endpoint, name string) *s3.Client {
	t.Helper()
	c := s3.NewFromConfig(moto.Config(endpoint), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return c
}

func contents(t *testing.T, c *s3.Client, bucket string) map[string]object {
	t.Helper()
	out := map[string]object{}
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(t.Context())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			got, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", aws.ToString(o.Key), err)
			}
			body, err := io.ReadAll(got.Body)
			got.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[aws.ToString(o.Key)] = object{string(body), aws.ToString(got.ContentType), aws.ToString(got.CacheControl)}
		}
	}
	return out
}

// The embedded web client is laid out as `minichat serve` serves it: app/
// at the root, sdk/ under sdk/, plus config.json; index.html goes last.
func TestFilesLayOutTheEmbeddedClient(t *testing.T) {
	files, err := website.Files(web.Files(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]website.File{}
	var keys []string
	for _, f := range files {
		byKey[f.Key] = f
		keys = append(keys, f.Key)
		if strings.HasPrefix(f.Key, "app/") || strings.HasPrefix(f.Key, "/") {
			t.Errorf("key %q: the app/ tree belongs at the site's root", f.Key)
		}
		if f.CacheControl != website.CacheControl {
			t.Errorf("%s: Cache-Control %q", f.Key, f.CacheControl)
		}
	}
	if keys[len(keys)-1] != website.IndexKey {
		t.Errorf("upload order %v: index.html must come last", keys)
	}
	for key, typ := range map[string]string{
		"index.html":      "text/html; charset=utf-8",
		"app.js":          "text/javascript; charset=utf-8",
		"style.css":       "text/css; charset=utf-8",
		"favicon.svg":     "image/svg+xml",
		"sdk/minichat.js": "text/javascript; charset=utf-8",
		"config.json":     "application/json",
	} {
		f, ok := byKey[key]
		if !ok {
			t.Errorf("no %s among %v", key, keys)
			continue
		}
		if f.ContentType != typ {
			t.Errorf("%s: Content-Type %q, want %q", key, f.ContentType, typ)
		}
	}
	var got website.Config
	if err := json.Unmarshal(byKey[website.ConfigKey].Body, &got); err != nil || got != cfg {
		t.Errorf("config.json = %s (%v), want %+v", byKey[website.ConfigKey].Body, err, cfg)
	}
	// The JSON names are the ones web/app/app.js reads.
	if s := string(byKey[website.ConfigKey].Body); !strings.Contains(s, `"webSocketUrl":`) || !strings.Contains(s, `"httpApiUrl":`) {
		t.Errorf("config.json = %s", s)
	}
}

func TestConfigMustNameTheStacksEndpoints(t *testing.T) {
	for _, bad := range []website.Config{
		{},
		{WebSocketURL: "https://x/prod", HTTPAPIURL: cfg.HTTPAPIURL},
		{WebSocketURL: cfg.WebSocketURL, HTTPAPIURL: "http://x"},
		{WebSocketURL: "wss://", HTTPAPIURL: cfg.HTTPAPIURL},
	} {
		if _, err := website.Files(web.Files(), bad); err == nil {
			t.Errorf("Files accepted %+v", bad)
		}
	}
}

func site(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// Publishing replaces changed files and removes stale ones; emptying leaves
// nothing, so that CloudFormation can delete the bucket.
func TestPublishUpdateAndEmptyOnMoto(t *testing.T) {
	endpoint := moto.Start(t)
	const bucket = "site"
	c := s3Bucket(t, endpoint, bucket)
	p := website.NewPublisher(c)

	v1 := site(map[string]string{
		"app/index.html": "<p>v1</p>", "app/app.js": "// v1", "app/old.css": "p{}",
		"sdk/minichat.js": "// sdk v1", "sdk/README.md": "# sdk",
	})
	files, err := website.Files(v1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), bucket, files); err != nil {
		t.Fatalf("publish v1: %v", err)
	}
	got := contents(t, c, bucket)
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"app.js", "config.json", "index.html", "old.css", "sdk/README.md", "sdk/minichat.js"}) {
		t.Fatalf("after create: %v", keys)
	}
	if o := got["index.html"]; o.body != "<p>v1</p>" || o.contentType != "text/html; charset=utf-8" || o.cacheControl != website.CacheControl {
		t.Errorf("index.html = %+v", o)
	}
	if o := got["sdk/README.md"]; o.contentType != "text/markdown; charset=utf-8" {
		t.Errorf("sdk/README.md = %+v", o)
	}

	// An object someone else put there is not part of the site either.
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("stray/x"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	v2 := site(map[string]string{"app/index.html": "<p>v2</p>", "app/app.js": "// v1", "app/new.css": "b{}", "sdk/minichat.js": "// sdk v2"})
	other := website.Config{WebSocketURL: "wss://other.example/live", HTTPAPIURL: "https://api.other.example"}
	if files, err = website.Files(v2, other); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), bucket, files); err != nil {
		t.Fatalf("publish v2: %v", err)
	}
	got = contents(t, c, bucket)
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"app.js", "config.json", "index.html", "new.css", "sdk/minichat.js"}) {
		t.Fatalf("after update: %v (stale files must go)", keys)
	}
	if got["index.html"].body != "<p>v2</p>" || got["sdk/minichat.js"].body != "// sdk v2" {
		t.Errorf("changed files not replaced: %+v", got)
	}
	var conf website.Config
	if err := json.Unmarshal([]byte(got["config.json"].body), &conf); err != nil || conf != other {
		t.Errorf("config.json = %q", got["config.json"].body)
	}

	if err := p.Empty(t.Context(), bucket); err != nil {
		t.Fatalf("empty: %v", err)
	}
	if got := contents(t, c, bucket); len(got) != 0 {
		t.Fatalf("after empty: %v", slices.Sorted(maps.Keys(got)))
	}
	// The bucket can go now.
	if _, err := c.DeleteBucket(t.Context(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("delete emptied bucket: %v", err)
	}
	if err := p.Empty(t.Context(), bucket); err != nil {
		t.Errorf("emptying a bucket that is gone: %v, want nil", err)
	}
}

// More objects than one DeleteObjects request takes.
func TestEmptyDeletesEveryPageOnMoto(t *testing.T) {
	endpoint := moto.Start(t)
	const bucket = "big"
	c := s3Bucket(t, endpoint, bucket)
	var files []website.File
	for i := range 1100 {
		files = append(files, website.File{Key: "f/" + strconv.Itoa(i), Body: []byte("x"), ContentType: "text/plain", CacheControl: "no-cache"})
	}
	p := website.NewPublisher(c)
	if err := p.Publish(t.Context(), bucket, files); err != nil {
		t.Fatal(err)
	}
	if err := p.Empty(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("after empty: %d objects, %v", len(out.Contents), err)
	}
}

// cloudFormation is a fake pre-signed response URL: it records what the
// custom resource reports, as CloudFormation would read it.
type cloudFormation struct {
	srv       *httptest.Server
	mu        sync.Mutex
	responses []cfn.Response
}

func newCloudFormation(t *testing.T) *cloudFormation {
	cf := &cloudFormation{}
	cf.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp cfn.Response
		if r.Method != http.MethodPut {
			t.Errorf("response sent with %s, want PUT", r.Method)
		}
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
			t.Errorf("response body: %v", err)
		}
		cf.mu.Lock()
		cf.responses = append(cf.responses, resp)
		cf.mu.Unlock()
	}))
	t.Cleanup(cf.srv.Close)
	return cf
}

func (cf *cloudFormation) last(t *testing.T) cfn.Response {
	t.Helper()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if len(cf.responses) == 0 {
		t.Fatal("the custom resource reported nothing to CloudFormation")
	}
	return cf.responses[len(cf.responses)-1]
}

func (cf *cloudFormation) event(typ cfn.RequestType, physicalID string, props map[string]any) cfn.Event {
	return cfn.Event{
		RequestType: typ, RequestID: "req-" + string(typ), ResponseURL: cf.srv.URL + "/response",
		ResourceType: "Custom::WebClientContent", LogicalResourceID: "WebClientContent",
		StackID: "arn:aws:cloudformation:us-east-1:123456789012:stack/chat/1", PhysicalResourceID: physicalID,
		ResourceProperties: props,
	}
}

// The custom resource as Lambda runs it: cfn.LambdaWrap around
// CustomResource, answering a fake CloudFormation.
func TestCustomResourceReportsToCloudFormation(t *testing.T) {
	endpoint := moto.Start(t)
	const bucket = "stack-site"
	c := s3Bucket(t, endpoint, bucket)
	handler := cfn.LambdaWrap(website.CustomResource(website.NewPublisher(c), web.Files()))
	cf := newCloudFormation(t)
	props := map[string]any{
		"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:webclient", "ServiceTimeout": "300",
		website.PropBucket: bucket, website.PropWebSocketURL: cfg.WebSocketURL, website.PropHTTPAPIURL: cfg.HTTPAPIURL,
		"FunctionVersion": "1",
	}
	invoke := func(ev cfn.Event) cfn.Response {
		t.Helper()
		if _, err := handler(context.Background(), ev); err != nil {
			t.Fatalf("%s: %v", ev.RequestType, err)
		}
		return cf.last(t)
	}

	r := invoke(cf.event(cfn.RequestCreate, "", props))
	if r.Status != cfn.StatusSuccess || r.PhysicalResourceID != bucket || r.RequestID != "req-Create" || r.LogicalResourceID != "WebClientContent" {
		t.Fatalf("create: %+v", r)
	}
	site := contents(t, c, bucket)
	if _, ok := site["index.html"]; !ok {
		t.Fatalf("create left no index.html: %v", slices.Sorted(maps.Keys(site)))
	}
	var conf website.Config
	if err := json.Unmarshal([]byte(site["config.json"].body), &conf); err != nil || conf != cfg {
		t.Fatalf("config.json = %q", site["config.json"].body)
	}

	// An update (a new function version) keeps the physical id.
	props["FunctionVersion"] = "2"
	if r := invoke(cf.event(cfn.RequestUpdate, bucket, props)); r.Status != cfn.StatusSuccess || r.PhysicalResourceID != bucket {
		t.Fatalf("update: %+v", r)
	}

	// A bad property fails the operation with a reason, and keeps the id.
	bad := maps.Clone(props)
	bad[website.PropHTTPAPIURL] = "not a url"
	if r := invoke(cf.event(cfn.RequestUpdate, bucket, bad)); r.Status != cfn.StatusFailed || r.PhysicalResourceID != bucket || !strings.Contains(r.Reason, "HTTP API URL") {
		t.Fatalf("bad update: %+v", r)
	}

	if r := invoke(cf.event(cfn.RequestDelete, bucket, props)); r.Status != cfn.StatusSuccess || r.PhysicalResourceID != bucket {
		t.Fatalf("delete: %+v", r)
	}
	if site := contents(t, c, bucket); len(site) != 0 {
		t.Fatalf("delete left %v", slices.Sorted(maps.Keys(site)))
	}
}

// A Create that fails reports the request id as the physical id (the
// fallback of cfn.LambdaWrap); the Delete of the rollback that follows must
// succeed, even without a bucket to empty.
func TestFailedCreateRollsBack(t *testing.T) {
	endpoint := moto.Start(t)
	c := s3Bucket(t, endpoint, "unused")
	handler := cfn.LambdaWrap(website.CustomResource(website.NewPublisher(c), web.Files()))
	cf := newCloudFormation(t)
	props := map[string]any{website.PropWebSocketURL: cfg.WebSocketURL, website.PropHTTPAPIURL: cfg.HTTPAPIURL}
	if _, err := handler(context.Background(), cf.event(cfn.RequestCreate, "", props)); err != nil {
		t.Fatal(err)
	}
	r := cf.last(t)
	if r.Status != cfn.StatusFailed || r.PhysicalResourceID != "req-Create" || !strings.Contains(r.Reason, "Bucket") {
		t.Fatalf("create without Bucket: %+v", r)
	}
	if _, err := handler(context.Background(), cf.event(cfn.RequestDelete, r.PhysicalResourceID, props)); err != nil {
		t.Fatal(err)
	}
	if r := cf.last(t); r.Status != cfn.StatusSuccess {
		t.Fatalf("rollback delete: %+v", r)
	}
	// A bucket that never came to be is empty too.
	props[website.PropBucket] = "never-created"
	if _, err := handler(context.Background(), cf.event(cfn.RequestDelete, "req-Create", props)); err != nil {
		t.Fatal(err)
	}
	if r := cf.last(t); r.Status != cfn.StatusSuccess {
		t.Fatalf("delete of a missing bucket: %+v", r)
	}
}

func TestUnknownRequestTypeFails(t *testing.T) {
	fn := website.CustomResource(website.NewPublisher(s3.New(s3.Options{})), web.Files())
	_, _, err := fn(context.Background(), cfn.Event{RequestType: "Rename", ResourceProperties: map[string]any{website.PropBucket: "b"}})
	if err == nil || !strings.Contains(err.Error(), "Rename") {
		t.Fatalf("err = %v, want one naming the request type", err)
	}
}
