package filestest

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/s3files"
)

// Client returns an S3 client for a test endpoint: path-style addressing
// and placeholder credentials, which the embedded S3 and moto accept.
func Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Embedded returns Files over a fresh in-memory embedded S3 with bucket,
// served on loopback until the test ends.
func Embedded(tb testing.TB, bucket string) *s3files.S3Files {
	tb.Helper()
	srv, err := embeds3.Open("", bucket)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return s3files.New(Client(hs.URL), bucket)
}
