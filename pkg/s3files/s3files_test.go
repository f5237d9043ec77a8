package s3files_test

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

func client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func TestS3FilesOnEmbeddedS3(t *testing.T) {
	filestest.Run(t, func(t *testing.T) chat.Files {
		srv, err := embeds3.Open("", "bucket")
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		return s3files.New(client(hs.URL), "bucket")
	})
}

func TestS3FilesOnMoto(t *testing.T) {
	endpoint := moto.Start(t)
	filestest.Run(t, func(t *testing.T) chat.Files {
		f := s3files.New(client(endpoint), "bucket")
		if err := f.EnsureBucket(t.Context()); err != nil {
			t.Fatal(err)
		}
		return f
	})
}
