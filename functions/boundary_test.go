package functions

import (
	"os/exec"
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
}

// byPermission are clients a bootstrap links only when its permission list
// names the resource they reach: a function that may not read the secret
// or the files does not carry their code either.
var byPermission = map[string]string{
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager": "secret",
	"github.com/aws/aws-sdk-go-v2/service/s3":             "objects",
}

// deps lists the packages pkg links, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
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
		linked := deps(t, "./functions/"+dir)
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
