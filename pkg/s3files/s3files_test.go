package s3files_test

import (
	"testing"

	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/testenv"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

func TestS3FilesOnEmbeddedS3(t *testing.T) {
	filestest.Run(t, func(t *testing.T) chat.Files {
		return testenv.EmbeddedFiles(t, "bucket")
	})
}

func TestS3FilesOnMoto(t *testing.T) {
	endpoint := moto.Start(t)
	filestest.Run(t, func(t *testing.T) chat.Files {
		f := s3files.New(testenv.S3Client(endpoint), "bucket")
		if err := f.EnsureBucket(t.Context()); err != nil {
			t.Fatal(err)
		}
		return f
	})
}
