package testenv

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Tiers a developer may skip by name, in SKIP (comma-separated).
const (
	TierMoto    = "moto"    // DynamoDB and S3 on the wire (moto_server)
	TierCfnLint = "cfnlint" // template linting (cfn-lint)
	TierRIE     = "rie"     // Lambda bootstraps under the runtime interface emulator
	TierBrowser = "browser" // Chromium and the npm packages of the browser tests
	TierAWSCLI  = "awscli"  // the LocalStack walkthrough (aws)
	TierNode    = "node"    // the JS SDK's unit tests (node)
	TierShell   = "shell"   // protocol.md's curl walkthrough (bash, curl, jq)
)

// Skipped reports whether SKIP names tier.
func Skipped(tier string) bool {
	return slices.Contains(strings.Split(os.Getenv("SKIP"), ","), tier)
}

// Missing ends a test whose tier cannot run: it skips when SKIP names the
// tier, and fails with the install hint otherwise.
func Missing(tb testing.TB, tier, what, hint string) {
	tb.Helper()
	if Skipped(tier) {
		tb.Skipf("%s is missing; skipped because SKIP names %q (install it with: %s)", what, tier, hint)
	}
	tb.Fatalf("%s is missing: install it with: %s (or run with SKIP=%s to skip this tier)", what, hint, tier)
}

// Tool returns the path of a command the test needs, ending the test as
// Missing does when it is not on PATH. A tier named in SKIP is skipped
// even when the tool is there, so that SKIP means the same everywhere.
func Tool(tb testing.TB, tier, name, hint string) string {
	tb.Helper()
	if Skipped(tier) {
		tb.Skipf("skipped because SKIP names %q", tier)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, tier, name, hint)
	}
	return path
}
