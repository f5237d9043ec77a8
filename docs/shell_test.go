package docs

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minichatbar/minichat/pkg/testenv"
)

// shellBlock returns the one ```sh block of protocol.md that contains
// every marker.
func shellBlock(t *testing.T, markers ...string) string {
	t.Helper()
	md, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	lines := strings.Split(string(md), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		block := strings.Join(lines[start:i], "\n")
		if !slices.ContainsFunc(markers, func(m string) bool { return !strings.Contains(block, m) }) {
			found = append(found, block)
		}
	}
	if len(found) != 1 {
		t.Fatalf("protocol.md has %d sh blocks containing %q, want 1", len(found), markers)
	}
	return found[0]
}

// needTools fails the shell tier, with the package to install, when a
// command a test runs is not installed (SKIP=shell skips it).
func needTools(t *testing.T, packages map[string]string) {
	t.Helper()
	for _, tool := range slices.Sorted(maps.Keys(packages)) {
		testenv.Tool(t, testenv.TierShell, tool, "apt-get install -y "+packages[tool])
	}
}

// TestCurlUploadAsDocumented runs the upload of protocol.md's walkthrough
// with bash, curl and jq against the real handlers: POST /api/files must
// answer as openapi.yaml says, curl must post every field of the answer
// verbatim and then the file, last, as `file`, and the fileKey the script
// ends with must send as a private-file-message whose link downloads the
// same bytes.
func TestCurlUploadAsDocumented(t *testing.T) {
	needTools(t, map[string]string{"bash": "bash", "curl": "curl", "jq": "jq", "base64": "coreutils", "wc": "coreutils"})
	h := newHarness(t, scenarioLimits)
	alice, bob := h.register("alice"), h.register("bob")
	for conn, token := range map[string]string{"A1": alice.token, "B1": bob.token} {
		if st, _ := h.connect(conn, map[string]string{"token": token}, nil); st != 200 {
			t.Fatalf("connect %s: %d", conn, st)
		}
	}
	api := h.serveAPI()
	script := shellBlock(t, "$API/files", "-F file=@pic.png", "KEY=")
	dir := t.TempDir()
	// The timeout only stops a hung script; nothing is asserted about time.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script+"\nprintf '\\n%s\\n' \"$KEY\"\n")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "API="+api.URL+"/api", "ALICE="+alice.token, "BOB_ID="+bob.id,
		"no_proxy=127.0.0.1", "NO_PROXY=127.0.0.1", "CURL_HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough's upload failed: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := strings.Fields(stdout.String())
	key := out[len(out)-1]

	answers := api.take()
	if len(answers) != 1 || answers[0].method != "POST" || answers[0].path != "/api/files" {
		t.Fatalf("the script made %d API calls (%v), want one POST /api/files", len(answers), answers)
	}
	a := answers[0]
	v := h.checkAnswer("curl POST /api/files", a.op, a.status, a.headers, a.body)
	if a.status != 200 {
		t.Fatalf("POST /api/files from curl: %d %s", a.status, a.body)
	}
	up := v.(map[string]any)
	if up["fileKey"] != key {
		t.Errorf("the script ends with KEY=%q, want the fileKey %v", key, up["fileKey"])
	}
	fields := up["upload"].(map[string]any)["fields"].(map[string]any)
	pic, err := os.ReadFile(filepath.Join(dir, "pic.png"))
	if err != nil {
		t.Fatal(err)
	}
	if typ := http.DetectContentType(pic); typ != "image/png" {
		t.Errorf("the walkthrough's pic.png sniffs as %s", typ)
	}
	forms := h.uploads.take()
	if len(forms) != 1 {
		t.Fatalf("curl posted %d forms to S3, want 1", len(forms))
	}
	form := forms[0]
	if len(form) == 0 {
		t.Fatal("curl posted an empty form")
	}
	if last := form[len(form)-1]; last.name != "file" || last.fileName != "pic.png" || !bytes.Equal(last.value, pic) {
		t.Errorf("the last part is %q (file %q, %d bytes), want the file pic.png as \"file\"", last.name, last.fileName, len(last.value))
	}
	posted := map[string]int{}
	for _, p := range form[:len(form)-1] {
		posted[p.name]++
		want, ok := fields[p.name]
		switch {
		case !ok:
			t.Errorf("curl posted a field %s that the answer does not have", p.name)
		case string(p.value) != want || p.fileName != "":
			t.Errorf("curl posted the field %s=%q (file name %q), want %q as given", p.name, p.value, p.fileName, want)
		}
	}
	for name := range fields {
		if posted[name] != 1 {
			t.Errorf("curl posted the field %s %d times, want once", name, posted[name])
		}
	}

	got := h.send("A1", frame(`{"action":"private-file-message","id":"f1","to":%q,"fileKey":%q,"fileName":"pic.png","fileType":"image/png","messageType":"image"}`, bob.id, key),
		map[string][]string{"A1": {"ack"}, "B1": {"private-file-message"}})
	h.wantDownload("the walkthrough's file", fmt.Sprint(got["B1"][0]["fileUrl"]), "pic.png", pic)
}
