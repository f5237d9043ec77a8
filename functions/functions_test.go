//go:build linux

package functions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/minichatbar/minichat"
	"github.com/minichatbar/minichat/infra/permissions"
	"github.com/minichatbar/minichat/infra/provision"
	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/store/dynamostore"
	"github.com/minichatbar/minichat/pkg/testenv/awsproxy"
	"github.com/minichatbar/minichat/pkg/testenv/moto"
)

const (
	repoRoot = ".."
	// stage is the WebSocket stage in MINICHAT_WS_ENDPOINT, as the template
	// builds it: https://{api}.execute-api.{region}.amazonaws.com/{stage}.
	stage     = "/prod"
	jwtSecret = "lambda-packaging-test-secret-0123456789abcdef"
)

// TestBootstrapsUnderEmulator builds every function of template.yaml for
// this machine, as `make build` does for Lambda but for the host, runs each
// under aws-lambda-rie with the environment the template gives it, and
// walks a user's session through them all: register over the HTTP API,
// authorize and connect, every WebSocket action, a file message through S3,
// disconnect. DynamoDB and S3 are moto_server's; pushes go to a recorder of
// the Management API.
func TestBootstrapsUnderEmulator(t *testing.T) {
	rie := emulatorPath(t)
	l := newLab(t, rie)

	var alice, bob struct{ UserID, Username, Token string }
	if st := l.http(t, "POST", "/api/auth/register", "", `{"username":"alice","password":"password123"}`, &alice); st != http.StatusCreated || alice.Token == "" {
		t.Fatalf("register alice: %d %+v", st, alice)
	}
	if st := l.http(t, "POST", "/api/auth/register", "", `{"username":"bob","password":"password123"}`, &bob); st != http.StatusCreated {
		t.Fatalf("register bob: %d", st)
	}

	// The REQUEST authorizer admits a good token and names the user; API
	// Gateway hands its context to $connect.
	var policy events.APIGatewayCustomAuthorizerResponse
	l.fn(t, "authorizer").call(t, l.ev.authorizerEvent(t, "conn-alice", alice.Token), &policy)
	if policy.PrincipalID != alice.UserID || len(policy.PolicyDocument.Statement) != 1 || policy.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("authorizer policy = %+v", policy)
	}
	if resp, failed := l.fn(t, "authorizer").invoke(t, l.ev.authorizerEvent(t, "conn-x", bob.Token+"x")); !failed || !strings.Contains(string(resp), "Unauthorized") {
		t.Fatalf("authorizer with a bad token answered %s", resp)
	}

	connectAlice := l.ev.wsEvent(t, "$connect", "CONNECT", "conn-alice", "")
	connectAlice.RequestContext.Authorizer = map[string]any{"principalId": alice.UserID, "userId": alice.UserID, "username": "alice"}
	if st := l.ws(t, "connect", connectAlice); st != http.StatusOK {
		t.Fatalf("connect alice: %d", st)
	}
	connectBob := l.ev.wsEvent(t, "$connect", "CONNECT", "conn-bob", "")
	connectBob.QueryStringParameters = map[string]string{"token": bob.Token}
	if st := l.ws(t, "connect", connectBob); st != http.StatusOK {
		t.Fatalf("connect bob: %d", st)
	}
	if st := l.ws(t, "connect", l.ev.wsEvent(t, "$connect", "CONNECT", "conn-anon", "")); st != http.StatusOK {
		t.Fatalf("connect anonymously: %d", st)
	}
	if c, err := l.store.GetConnection(t.Context(), "conn-alice"); err != nil || c.UserID != alice.UserID {
		t.Fatalf("stored connection = %+v, %v", c, err)
	}

	l.action(t, "ping", "conn-alice", `{"action":"ping","id":"p1"}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "pong", "id": "p1"})

	l.action(t, "default", "conn-alice", `garbage`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "error", "code": "bad-request"})

	l.action(t, "login", "conn-anon", `{"action":"login","token":"`+bob.Token+`"}`)
	l.mgmt.expect(t, "conn-anon", frame{"type": "login-ok", "userId": bob.UserID})

	// alice watches bob's presence; bob's next connection is news to her.
	l.action(t, "subscribe-presence", "conn-alice", `{"action":"subscribe-presence","id":"s1","userIds":["`+bob.UserID+`"]}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "presence-state", "id": "s1"})

	// A connection of bob's that closed without its $disconnect: the first
	// push to it answers 410 and the pushing function forgets it.
	// It opened a minute ago: a younger one may still be inside its
	// $connect, where a push answers 410 too.
	opened := time.Now().Add(-time.Minute)
	if _, err := l.store.Connect(t.Context(), chat.Connection{
		ConnID: "conn-ghost", UserID: bob.UserID, Username: bob.Username,
		ConnectedAt: opened, ExpiresAt: opened.Add(chat.DefaultConnectionTTL),
	}); err != nil {
		t.Fatal(err)
	}
	l.mgmt.gone("conn-ghost")

	l.action(t, "private-message", "conn-alice", `{"action":"private-message","id":"m1","to":"`+bob.UserID+`","content":"hi bob"}`)
	ack := l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "m1", "seq": 1.0})
	for _, conn := range []string{"conn-bob", "conn-anon"} {
		l.mgmt.expect(t, conn, frame{"type": "private-message", "messageId": ack["messageId"], "from": alice.UserID, "content": "hi bob", "seq": 1.0})
	}
	if _, err := l.store.GetConnection(t.Context(), "conn-ghost"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("the ghost connection after a push found it gone: %v, want ErrNotFound\n%s", err, l.running["private-message"].out.String())
	}

	l.action(t, "typing", "conn-bob", `{"action":"typing","to":"`+alice.UserID+`","state":"start"}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "typing", "from": bob.UserID, "state": "start"})
	l.action(t, "read", "conn-bob", fmt.Sprintf(`{"action":"read","id":"r1","peerId":%q,"messageId":%q}`, alice.UserID, ack["messageId"]))
	l.mgmt.expect(t, "conn-bob", frame{"type": "ack", "id": "r1"})
	l.mgmt.expect(t, "conn-alice", frame{"type": "read", "by": bob.UserID, "chatWith": bob.UserID, "messageId": ack["messageId"]})
	l.action(t, "unsubscribe-presence", "conn-alice", `{"action":"unsubscribe-presence","id":"u1","userIds":["`+bob.UserID+`"]}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "u1"})

	l.action(t, "message-deleted", "conn-alice", fmt.Sprintf(`{"action":"message-deleted","id":"d1","messageId":%q}`, ack["messageId"]))
	l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "d1"})
	for _, conn := range []string{"conn-bob", "conn-anon"} {
		l.mgmt.expect(t, conn, frame{"type": "message-deleted", "messageId": ack["messageId"], "chatWith": alice.UserID})
	}

	l.action(t, "avatar-updated", "conn-alice", `{"action":"avatar-updated","id":"a1","avatar":"🦊"}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "a1"})
	l.mgmt.drain()

	l.action(t, "joinroom", "conn-alice", `{"action":"joinroom","room":"bar"}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "update", "room": "bar"})
	l.mgmt.drain()
	l.action(t, "group-message", "conn-alice", `{"action":"group-message","id":"g1","room":"bar","msg":"hello bar"}`)
	g := l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "g1", "room": "bar", "seq": 1.0})
	l.mgmt.expect(t, "conn-alice", frame{"type": "group-message", "room": "bar", "msg": "hello bar", "userId": alice.UserID, "messageId": g["messageId"], "epoch": g["epoch"]})
	var roomPage struct{ Messages []frame }
	if st := l.http(t, "GET", "/api/rooms/{room}/messages?room=bar", alice.Token, "", &roomPage); st != http.StatusOK || len(roomPage.Messages) != 1 || roomPage.Messages[0]["messageId"] != g["messageId"] {
		t.Fatalf("room history: %d %+v", st, roomPage)
	}
	l.action(t, "leaveroom", "conn-alice", `{"action":"leaveroom","id":"l1","room":"bar"}`)
	l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "l1"})
	l.mgmt.drain()

	var up struct {
		FileKey string
		Upload  struct {
			Method, URL string
			Fields      map[string]string
		}
	}
	body := fmt.Sprintf(`{"fileName":"pixel.png","fileType":"image/png","size":%d,"to":%q}`, len(filestest.PNG), bob.UserID)
	if st := l.http(t, "POST", "/api/files", alice.Token, body, &up); st != http.StatusOK || up.Upload.Method != "POST" {
		t.Fatalf("POST /api/files: %d %+v", st, up)
	}
	if err := filestest.Post(t.Context(), up.Upload.URL, up.Upload.Fields, "pixel.png", filestest.PNG); err != nil {
		t.Fatalf("upload to moto: %v", err)
	}
	l.action(t, "private-file-message", "conn-alice", fmt.Sprintf(
		`{"action":"private-file-message","id":"f1","to":%q,"fileKey":%q,"fileName":"pixel.png","fileType":"image/png","messageType":"image"}`,
		bob.UserID, up.FileKey))
	l.mgmt.expect(t, "conn-alice", frame{"type": "ack", "id": "f1"})
	file := l.mgmt.expect(t, "conn-bob", frame{"type": "private-file-message", "from": alice.UserID, "fileName": "pixel.png"})
	got, _, err := filestest.Get(t.Context(), file["fileUrl"].(string))
	if err != nil || !bytes.Equal(got, filestest.PNG) {
		t.Fatalf("download %v: %d bytes, %v", file["fileUrl"], len(got), err)
	}

	if st := l.ws(t, "disconnect", l.ev.wsEvent(t, "$disconnect", "DISCONNECT", "conn-alice", "")); st != http.StatusOK {
		t.Fatalf("disconnect: %d", st)
	}
	if _, err := l.store.GetConnection(t.Context(), "conn-alice"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("connection after $disconnect: %v, want ErrNotFound", err)
	}

	for _, dir := range l.dirs {
		e := l.running[dir]
		if e == nil || e.invokes == 0 {
			t.Errorf("functions/%s is in template.yaml but this test never invoked it: give it an event", dir)
			continue
		}
		t.Logf("%-22s init %v (the emulator's INIT REPORT)", dir, e.initDuration(t))
	}
	l.checkPermissions(t)
	if *updateBenchmarks && !t.Failed() {
		writeBenchmarks(t, l.measure(t))
	}
}

// lab is the setting every function runs in: moto_server with the
// template's table and bucket, a Management API recorder, and the host
// bootstraps of every function of the template.
type lab struct {
	rie     string
	dirs    []string          // function directories of template.yaml
	bins    map[string]string // dir -> host bootstrap
	env     []string
	store   *dynamostore.DynamoStore
	mgmt    *recorder
	running map[string]*emulator
	ev      *fixtures
	// moto is moto_server's endpoint; secretARN the token key stored there.
	moto, secretARN string
	// aws and pushes are each function's proxies to moto and to the
	// recorder: what they saw is what the function called.
	aws, pushes map[string]*awsproxy.Proxy
}

// secretFunctions are the functions template.yaml gives the token key's ARN
// (infra's tests hold the template to this).
var secretFunctions = []string{"authorizer", "connect", "httpapi", "login"}

func newLab(t *testing.T, rie string) *lab {
	t.Helper()
	tpl, err := samtemplate.Parse(minichat.Template)
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, f := range fns {
		dir, ok := strings.CutPrefix(f.CodeURI, "functions/")
		if !ok {
			t.Fatalf("%s: CodeUri %s is not under functions/", f.LogicalID, f.CodeURI)
		}
		dirs = append(dirs, dir)
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)

	endpoint := moto.Start(t)
	const name = "lambda-packaging"
	names := provision.OneName(tpl, name)
	cfg := moto.Config(endpoint)
	if _, err := provision.Provision(t.Context(), tpl, cfg, names, provision.WithPathStyle(true)); err != nil {
		t.Fatal(err)
	}
	mgmt := newRecorder(t)
	secret, err := secretsmanager.NewFromConfig(cfg).CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("lambda-packaging-jwt"), SecretString: aws.String(jwtSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "none")
	// What the template's Globals give every function, with moto for AWS
	// and the recorder for the Management API; nothing of this machine's
	// own environment but PATH, as in a Lambda execution environment.
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_REGION=" + moto.Region,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=29",
		"MINICHAT_STORE=dynamodb",
		"MINICHAT_TABLE=" + name,
		"MINICHAT_BUCKET=" + name,
		"MINICHAT_FILES=s3",
		"MINICHAT_S3_PATH_STYLE=true",
		"MINICHAT_ALLOWED_ORIGINS=",
		"MINICHAT_TOKEN_TTL=24h",
		"LOG_LEVEL=info",
	}
	return &lab{
		rie:     rie,
		dirs:    dirs,
		bins:    buildHost(t, dirs),
		env:     env,
		store:   dynamostore.New(dynamodb.NewFromConfig(cfg), name),
		mgmt:    mgmt,
		running: map[string]*emulator{},
		ev:      loadFixtures(t),
		moto:    endpoint, secretARN: aws.ToString(secret.ARN),
		aws: map[string]*awsproxy.Proxy{}, pushes: map[string]*awsproxy.Proxy{},
	}
}

// envOf is the environment of functions/<dir>: the template's Globals,
// its own proxies to moto and the Management API, and the token key's ARN
// for the functions that get it.
func (l *lab) envOf(t *testing.T, dir string) []string {
	if l.aws[dir] == nil {
		l.aws[dir] = awsproxy.Start(t, l.moto)
		l.pushes[dir] = awsproxy.Start(t, l.mgmt.srv.URL)
	}
	env := append(slices.Clone(l.env),
		"AWS_LAMBDA_FUNCTION_NAME="+dir,
		"AWS_ENDPOINT_URL="+l.aws[dir].URL,
		"MINICHAT_WS_ENDPOINT="+l.pushes[dir].URL+stage)
	if slices.Contains(secretFunctions, dir) {
		env = append(env, "MINICHAT_JWT_SECRET_ARN="+l.secretARN)
	}
	return env
}

// checkPermissions holds what each function called, as its proxies saw,
// to its functions/<dir>/permissions.yaml: a call the list does not grant
// would be refused on AWS.
func (l *lab) checkPermissions(t *testing.T) {
	t.Helper()
	for _, dir := range l.dirs {
		if l.aws[dir] == nil {
			continue
		}
		list, err := permissions.Load(repoRoot+"/functions", dir)
		if err != nil {
			t.Error(err)
			continue
		}
		calls := append(l.aws[dir].Calls(), l.pushes[dir].Calls()...)
		for _, c := range calls {
			if !slices.Contains(list[c.On], c.Action) {
				t.Errorf("functions/%s called %s on %s, which its %s does not grant", dir, c.Action, c.On, permissions.FileName)
			}
		}
		t.Logf("%-22s called %v", dir, calls)
	}
}

// fn returns the emulator running functions/<dir>, starting it on first use.
func (l *lab) fn(t *testing.T, dir string) *emulator {
	t.Helper()
	if e := l.running[dir]; e != nil {
		return e
	}
	bin, ok := l.bins[dir]
	if !ok {
		t.Fatalf("functions/%s is not a function of template.yaml", dir)
	}
	e := startEmulator(t, l.rie, bin, dir, l.envOf(t, dir))
	l.running[dir] = e
	return e
}

// ws invokes a WebSocket route's function and returns its status code.
func (l *lab) ws(t *testing.T, dir string, ev events.APIGatewayWebsocketProxyRequest) int {
	t.Helper()
	var resp events.APIGatewayProxyResponse
	l.fn(t, dir).call(t, ev, &resp)
	return resp.StatusCode
}

// action sends body as a frame of connID to the function of its route,
// which must answer 200 (its replies are pushed, not returned).
func (l *lab) action(t *testing.T, dir, connID, body string) {
	t.Helper()
	routeKey := dir
	if dir == "default" {
		routeKey = "$default"
	}
	if st := l.ws(t, dir, l.ev.wsEvent(t, routeKey, "MESSAGE", connID, body)); st != http.StatusOK {
		t.Fatalf("%s from %s: status %d", dir, connID, st)
	}
}

// http invokes the HTTP API's function with a request for the route
// method path and decodes its JSON body into out.
func (l *lab) http(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	ev := l.ev.httpEvent(t, method, path, body)
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	var resp events.APIGatewayV2HTTPResponse
	l.fn(t, "httpapi").call(t, ev, &resp)
	if out != nil && resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, resp.Body, err)
		}
	}
	return resp.StatusCode
}

// buildHost builds the functions in dirs for this machine with the flags
// of the Makefile's Lambda builds, and returns each one's bootstrap.
func buildHost(t *testing.T, dirs []string) map[string]string {
	t.Helper()
	built, out := t.TempDir(), t.TempDir()
	tags, gcflags := makeVar(t, "LAMBDA_TAGS"), makeVar(t, "LAMBDA_GCFLAGS")
	args := []string{"build", "-tags", tags, "-gcflags=" + gcflags, "-trimpath", "-ldflags=-s -w", "-o", built + string(filepath.Separator)}
	for _, d := range dirs {
		args = append(args, "./functions/"+d)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	bins := map[string]string{}
	for _, d := range dirs {
		// go build names each binary after its directory; Lambda runs one
		// named bootstrap, in a directory of its own.
		bin := filepath.Join(out, d, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(built, d), bin); err != nil {
			t.Fatal(err)
		}
		bins[d] = bin
	}
	return bins
}

// frame is a pushed frame, or the fields a pushed frame must have.
type frame map[string]any

// recorder is the Management API endpoint of MINICHAT_WS_ENDPOINT: it keeps
// every frame pushed with POST {stage}/@connections/{id}.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	frames map[string][]frame
	closed map[string]bool // connections that answer 410 Gone
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{frames: map[string][]frame{}, closed: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path, err := url.PathUnescape(req.URL.EscapedPath())
		id, ok := strings.CutPrefix(path, stage+"/@connections/")
		if err != nil || !ok || id == "" {
			http.Error(w, `{"message":"not the Management API"}`, http.StatusNotFound)
			return
		}
		r.mu.Lock()
		closed := r.closed[id]
		if req.Method == http.MethodDelete {
			r.closed[id] = true
		}
		r.mu.Unlock()
		switch {
		case closed:
			http.Error(w, `{"message":"Gone"}`, http.StatusGone)
			return
		case req.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"connectedAt":%q,"identity":{"sourceIp":"192.0.2.1"},"lastActiveAt":%q}`, time.Now().UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
			return
		case req.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
			return
		case req.Method != http.MethodPost:
			http.Error(w, `{"message":"not the Management API"}`, http.StatusNotFound)
			return
		}
		data, err := io.ReadAll(req.Body)
		var f frame
		if err != nil || json.Unmarshal(data, &f) != nil {
			http.Error(w, `{"message":"frame is not JSON"}`, http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.frames[id] = append(r.frames[id], f)
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// expect removes and returns the first frame pushed to connID that has the
// fields of want; frames before it are dropped. The handlers push before
// they return, so what an invocation pushed is here when it has returned.
func (r *recorder) expect(t *testing.T, connID string, want frame) frame {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frames[connID] {
		if matches(f, want) {
			r.frames[connID] = r.frames[connID][i+1:]
			return f
		}
	}
	t.Fatalf("no frame like %v was pushed to %s; pushed: %v", want, connID, r.frames[connID])
	return nil
}

// gone makes connID answer 410 Gone, as a socket that closed does.
func (r *recorder) gone(connID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed[connID] = true
}

// drain forgets every frame pushed so far.
func (r *recorder) drain() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.frames)
}

func matches(f, want frame) bool {
	for k, v := range want {
		if f[k] != v {
			return false
		}
	}
	return true
}

// fixtures are events of aws-lambda-go's own test data (events/testdata),
// the shapes API Gateway sends; each event starts from a fresh copy.
type fixtures struct {
	ws, http, auth []byte
	seq            atomic.Int64
}

func loadFixtures(t *testing.T) *fixtures {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("find aws-lambda-go's fixtures: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "events", "testdata")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return &fixtures{
		ws:   read("apigw-websocket-request.json"),
		http: read("apigw-v2-request-no-authorizer.json"),
		auth: read("apigw-custom-auth-request-type-request.json"),
	}
}

func (f *fixtures) decode(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("fixture: %v", err)
	}
}

func (f *fixtures) requestID() string { return fmt.Sprintf("req-%d", f.seq.Add(1)) }

// wsEvent is a WebSocket route's event: a frame (MESSAGE), a handshake
// (CONNECT, without authorizer context or token unless the caller adds
// them) or a close (DISCONNECT).
func (f *fixtures) wsEvent(t *testing.T, routeKey, eventType, connID, body string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	var ev events.APIGatewayWebsocketProxyRequest
	f.decode(t, f.ws, &ev)
	ev.QueryStringParameters, ev.MultiValueQueryStringParameters = nil, nil
	ev.RequestContext.Authorizer = nil
	ev.RequestContext.RouteKey = routeKey
	ev.RequestContext.EventType = eventType
	ev.RequestContext.ConnectionID = connID
	ev.RequestContext.RequestID = f.requestID()
	ev.Body = body
	return ev
}

// authorizerEvent is the $connect REQUEST authorizer's event for a
// handshake carrying token in its query string.
func (f *fixtures) authorizerEvent(t *testing.T, connID, token string) edge.AuthorizerRequest {
	t.Helper()
	var ev edge.AuthorizerRequest
	var rest struct {
		Type      string            `json:"type"`
		MethodArn string            `json:"methodArn"`
		Headers   map[string]string `json:"headers"`
	}
	f.decode(t, f.auth, &rest)
	ev.Type, ev.Headers = rest.Type, rest.Headers
	ev.MethodArn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234" + stage + "/$connect"
	ev.QueryStringParameters = map[string]string{"token": token}
	ev.RequestContext = f.wsEvent(t, "$connect", "CONNECT", connID, "").RequestContext
	return ev
}

// httpEvent is an HTTP API (payload 2.0) request for the route method
// route. A route with path parameters takes their values from route's
// query, as in "/api/rooms/{room}/messages?room=bar".
func (f *fixtures) httpEvent(t *testing.T, method, route, body string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	f.decode(t, f.http, &ev)
	path, query, _ := strings.Cut(route, "?")
	ev.RouteKey = method + " " + path
	ev.PathParameters = nil
	if query != "" {
		params, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		ev.PathParameters = map[string]string{}
		for k := range params {
			ev.PathParameters[k] = params.Get(k)
			path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(params.Get(k)))
		}
	}
	ev.RawPath = path
	ev.RequestContext.RouteKey = ev.RouteKey
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.RequestID = f.requestID()
	ev.Headers["content-type"] = "application/json"
	ev.Body = body
	return ev
}
