package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"gopkg.in/yaml.v3"
)

// ErrUnresolved reports a reference in the template that does not lead where
// it must (a route whose target is no integration, an integration that
// invokes no function of the template, a function without a local CodeUri).
var ErrUnresolved = errors.New("samtemplate: unresolved reference")

// Template is a parsed SAM template.
type Template struct {
	cf *cloudformation.Template
}

// Function is an AWS::Serverless::Function of the template.
type Function struct {
	LogicalID string
	// CodeURI is the function's source directory relative to the template,
	// normalised without "./" or a trailing slash (e.g. "functions/connect").
	CodeURI string
}

// Load reads and parses the SAM template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: read template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template given as YAML (JSON being a subset of YAML).
func Parse(data []byte) (*Template, error) {
	data, err := dropUnmodelled(data)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	cf, err := goformation.ParseYAMLWithOptions(data, processorOptions())
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return &Template{cf: cf}, nil
}

// Functions returns the template's serverless functions, sorted by logical
// id, but those marked cloud-only (see CloudOnlyKey).
func (t *Template) Functions() ([]Function, error) {
	fns := t.cf.GetAllServerlessFunctionResources()
	out := make([]Function, 0, len(fns))
	for id, fn := range fns {
		if cloudOnly(fn.AWSCloudFormationMetadata) {
			continue
		}
		uri, err := t.codeURI(id)
		if err != nil {
			return nil, err
		}
		out = append(out, Function{LogicalID: id, CodeURI: uri})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out, nil
}

// CloudOnlyKey is the Metadata entry that marks a resource as existing only
// in the deployed stack: Metadata: {Minichat: {CloudOnly: true}}. The web
// client's hosting is such (its bucket, and the function that fills it at
// deploy time): locally the binary serves the web client itself. Functions
// and Buckets leave those resources out, so that local tooling (the local
// gateway, `minichat provision`, the Lambda packaging tests) sees only the
// chat application.
const CloudOnlyKey = "Minichat.CloudOnly"

func cloudOnly(metadata map[string]any) bool {
	m, _ := metadata["Minichat"].(map[string]any)
	v, _ := m["CloudOnly"].(bool)
	return v
}

// codeURI returns the normalised local CodeUri of the function with the
// given logical id.
func (t *Template) codeURI(id string) (string, error) {
	fn, ok := t.cf.GetAllServerlessFunctionResources()[id]
	if !ok {
		return "", fmt.Errorf("%w: %s is not an AWS::Serverless::Function", ErrUnresolved, id)
	}
	var uri string
	if fn.CodeUri != nil {
		uri = literal(fn.CodeUri.String)
	}
	if uri == "" || strings.Contains(uri, "://") {
		return "", fmt.Errorf("%w: function %s has no local CodeUri", ErrUnresolved, id)
	}
	return NormaliseCodeURI(uri), nil
}

// NormaliseCodeURI turns a CodeUri as written in a template ("./functions/connect/")
// into the form used as a key everywhere ("functions/connect").
func NormaliseCodeURI(uri string) string {
	return strings.TrimPrefix(path.Clean(strings.TrimSpace(uri)), "./")
}

// functionIn returns the one serverless function that v refers to.
func (t *Template) functionIn(v *string) (string, bool) {
	fns := t.cf.GetAllServerlessFunctionResources()
	for _, id := range refs(v) {
		if _, ok := fns[id]; ok {
			return id, true
		}
	}
	return "", false
}

// unmodelled are properties that SAM takes and goformation's types do not
// (so that it refuses the whole template), by resource type. None is one
// local tooling needs. goformation v7.14.9 names HttpApi's
// AccessLogSettings "AccessLogSetting".
var unmodelled = map[string][]string{
	"AWS::Serverless::HttpApi": {"AccessLogSettings"},
}

// dropUnmodelled removes the unmodelled properties from the template's
// resources; data comes back untouched when it has none.
func dropUnmodelled(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 {
		return data, nil // goformation reports what is wrong with it
	}
	res := mapValue(doc.Content[0], "Resources")
	dropped := false
	for i := 0; res != nil && i+1 < len(res.Content); i += 2 {
		r := res.Content[i+1]
		typ := mapValue(r, "Type")
		props := mapValue(r, "Properties")
		if typ == nil || props == nil || props.Kind != yaml.MappingNode {
			continue
		}
		for _, name := range unmodelled[typ.Value] {
			for j := 0; j+1 < len(props.Content); j += 2 {
				if props.Content[j].Value == name {
					props.Content = append(props.Content[:j], props.Content[j+2:]...)
					dropped = true
					break
				}
			}
		}
	}
	if !dropped {
		return data, nil
	}
	return yaml.Marshal(&doc)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
