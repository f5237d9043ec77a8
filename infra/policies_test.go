package infra

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/permissions"
	"github.com/minichatbar/minichat/infra/templategen"
)

// The generated regions of template.yaml are what the generator makes of
// the repository now: a list changed without `go generate ./infra`, or a
// generated part edited by hand, fails here.
func TestTemplateIsGenerated(t *testing.T) {
	t.Parallel()
	tpl, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := templategen.Generate(tpl, func(dir string) (permissions.List, error) {
		return permissions.Load(functionsDir, dir)
	})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if !bytes.Equal(tpl, want) {
		t.Fatalf("template.yaml is not what `go generate ./infra` makes of the repository; run it. First difference:\n%s", firstDifference(string(tpl), string(want)))
	}
}

// Independently of the generator: each function's Policies grant exactly
// what its permissions.yaml lists, on the resources of its kinds, and
// nothing else: no managed policy, no SAM policy template, no wildcard, no
// role of its own.
func TestPoliciesGrantExactlyThePermissionLists(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	if g := tpl.global(t, "Function", "Policies"); g != nil {
		t.Errorf("Globals.Function.Policies (line %d) would grant every function the same", g.Line)
	}
	for _, fn := range tpl.functions(t) {
		list, err := permissions.Load(functionsDir, fn.dir)
		if err != nil {
			t.Error(err)
			continue
		}
		if r := tpl.field(fn.id, "Properties", "Role"); r != nil {
			t.Errorf("%s: a Role of its own (line %d) escapes its permission list", fn.id, r.Line)
		}
		got, err := grantsOf(tpl.field(fn.id, "Properties", "Policies"))
		if err != nil {
			t.Errorf("%s: %v", fn.id, err)
			continue
		}
		want := list.Grants()
		if !slices.Equal(got, want) {
			t.Errorf("%s grants\n\t%s\nbut functions/%s/%s lists\n\t%s", fn.id,
				joinGrants(got), fn.dir, permissions.FileName, joinGrants(want))
		}
	}
}

// The index kind names the index ChatTable has.
func TestIndexKindIsTheTablesIndex(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	var names []string
	for _, gsi := range tpl.field("ChatTable", "Properties", "GlobalSecondaryIndexes").Content {
		names = append(names, child(gsi, "IndexName").Value)
	}
	if !slices.Equal(names, []string{permissions.Index}) {
		t.Errorf("ChatTable's indexes are %v; the index kind of infra/permissions grants %s only", names, permissions.Index)
	}
}

// No function may scan the table (DESIGN.md: no Scan on a request path),
// and every list parses. Batch writes are bounded (Forget, Subscribe: at
// most 100 items, 4 requests), so they are allowed.
func TestPermissionListsNameNoRequestPathScan(t *testing.T) {
	t.Parallel()
	for _, fn := range loadTemplate(t).functions(t) {
		list, err := permissions.Load(functionsDir, fn.dir)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, g := range list.Grants() {
			if g.Action == "dynamodb:Scan" {
				t.Errorf("functions/%s/%s lists %s: no request path may scan (DESIGN.md)", fn.dir, permissions.FileName, g)
			}
		}
	}
}

// grantsOf reads a SAM Policies property made of inline policy documents
// only, sorted like List.Grants.
func grantsOf(policies *yaml.Node) ([]permissions.Grant, error) {
	if policies == nil {
		return nil, nil
	}
	if policies.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: Policies must be a list of inline policy documents", policies.Line)
	}
	var out []permissions.Grant
	for _, doc := range policies.Content {
		stmts := child(doc, "Statement")
		if doc.Kind != yaml.MappingNode || stmts == nil || stmts.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("line %d: not an inline policy document with a Statement list (managed policies and SAM policy templates grant more than a list says)", doc.Line)
		}
		for _, s := range stmts.Content {
			for i := 0; i+1 < len(s.Content); i += 2 {
				switch k := s.Content[i].Value; k {
				case "Sid", "Effect", "Action", "Resource":
				default:
					return nil, fmt.Errorf("line %d: statement key %s is not one a list makes", s.Content[i].Line, k)
				}
			}
			if e := child(s, "Effect"); e == nil || e.Value != "Allow" {
				return nil, fmt.Errorf("line %d: statement without Effect: Allow", s.Line)
			}
			actions, err := scalars(child(s, "Action"))
			if err != nil {
				return nil, err
			}
			resources, err := resourcesOf(child(s, "Resource"))
			if err != nil {
				return nil, err
			}
			for _, a := range actions {
				if strings.Contains(a, "*") {
					return nil, fmt.Errorf("line %d: wildcard action %q", s.Line, a)
				}
				for _, r := range resources {
					out = append(out, permissions.Grant{Action: a, Resource: r})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b permissions.Grant) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out), nil
}

func scalars(n *yaml.Node) ([]string, error) {
	switch {
	case n == nil:
		return nil, fmt.Errorf("statement without Action")
	case n.Kind == yaml.ScalarNode && !strings.HasPrefix(n.Tag, "!") || n.Tag == "!!str":
		return []string{n.Value}, nil
	case n.Kind == yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag != "!!str" {
				return nil, fmt.Errorf("line %d: Action must be plain strings", c.Line)
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: Action must be a string or a list of strings", n.Line)
}

// resourcesOf accepts only the short-form expressions a list's kinds use
// (so never "*" or a hand-written ARN).
func resourcesOf(n *yaml.Node) ([]permissions.Resource, error) {
	if n == nil {
		return nil, fmt.Errorf("statement without Resource")
	}
	nodes := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		nodes = n.Content
	}
	var out []permissions.Resource
	for _, r := range nodes {
		if r.Kind != yaml.ScalarNode || (r.Tag != "!Ref" && r.Tag != "!GetAtt" && r.Tag != "!Sub") {
			return nil, fmt.Errorf("line %d: resource %q is not a !Ref, !GetAtt or !Sub of a template resource", r.Line, r.Value)
		}
		if strings.Contains(r.Value, "*") && !isKindResource(r) {
			return nil, fmt.Errorf("line %d: wildcard resource %s %q", r.Line, r.Tag, r.Value)
		}
		out = append(out, permissions.Resource{Tag: r.Tag, Value: r.Value})
	}
	return out, nil
}

// isKindResource reports whether r is one of the kinds' resources: the
// only wildcards allowed are theirs (the objects of a bucket, the
// connections of the stage), whose keys and ids are only known at run time.
func isKindResource(r *yaml.Node) bool {
	for _, k := range permissions.Kinds {
		if k.Resource.Tag != r.Tag {
			continue
		}
		if k.Methods == nil && k.Resource.Value == r.Value {
			return true
		}
		for _, m := range k.Methods {
			if fmt.Sprintf(k.Resource.Value, m) == r.Value {
				return true
			}
		}
	}
	return false
}

func joinGrants(gs []permissions.Grant) string {
	if len(gs) == 0 {
		return "(nothing)"
	}
	var s []string
	for _, g := range gs {
		s = append(s, g.String())
	}
	return strings.Join(s, "\n\t")
}

// firstDifference shows a few lines around the first line where a and b
// differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	show := func(ls []string) string {
		return strings.Join(ls[max(0, i-2):min(len(ls), i+4)], "\n")
	}
	return fmt.Sprintf("line %d of template.yaml:\n%s\n--- the generator writes:\n%s", i+1, show(al), show(bl))
}
