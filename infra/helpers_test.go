package infra

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// refsIn lists what a node refers to anywhere inside it: !Ref names,
// !GetAtt resources and ${Name} or ${Name.Attr} of !Sub strings (pseudo
// parameters included), each once, sorted.
func refsIn(n *yaml.Node) []string {
	seen := map[string]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		switch n.Tag {
		case "!Ref":
			seen[n.Value] = true
		case "!GetAtt":
			seen[strings.SplitN(n.Value, ".", 2)[0]] = true
		case "!Sub":
			if n.Kind == yaml.ScalarNode {
				for _, m := range subVar.FindAllStringSubmatch(n.Value, -1) {
					seen[strings.SplitN(m[1], ".", 2)[0]] = true
				}
			}
		case "!Condition":
			seen[n.Value] = true
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// referrers lists the resources (and "Globals", "Outputs", "Conditions")
// that refer to name.
func (tpl *template) referrers(name string) []string {
	var out []string
	for _, id := range tpl.ids {
		if slices.Contains(refsIn(tpl.resources[id]), name) {
			out = append(out, id)
		}
	}
	for _, sec := range []string{"Globals", "Outputs", "Conditions"} {
		if slices.Contains(refsIn(child(tpl.root, sec)), name) {
			out = append(out, sec)
		}
	}
	return out
}

// yamlString renders a node back to YAML (short-form tags included), to
// compare a property with how it is meant to be written.
func yamlString(t *testing.T, n *yaml.Node) string {
	t.Helper()
	if n == nil {
		return "<missing>"
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// parsesAs reports whether the YAML src, written as in the template, is
// the same node as n (ignoring style, comments and positions).
func parsesAs(t *testing.T, n *yaml.Node, src string) bool {
	t.Helper()
	var want yaml.Node
	if err := yaml.Unmarshal([]byte(src), &want); err != nil {
		t.Fatalf("bad expectation %q: %v", src, err)
	}
	return n != nil && sameNode(n, want.Content[0])
}

func sameNode(a, b *yaml.Node) bool {
	if a.Kind == yaml.AliasNode {
		a = a.Alias
	}
	if b.Kind == yaml.AliasNode {
		b = b.Alias
	}
	if a.Kind != b.Kind || a.Value != b.Value || len(a.Content) != len(b.Content) || tagOf(a) != tagOf(b) {
		return false
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// tagOf ignores the difference between implicit tags ("" and !!str, say).
func tagOf(n *yaml.Node) string {
	if strings.HasPrefix(n.Tag, "!!") {
		return ""
	}
	return n.Tag
}

// envOf returns a function's own Environment.Variables (Globals aside).
func (tpl *template) envOf(id string) *yaml.Node {
	return tpl.field(id, "Properties", "Environment", "Variables")
}

// param returns a template parameter's node.
func (tpl *template) param(name string) *yaml.Node { return tpl.section("Parameters", name) }
