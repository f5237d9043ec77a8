package functions

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minichatbar/minichat/infra/permissions"
)

const module = "github.com/minichatbar/minichat"

// localOnly are packages of the single-process server and of tests: no
// Lambda bootstrap may link them (the store on Lambda is DynamoDB, pushes
// go through the Management API, metrics go to the log).
var localOnly = []string{
	"go.etcd.io/bbolt",
	module + "/pkg/store/boltstore",
	module + "/pkg/embeds3",
	module + "/pkg/localgw",
	module + "/pkg/localpush",
	module + "/pkg/server",
	module + "/pkg/memlimit",
	module + "/pkg/metrics/prom",
	"github.com/prometheus/client_golang/prometheus",
	module + "/pkg/testenv",
	module + "/pkg/website",
	module + "/web",
	// The SDK's default configuration chain (profiles, SSO, STS): a
	// function reads only its environment (pkg/awsconf).
	"github.com/aws/aws-sdk-go-v2/config",
	module + "/pkg/awsconf/awslocal",
}

// byPermission are clients a bootstrap links only when its permission list
// names the resource they reach: a function that may not read the secret
// or the files does not carry their code either.
var byPermission = map[string]string{
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager": "secret",
	"github.com/aws/aws-sdk-go-v2/service/s3":             "objects",
}

// deps lists the packages pkg links, itself included, built for this
// machine.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	return list(t, exec.Command("go", "list", "-deps", pkg))
}

// lambdaDeps lists what pkg links as `make build` builds it for Lambda:
// linux on arm64, no cgo, the Makefile's build tags.
func lambdaDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", makeVar(t, "LAMBDA_TAGS"), pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	return list(t, cmd)
}

func list(t *testing.T, cmd *exec.Cmd) []string {
	t.Helper()
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return strings.Fields(string(out))
}

// TestBootstrapsLinkOnlyWhatTheyRun holds every function's bootstrap to
// the Lambda wiring: nothing of the local server, and AWS clients only as
// its permissions allow.
func TestBootstrapsLinkOnlyWhatTheyRun(t *testing.T) {
	for _, dir := range functionDirs(t) {
		if dir == "webclient" {
			continue // the deploy-time uploader of the web client, not a chat handler
		}
		linked := lambdaDeps(t, "./functions/"+dir)
		for _, p := range localOnly {
			if slices.Contains(linked, p) {
				t.Errorf("functions/%s links %s, which only the local server runs", dir, p)
			}
		}
		list, err := permissions.Load(repoRoot+"/functions", dir)
		if err != nil {
			t.Fatal(err)
		}
		for p, kind := range byPermission {
			if slices.Contains(linked, p) && len(list[kind]) == 0 {
				t.Errorf("functions/%s links %s although its %s grants nothing on %s", dir, p, permissions.FileName, kind)
			}
		}
	}
}

// TestDomainImportsNoAdapter holds pkg/chat to the domain: no AWS, no wire
// types, no storage or transport of its own. net/http and mime serve only
// to sniff an uploaded file's type (http.DetectContentType).
func TestDomainImportsNoAdapter(t *testing.T) {
	for _, p := range deps(t, "./pkg/chat") {
		switch {
		case strings.HasPrefix(p, "github.com/aws/"),
			strings.HasPrefix(p, module+"/") && p != module+"/pkg/chat",
			p == "go.etcd.io/bbolt",
			strings.HasPrefix(p, "github.com/coder/websocket"),
			strings.HasPrefix(p, "github.com/prometheus/"):
			t.Errorf("pkg/chat links %s", p)
		}
	}
}

// functionDirs are the directories under functions/ with a main package.
func functionDirs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{if eq .Name \"main\"}}{{.Dir}}{{end}}", "./functions/...")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./functions/...: %v", err)
	}
	var dirs []string
	for _, d := range strings.Fields(string(out)) {
		dirs = append(dirs, d[strings.LastIndex(d, "/")+1:])
	}
	if len(dirs) < 10 {
		t.Fatalf("found %d functions under functions/: %v", len(dirs), dirs)
	}
	return dirs
}

// makeVar returns the value of a `NAME := value` line of the Makefile, so
// that the tests build the functions as `make build` does.
func makeVar(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(repoRoot + "/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("the Makefile sets no %s", name)
	}
	return string(m[1])
}

// maxBootstrap is the size every function's bootstrap stays within: what
// Lambda pages in at a cold start.
const maxBootstrap = 10_000_000

// TestBootstrapsAreSmall builds every function as `make build` does and
// holds each bootstrap to maxBootstrap bytes.
func TestBootstrapsAreSmall(t *testing.T) {
	bin := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "build", "BIN_DIR="+bin)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, dir := range functionDirs(t) {
		fi, err := os.Stat(bin + "/" + dir + "/bootstrap")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxBootstrap {
			t.Errorf("functions/%s: bootstrap of %d bytes, more than %d", dir, fi.Size(), maxBootstrap)
		}
	}
}
