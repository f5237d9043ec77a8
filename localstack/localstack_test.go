package localstack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/testenv"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

const (
	hookPath    = "init/ready.d/provision.sh"
	composePath = "docker-compose.yml"
	// awsInstallHint installs the AWS CLI the hook is tested with.
	awsInstallHint = "pip install awscli==1.45.11"
)

// TestInitHookAgainstMoto runs the init hook twice against moto_server and
// holds what it created to template.yaml's ChatTable and FilesBucket.
func TestInitHookAgainstMoto(t *testing.T) {
	testenv.Tool(t, testenv.TierAWSCLI, "aws", awsInstallHint)
	endpoint := moto.Start(t)
	const table, bucket = "ls-chat", "ls-files"

	first := runHook(t, endpoint, table, bucket)
	for _, want := range []string{"created table " + table, "enabled TTL on " + table, "created bucket " + bucket} {
		if !strings.Contains(first, want) {
			t.Errorf("first run does not say %q; it printed:\n%s", want, first)
		}
	}
	second := runHook(t, endpoint, table, bucket)
	if want := "exists  table " + table + "\nexists  bucket " + bucket + "\n"; second != want {
		t.Errorf("second run printed:\n%s\nwant:\n%s", second, want)
	}

	tpl, err := samtemplate.Parse(minichat.Template)
	if err != nil {
		t.Fatal(err)
	}
	tables, buckets := tpl.Tables(), tpl.Buckets()
	if len(tables) != 1 || len(buckets) != 1 {
		t.Fatalf("template.yaml declares %d tables and %d buckets; the hook creates one of each", len(tables), len(buckets))
	}
	cfg := moto.Config(endpoint)
	checkTable(t, dynamodb.NewFromConfig(cfg), table, tables[0])
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("bucket %s: %v", bucket, err)
	}
}

// runHook runs the hook as LocalStack would, pointed at endpoint, and
// returns its standard output.
func runHook(t *testing.T, endpoint, table, bucket string) string {
	t.Helper()
	// A bound, so that a wedged CLI stops this test rather than the suite.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./"+hookPath)
	none := filepath.Join(t.TempDir(), "none")
	// The machine's own AWS settings must not reach moto: the CLI takes an
	// empty AWS_PROFILE for a profile named "", so those are dropped.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "MINICHAT_")
	})
	cmd.Env = append(env,
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_REGION="+moto.Region,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none,
		"MINICHAT_TABLE="+table, "MINICHAT_BUCKET="+bucket,
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", hookPath, err, out, stderr.String())
	}
	return string(out)
}

// checkTable compares the table the hook created with the template's.
func checkTable(t *testing.T, db *dynamodb.Client, name string, want samtemplate.Table) {
	t.Helper()
	desc, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatalf("table %s: %v", name, err)
	}
	d := desc.Table
	if got, w := keys(d.KeySchema), tplKeys(want.KeySchema); !reflect.DeepEqual(got, w) {
		t.Errorf("key schema %v, template %v", got, w)
	}
	var attrs, wantAttrs []string
	for _, a := range d.AttributeDefinitions {
		attrs = append(attrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, a := range want.AttributeDefinitions {
		wantAttrs = append(wantAttrs, a.AttributeName+":"+a.AttributeType)
	}
	slices.Sort(attrs)
	slices.Sort(wantAttrs)
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("attribute definitions %v, template %v", attrs, wantAttrs)
	}
	if d.BillingModeSummary == nil || string(d.BillingModeSummary.BillingMode) != want.BillingMode {
		t.Errorf("billing mode %+v, template %q", d.BillingModeSummary, want.BillingMode)
	}
	type index struct {
		Name       string
		Keys       []string
		Projection string
	}
	var gsis, wantGSIs []index
	for _, g := range d.GlobalSecondaryIndexes {
		p := ""
		if g.Projection != nil {
			p = string(g.Projection.ProjectionType)
		}
		gsis = append(gsis, index{aws.ToString(g.IndexName), keys(g.KeySchema), p})
	}
	for _, g := range want.GlobalSecondaryIndexes {
		wantGSIs = append(wantGSIs, index{g.IndexName, tplKeys(g.KeySchema), g.ProjectionType})
	}
	if !reflect.DeepEqual(gsis, wantGSIs) {
		t.Errorf("global secondary indexes %+v, template %+v", gsis, wantGSIs)
	}
	if len(want.LocalSecondaryIndexes) != len(d.LocalSecondaryIndexes) {
		t.Errorf("%d local secondary indexes, template %d", len(d.LocalSecondaryIndexes), len(want.LocalSecondaryIndexes))
	}
	ttl, err := db.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	got := ttl.TimeToLiveDescription
	if want.TTLAttribute == "" {
		if got != nil && got.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled {
			t.Errorf("TTL on %q; the template has none", aws.ToString(got.AttributeName))
		}
		return
	}
	if got == nil || aws.ToString(got.AttributeName) != want.TTLAttribute || got.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Errorf("TTL %+v, template: enabled on %q", got, want.TTLAttribute)
	}
}

func keys(ks []ddbtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}

func tplKeys(ks []samtemplate.KeyElement) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.AttributeName+" "+k.KeyType)
	}
	return out
}

// TestHookIsExecutable: LocalStack runs only executable shell scripts with
// a shebang.
func TestHookIsExecutable(t *testing.T) {
	fi, err := os.Stat(hookPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable (chmod +x it): LocalStack would skip it", hookPath)
	}
	data, err := os.ReadFile(hookPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "#!") {
		t.Errorf("%s has no shebang line", hookPath)
	}
}

var composeDefaults = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

// TestComposeRunsTheHook holds the compose file to what the hook and the
// hybrid mode need.
func TestComposeRunsTheHook(t *testing.T) {
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string
			Ports       []string
			Environment map[string]string
			Volumes     []string
		}
	}
	// Compose substitutes ${VAR:-default} from the environment; the test
	// reads the defaults, which is what a plain `docker compose up` runs.
	data = composeDefaults.ReplaceAll(data, []byte("$1"))
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	ls, ok := compose.Services["localstack"]
	if !ok {
		t.Fatalf("%s has no localstack service", composePath)
	}
	if image, tag, _ := strings.Cut(ls.Image, ":"); image != "localstack/localstack" || tag == "" || tag == "latest" {
		t.Errorf("image %q: want localstack/localstack at a pinned tag", ls.Image)
	}
	services := strings.Split(ls.Environment["SERVICES"], ",")
	for _, s := range []string{"dynamodb", "s3"} {
		if !slices.Contains(services, s) {
			t.Errorf("SERVICES=%q lacks %s", ls.Environment["SERVICES"], s)
		}
	}
	if !slices.Contains(ls.Ports, "127.0.0.1:4566:4566") {
		t.Errorf("ports %v: want 127.0.0.1:4566:4566, the endpoint README.md gives", ls.Ports)
	}
	if !slices.Contains(ls.Volumes, "./init/ready.d:/etc/localstack/init/ready.d:ro") {
		t.Errorf("volumes %v do not mount ./init/ready.d at LocalStack's ready.d", ls.Volumes)
	}
	for _, v := range []string{"MINICHAT_TABLE", "MINICHAT_BUCKET"} {
		if ls.Environment[v] == "" {
			t.Errorf("the hook reads %s, which the compose file does not pass", v)
		}
	}
}
