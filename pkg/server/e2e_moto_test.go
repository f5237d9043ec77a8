package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/infra/provision"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/app"
	"github.com/minichatbar/minichat/pkg/server"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

// motoJoiners is how many clients race for a room's 8 seats on moto: three
// times the seats, so that 16 of them must lose, instead of the suite's 200.
// moto deep-copies the whole table on every TransactWriteItems (its
// rollback), and optimistic seat claims make about joiners x 8 of them, so
// the cost grows with the square of the joiners: 200 take minutes on moto,
// 24 a few seconds. The 200 race against the embedded store.
const motoJoiners = 24

// TestEndToEndMoto runs the end-to-end suite in hybrid mode: the local
// gateway in front of DynamoDB and S3 served by one moto_server, reached
// through the SDK's standard settings (AWS_ENDPOINT_URL), as `minichat
// serve` reaches LocalStack. Each subtest gets a table and a bucket of its
// own, provisioned from template.yaml.
func TestEndToEndMoto(t *testing.T) {
	endpoint := moto.Start(t)
	// The server builds its AWS configuration from the environment, which
	// is why these subtests cannot run in parallel.
	moto.Env(t, endpoint)
	tpl, err := samtemplate.Parse(minichat.Template)
	if err != nil {
		t.Fatal(err)
	}
	client := newMotoRouter(t, endpoint)
	var seq atomic.Int64
	e2e(t, func(t *testing.T) server.Options {
		name := fmt.Sprintf("e2e-%d", seq.Add(1))
		names := provision.OneName(tpl, name)
		if _, err := provision.Provision(t.Context(), tpl, moto.Config(endpoint), names, provision.WithPathStyle(true)); err != nil {
			t.Fatal(err)
		}
		return server.Options{
			Settings: app.Settings{
				Store: app.StoreDynamoDB, Table: name,
				Files: app.FilesS3, Bucket: name, PathStyle: true,
				DataDir: t.TempDir(),
			},
			AWSHTTPClient: client,
		}
	}, withJoiners(motoJoiners))
}

// motoRouter sends the SDK's requests for moto through moto's serialising
// client and the others (pushes to the local gateway's Management API)
// through the SDK's default one, so that a push never waits for moto.
//
// moto must get one request at a time: it runs each on its own thread
// without locking its backends, and concurrent TransactWriteItems (200
// users registering at once) fail there with HTTP 500, or worse, both
// pass their conditions. DynamoDB itself needs no such thing.
type motoRouter struct {
	host        string
	moto, other aws.HTTPClient
}

func newMotoRouter(t *testing.T, endpoint string) motoRouter {
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return motoRouter{host: u.Host, moto: moto.Config(endpoint).HTTPClient, other: awshttp.NewBuildableClient()}
}

func (r motoRouter) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Host == r.host {
		return r.moto.Do(req)
	}
	return r.other.Do(req)
}
