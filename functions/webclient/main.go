// Command webclient is the Lambda function behind template.yaml's
// Custom::WebClientContent: at deploy time it uploads the web client this
// binary embeds, and its config.json, to the site bucket, and empties the
// bucket when the stack goes. Wiring only: the logic lives in pkg/website.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minichatbar/minichat/pkg/website"
	"github.com/minichatbar/minichat/web"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatalf("webclient: aws config: %v", err)
	}
	publisher := website.NewPublisher(s3.NewFromConfig(cfg))
	lambda.Start(cfn.LambdaWrap(website.CustomResource(publisher, web.Files())))
}
