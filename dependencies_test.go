package minichat

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDependenciesAreJustified holds docs/dependencies.md to go.mod: every
// direct requirement has a row saying what it is for, and no row names a
// module go.mod no longer requires.
func TestDependenciesAreJustified(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var direct []string
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") && !strings.Contains(line, "// indirect") && f[0] != "module" {
			direct = append(direct, f[0])
		}
	}
	if len(direct) < 5 {
		t.Fatalf("found %d direct requirements in go.mod: %v", len(direct), direct)
	}
	doc, err := os.ReadFile("docs/dependencies.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows = append(rows, m[1])
	}
	for _, d := range direct {
		if !slices.Contains(rows, d) {
			t.Errorf("go.mod requires %s, which docs/dependencies.md does not justify", d)
		}
	}
	for _, r := range rows {
		if !slices.Contains(direct, r) {
			t.Errorf("docs/dependencies.md names %s, which go.mod does not require directly", r)
		}
	}
}
