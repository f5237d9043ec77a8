package testenv

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/s3files"
)

// S3Client returns an S3 client for a test endpoint: path-style addressing
// and placeholder credentials, which the embedded S3 and moto accept.
func S3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// EmbeddedFiles returns Files over a fresh in-memory embedded S3 with
// bucket, served on loopback until the test ends.
func EmbeddedFiles(tb testing.TB, bucket string) *s3files.S3Files {
	tb.Helper()
	srv, err := embeds3.Open("", bucket)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return s3files.New(S3Client(hs.URL), bucket)
}

// LambdaFixture returns one of aws-lambda-go's event fixtures
// (events/testdata/<name>) from the module cache, where the module the
// build uses keeps them.
func LambdaFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		tb.Fatalf("locate aws-lambda-go in the module cache: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", name))
	if err != nil {
		tb.Fatalf("read aws-lambda-go fixture %s: %v", name, err)
	}
	return b
}
