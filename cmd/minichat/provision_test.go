package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

// TestProvision runs `minichat provision` against one moto_server, through
// the same environment a user sets for LocalStack.
func TestProvision(t *testing.T) {
	endpoint := moto.Start(t)
	moto.Env(t, endpoint)
	t.Setenv("MINICHAT_TABLE", "")
	t.Setenv("MINICHAT_BUCKET", "")
	t.Setenv("MINICHAT_S3_PATH_STYLE", "true")
	cfg := moto.Config(endpoint)

	t.Run("FlagsThenAgain", func(t *testing.T) {
		args := []string{"provision", "-table", "cli-chat", "-bucket", "cli-files"}
		want := "created table cli-chat (ChatTable)\ncreated bucket cli-files (FilesBucket)\n"
		if got := runOK(t, args...); got != want {
			t.Fatalf("first run printed:\n%s\nwant:\n%s", got, want)
		}
		want = "exists  table cli-chat (ChatTable)\nexists  bucket cli-files (FilesBucket)\n"
		if got := runOK(t, args...); got != want {
			t.Fatalf("second run printed:\n%s\nwant:\n%s", got, want)
		}
		assertExist(t, cfg, "cli-chat", "cli-files")
	})
	t.Run("Environment", func(t *testing.T) {
		t.Setenv("MINICHAT_TABLE", "env-chat")
		t.Setenv("MINICHAT_BUCKET", "env-files")
		if got := runOK(t, "provision"); !strings.Contains(got, "created table env-chat") || !strings.Contains(got, "created bucket env-files") {
			t.Fatalf("printed:\n%s", got)
		}
		assertExist(t, cfg, "env-chat", "env-files")
	})
	t.Run("Defaults", func(t *testing.T) {
		if got := runOK(t, "provision"); !strings.Contains(got, "table minichat (ChatTable)") || !strings.Contains(got, "bucket minichat-files (FilesBucket)") {
			t.Fatalf("printed:\n%s", got)
		}
		assertExist(t, cfg, "minichat", "minichat-files")
	})
	t.Run("TemplateFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "template.yaml")
		tpl := "Resources:\n  Only:\n    Type: AWS::S3::Bucket\n"
		if err := os.WriteFile(path, []byte(tpl), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := runOK(t, "provision", "-template", path, "-bucket", "from-file"); got != "created bucket from-file (Only)\n" {
			t.Fatalf("printed:\n%s", got)
		}
	})
	t.Run("AmbiguousName", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "template.yaml")
		tpl := "Resources:\n  A:\n    Type: AWS::S3::Bucket\n  B:\n    Type: AWS::S3::Bucket\n"
		if err := os.WriteFile(path, []byte(tpl), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run([]string{"provision", "-template", path, "-bucket", "which"}, &out)
		if err == nil || !strings.Contains(err.Error(), "cannot say which") {
			t.Fatalf("two buckets and -bucket: %v", err)
		}
	})
}

// runOK runs the command line and returns what it printed.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(args, &out); err != nil {
		t.Fatalf("minichat %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func assertExist(t *testing.T, cfg aws.Config, table, bucket string) {
	t.Helper()
	d, err := dynamodb.NewFromConfig(cfg).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("table %s: %v", table, err)
	}
	if n := len(d.Table.GlobalSecondaryIndexes); n != 1 {
		t.Errorf("table %s has %d GSIs, want the template's 1", table, n)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
}

func TestProvisionRejectsArguments(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"provision", "extra"}, &out); err == nil {
		t.Fatalf("provision accepted a stray argument; printed %q", out.String())
	}
}
