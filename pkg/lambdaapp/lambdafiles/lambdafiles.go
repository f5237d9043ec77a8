// Package lambdafiles is the lambdaapp Option of the functions that send,
// sign or delete files: the S3 adapter of the Files port, which only they
// link.
package lambdafiles

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/awsconf"
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/s3files"
)

// Files gives the function the files bucket the environment names.
func Files() lambdaapp.Option {
	return func(_ context.Context, env lambdaapp.Env, cfg *app.Config) error {
		client := s3.NewFromConfig(env.AWS, func(o *s3.Options) {
			o.BaseEndpoint = awsconf.Endpoint(s3.ServiceID)
			o.UsePathStyle = env.Settings.PathStyle
		})
		cfg.Files = s3files.New(client, env.Settings.Bucket)
		return nil
	}
}
