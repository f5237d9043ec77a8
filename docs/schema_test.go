package docs

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemas validates values against the JSON Schemas of one document with
// github.com/santhosh-tekuri/jsonschema/v6, as JSON Schema 2020-12 (the
// dialect of OpenAPI 3.1; the schemas of asyncapi.yaml use only what
// draft-07, AsyncAPI's default, and 2020-12 read alike), with formats
// asserted.
//
// It validates against a closed copy of the document: every schema of
// type object that lists properties and says nothing about others gets
// unevaluatedProperties false (branches of oneOf or if/then that only add
// constraints to such an object are left alone: closed on their own they
// would refuse the object's other fields). The documents stay open, since the protocol
// lets the server add fields and clients must ignore unknown ones; the
// copy is what makes a field the server sends fail the tests until it is
// documented.
type schemas struct {
	url      string
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
}

func compileSchemas(d *document) (*schemas, error) {
	closed := deepCopy(d.root).(map[string]any)
	eachSchema(closed, "", func(s map[string]any, _ string) {
		_, props := s["properties"]
		_, extra := s["additionalProperties"]
		_, uneval := s["unevaluatedProperties"]
		if s["type"] == "object" && props && !extra && !uneval {
			s["unevaluatedProperties"] = false
		}
	})
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s := &schemas{url: "file:///minichat/docs/" + d.name, compiler: c, compiled: map[string]*jsonschema.Schema{}}
	if err := c.AddResource(s.url, closed); err != nil {
		return nil, err
	}
	return s, nil
}

// schema compiles (once) the schema at a JSON pointer of the document.
func (s *schemas) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.compiled[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(s.url + "#" + ptr)
	if err != nil {
		return nil, err
	}
	s.compiled[ptr] = sch
	return sch, nil
}

// validate checks value against the schema at ptr and returns what is
// wrong, each line prefixed with at.
func (s *schemas) validate(ptr string, value any, at string) []string {
	sch, err := s.schema(ptr)
	if err != nil {
		return []string{fmt.Sprintf("%s: the schema at %s does not compile: %v", at, ptr, err)}
	}
	if err := sch.Validate(value); err != nil {
		// The closed copy refuses an unlisted field with a false schema.
		msg := strings.ReplaceAll(err.Error(), ": false schema", ": a field the document does not list")
		return []string{fmt.Sprintf("%s: %s does not validate against %s:\n%s", at, brief(value), ptr, msg)}
	}
	return nil
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// Keywords whose value is a schema, a list of schemas or a map of schemas.
var (
	schemaKeywords     = []string{"items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "not", "contains", "propertyNames", "if", "then", "else"}
	schemaListKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	schemaMapKeywords  = []string{"properties", "patternProperties", "$defs", "dependentSchemas"}
)

// knownKeywords are JSON Schema 2020-12's keywords and the annotations
// OpenAPI and AsyncAPI add; anything else (but x- extensions) in a schema
// is a mistake the validator would silently ignore.
var knownKeywords = append(append(append([]string{
	"$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$comment", "$vocabulary",
	"type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
	"maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
	"maxProperties", "minProperties", "required", "dependentRequired", "format",
	"contentEncoding", "contentMediaType", "contentSchema",
	"title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
	"example", "discriminator", "xml", "externalDocs",
}, schemaKeywords...), schemaListKeywords...), schemaMapKeywords...)

// eachSchema calls f on every schema of a document (found where OpenAPI
// and AsyncAPI put schemas: `schema`, `payload`, components.schemas, the
// ws binding's query and headers) and on every subschema, with its JSON
// pointer.
func eachSchema(root map[string]any, ptr string, f func(s map[string]any, ptr string)) {
	var walkSchema func(v any, ptr string)
	walkSchema = func(v any, ptr string) {
		s, ok := v.(map[string]any)
		if !ok {
			return
		}
		f(s, ptr)
		for _, k := range schemaKeywords {
			walkSchema(s[k], ptr+pointer(k))
		}
		for _, k := range schemaListKeywords {
			list, _ := s[k].([]any)
			for i, e := range list {
				walkSchema(e, ptr+pointer(k, fmt.Sprint(i)))
			}
		}
		for _, k := range schemaMapKeywords {
			m, _ := s[k].(map[string]any)
			for _, name := range sortedKeys(m) {
				walkSchema(m[name], ptr+pointer(k, name))
			}
		}
	}
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(x) {
				p := ptr + pointer(k)
				switch {
				case k == "schema" || k == "payload":
					walkSchema(x[k], p)
				case k == "schemas" && strings.HasSuffix(ptr, "/components"):
					m, _ := x[k].(map[string]any)
					for _, name := range sortedKeys(m) {
						walkSchema(m[name], p+pointer(name))
					}
				case (k == "query" || k == "headers") && strings.HasSuffix(ptr, "/bindings/ws"):
					walkSchema(x[k], p)
				case k == "example" || k == "examples":
					// Instances, not schemas.
				default:
					walk(x[k], p)
				}
			}
		case []any:
			for i, e := range x {
				walk(e, ptr+pointer(fmt.Sprint(i)))
			}
		}
	}
	walk(root, ptr)
}

// branch matches the pointer of a schema that adds constraints to the
// schema it is part of.
var branch = regexp.MustCompile(`/((allOf|anyOf|oneOf)/[0-9]+|if|then|else|not)$`)

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// TestSchemasAreValidAndKnown compiles every schema of both documents
// (which checks it against JSON Schema's metaschema) and refuses keywords
// the validator does not know: a misspelt keyword would otherwise be
// ignored, and the schema pass without checking what it was meant to.
func TestSchemasAreValidAndKnown(t *testing.T) {
	for _, name := range []string{"asyncapi.yaml", "openapi.yaml"} {
		d := loadDocument(t, name)
		n := 0
		eachSchema(d.root, "", func(s map[string]any, ptr string) {
			n++
			for _, k := range slices.Sorted(maps.Keys(s)) {
				if !slices.Contains(knownKeywords, k) && !strings.HasPrefix(k, "x-") {
					t.Errorf("%s %s: unknown schema keyword %q", name, ptr, k)
				}
			}
			if _, err := d.schema(ptr); err != nil {
				t.Errorf("%s %s: %v", name, ptr, err)
			}
			if _, props := s["properties"]; props && s["type"] != "object" && !branch.MatchString(ptr) {
				t.Errorf("%s %s lists properties without type: object, so the tests would not close it", name, ptr)
			}
		})
		if n < 50 {
			t.Errorf("%s: found %d schemas; the walk misses where they are", name, n)
		}
	}
}

// TestClosedSchemasRefuseUndocumentedFields shows that the validator is as
// strict as the tests need: an undocumented field fails, a missing
// required one fails, and a documented frame passes.
func TestClosedSchemasRefuseUndocumentedFields(t *testing.T) {
	d := loadDocument(t, "asyncapi.yaml")
	_, types := wsMessages(t, d)
	pong := types["pong"].payload
	for _, c := range []struct {
		frame map[string]any
		ok    bool
	}{
		{map[string]any{"type": "pong", "id": "p1"}, true},
		{map[string]any{"type": "pong", "id": "p1", "extra": 1.0}, false},
		{map[string]any{"id": "p1"}, false},
		{map[string]any{"type": "ack"}, false},
	} {
		if errs := d.validate(pong, c.frame, "pong"); (len(errs) == 0) != c.ok {
			t.Errorf("%v: valid %t, want %t (%v)", c.frame, len(errs) == 0, c.ok, errs)
		}
	}
}

func TestAsyncAPIExamplesMatchTheirSchemas(t *testing.T) {
	d := loadDocument(t, "asyncapi.yaml")
	actions, types := wsMessages(t, d)
	for _, index := range []map[string]wsMessage{actions, types} {
		for _, m := range index {
			for i, ex := range m.examples {
				v, err := d.at(ex)
				if err != nil {
					t.Error(err)
					continue
				}
				for _, e := range d.validate(m.payload, v, fmt.Sprintf("%s example %d", m.key, i)) {
					t.Error(e)
				}
			}
		}
	}
}

func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	d := loadDocument(t, "openapi.yaml")
	n := 0
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch x := v.(type) {
		case map[string]any:
			if ex, ok := x["example"]; ok {
				if _, ok := x["schema"]; ok {
					n++
					for _, e := range d.validate(ptr+pointer("schema"), ex, ptr+"/example") {
						t.Error(e)
					}
				}
			}
			for _, k := range sortedKeys(x) {
				walk(x[k], ptr+pointer(k))
			}
		case []any:
			for i, e := range x {
				walk(e, ptr+pointer(fmt.Sprint(i)))
			}
		}
	}
	walk(d.root, "")
	if n < 10 {
		t.Errorf("openapi.yaml has %d examples next to schemas; the walk misses them", n)
	}
}

// TestProtocolMarkdownExamplesMatchAsyncAPI checks every ```json block of
// protocol.md: it must be JSON, and a frame (an object with `action` or
// `type`) must validate against its message in asyncapi.yaml.
func TestProtocolMarkdownExamplesMatchAsyncAPI(t *testing.T) {
	d := loadDocument(t, "asyncapi.yaml")
	actions, types := wsMessages(t, d)
	md, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, frames := 0, 0
	lines := strings.Split(string(md), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```json" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		src := strings.Join(lines[start:i], "\n")
		blocks++
		var v any
		if err := json.Unmarshal([]byte(src), &v); err != nil {
			t.Errorf("protocol.md line %d: the json block does not parse: %v", start, err)
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			continue
		}
		var m wsMessage
		switch {
		case obj["action"] != nil:
			m, ok = actions[fmt.Sprint(obj["action"])]
		case obj["type"] != nil:
			m, ok = types[fmt.Sprint(obj["type"])]
		default:
			continue
		}
		frames++
		if !ok {
			// An unknown action is shown on purpose: it must get unknown-action.
			if obj["action"] != nil {
				continue
			}
			t.Errorf("protocol.md line %d: frame type %v is not in asyncapi.yaml", start, obj["type"])
			continue
		}
		for _, e := range d.validate(m.payload, obj, fmt.Sprintf("protocol.md line %d", start)) {
			t.Error(e)
		}
	}
	if blocks == 0 || frames == 0 {
		t.Fatalf("protocol.md: found %d json blocks and %d frames; the examples are gone", blocks, frames)
	}
}
