package website

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// Properties of the custom resource (Custom::WebClientContent in
// template.yaml) that CustomResource reads.
const (
	// PropBucket names the site bucket; it is also the resource's physical
	// id, so that a new bucket makes CloudFormation delete (empty) the old.
	PropBucket = "Bucket"
	// PropWebSocketURL and PropHTTPAPIURL go into config.json.
	PropWebSocketURL = "WebSocketURL"
	PropHTTPAPIURL   = "HttpApiURL"
)

// responseReserve is the time kept back from the invocation's deadline to
// report to CloudFormation: a function that times out without answering
// leaves the stack waiting for the custom resource's ServiceTimeout.
const responseReserve = 10 * time.Second

// CustomResource returns the handler of the custom resource that fills the
// site bucket with web (web.Files()): Create and Update publish the site,
// Delete empties the bucket. Wrap it with cfn.LambdaWrap, which reports the
// outcome to CloudFormation.
func CustomResource(p *Publisher, web fs.FS) cfn.CustomResourceFunction {
	return func(ctx context.Context, ev cfn.Event) (physicalID string, data map[string]any, err error) {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) > 2*responseReserve {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-responseReserve))
			defer cancel()
		}
		bucket, _ := ev.ResourceProperties[PropBucket].(string)
		switch ev.RequestType {
		case cfn.RequestDelete:
			// The properties are those of the resource being deleted. Without
			// a bucket (a Create that failed on its properties) there is
			// nothing to empty, and failing would wedge the stack's rollback.
			if bucket == "" {
				return ev.PhysicalResourceID, nil, nil
			}
			return ev.PhysicalResourceID, nil, p.Empty(ctx, bucket)
		case cfn.RequestCreate, cfn.RequestUpdate:
			if bucket == "" {
				return ev.PhysicalResourceID, nil, errors.New("website: the Bucket property is required")
			}
			cfg := Config{WebSocketURL: str(ev.ResourceProperties, PropWebSocketURL), HTTPAPIURL: str(ev.ResourceProperties, PropHTTPAPIURL)}
			files, err := Files(web, cfg)
			if err != nil {
				return ev.PhysicalResourceID, nil, err
			}
			if err := p.Publish(ctx, bucket, files); err != nil {
				return ev.PhysicalResourceID, nil, err
			}
			return bucket, map[string]any{"Files": len(files)}, nil
		default:
			return ev.PhysicalResourceID, nil, fmt.Errorf("website: unknown request type %q", ev.RequestType)
		}
	}
}

func str(props map[string]any, key string) string {
	s, _ := props[key].(string)
	return s
}
