package docs

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/protocol"
)

// plannedMark is the extension both YAML documents put on parts of the
// protocol that are not built yet.
const plannedMark = "x-minichat-status"

// document is a YAML document as encoding/json would hold it: numbers are
// float64, so schemas, examples and real frames compare alike. Its schemas
// are checked with the validator of schema_test.go.
type document struct {
	name string
	root map[string]any
	*schemas
}

func loadDocument(t *testing.T, name string) *document {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	var y any
	if err := yaml.Unmarshal(data, &y); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	j, err := json.Marshal(y)
	if err != nil {
		t.Fatalf("%s does not convert to JSON: %v", name, err)
	}
	d := &document{name: name}
	if err := json.Unmarshal(j, &d.root); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if d.schemas, err = compileSchemas(d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// pointer is the JSON pointer of the path segs ("/paths/~1api~1users").
func pointer(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// at returns the value at a JSON pointer of the document ("" is the root).
func (d *document) at(ptr string) (any, error) {
	var cur any = d.root
	if ptr == "" {
		return cur, nil
	}
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, fmt.Errorf("%s: %q does not resolve", d.name, ptr)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%s: %q does not resolve", d.name, ptr)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%s: %q does not resolve", d.name, ptr)
		}
	}
	return cur, nil
}

// object returns the object at ptr, following $ref (only local references
// are allowed), and the pointer it was found at.
func (d *document) object(t *testing.T, ptr, what string) (map[string]any, string) {
	t.Helper()
	for range 16 {
		v, err := d.at(ptr)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not an object", d.name, what)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		if ptr, ok = strings.CutPrefix(ref, "#"); !ok {
			t.Fatalf("%s: %s: only local references are supported, not %q", d.name, what, ref)
		}
	}
	t.Fatalf("%s: %s: $ref chain too long", d.name, what)
	return nil, ""
}

// ---------------------------------------------------------------- AsyncAPI

// wsMessage is a message of asyncapi.yaml: a client action or a server frame.
type wsMessage struct {
	key     string
	planned bool
	// payload is the pointer of the payload's schema.
	payload string
	// examples are the pointers of the payloads of its examples.
	examples []string
}

// wsMessages indexes asyncapi.yaml's messages by the `action` const of
// their payload (client frames) and by the `type` const (server frames).
func wsMessages(t *testing.T, d *document) (actions, types map[string]wsMessage) {
	t.Helper()
	actions, types = map[string]wsMessage{}, map[string]wsMessage{}
	msgs, msgsPtr := d.object(t, pointer("components", "messages"), "components.messages")
	for _, key := range sortedKeys(msgs) {
		m, mPtr := d.object(t, msgsPtr+pointer(key), "message "+key)
		payload, _ := d.object(t, mPtr+pointer("payload"), "payload of "+key)
		props, _ := payload["properties"].(map[string]any)
		wm := wsMessage{key: key, planned: m[plannedMark] == "planned", payload: mPtr + pointer("payload")}
		exs, _ := m["examples"].([]any)
		for i := range exs {
			_, exPtr := d.object(t, mPtr+pointer("examples", strconv.Itoa(i)), fmt.Sprintf("example %d of %s", i, key))
			wm.examples = append(wm.examples, exPtr+pointer("payload"))
		}
		if len(wm.examples) == 0 {
			t.Errorf("asyncapi.yaml: message %s has no example", key)
		}
		var target map[string]wsMessage
		var name string
		for field, index := range map[string]map[string]wsMessage{"action": actions, "type": types} {
			if p, ok := props[field].(map[string]any); ok {
				if c, ok := p["const"].(string); ok {
					target, name = index, c
				}
			}
		}
		if target == nil {
			t.Errorf("asyncapi.yaml: the payload of message %s has no `action` or `type` const", key)
			continue
		}
		if prev, dup := target[name]; dup {
			t.Errorf("asyncapi.yaml: messages %s and %s both describe %q", prev.key, key, name)
		}
		target[name] = wm
	}
	return actions, types
}

// ---------------------------------------------------------------- OpenAPI

// httpOperation is an operation of openapi.yaml.
type httpOperation struct {
	method, path string
	op           map[string]any
	ptr          string
	planned      bool
}

func (o httpOperation) routeKey() string { return o.method + " " + o.path }

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// httpOperations indexes openapi.yaml's operations by route key ("GET /api/users").
func httpOperations(t *testing.T, d *document) map[string]httpOperation {
	t.Helper()
	paths, ok := d.root["paths"].(map[string]any)
	if !ok {
		t.Fatalf("openapi.yaml has no paths")
	}
	out := map[string]httpOperation{}
	for p := range paths {
		pi, piPtr := d.object(t, pointer("paths", p), "path "+p)
		for _, m := range httpMethods {
			if _, ok := pi[m]; !ok {
				continue
			}
			op, opPtr := d.object(t, piPtr+pointer(m), m+" "+p)
			o := httpOperation{method: strings.ToUpper(m), path: p, op: op, ptr: opPtr, planned: op[plannedMark] == "planned"}
			out[o.routeKey()] = o
		}
	}
	return out
}

// documentedResponse is a response of an operation: the pointer of its JSON
// body's schema ("" when it has no body) and its headers' schemas, by
// lower-case name.
type documentedResponse struct {
	body     string
	headers  map[string]string
	required []string
}

// response returns the documented response of o for status.
func (o httpOperation) response(t *testing.T, d *document, status int) (documentedResponse, bool) {
	t.Helper()
	resps, respsPtr := d.object(t, o.ptr+pointer("responses"), "responses of "+o.routeKey())
	if _, ok := resps[strconv.Itoa(status)]; !ok {
		return documentedResponse{}, false
	}
	what := fmt.Sprintf("response %d of %s", status, o.routeKey())
	r, rPtr := d.object(t, respsPtr+pointer(strconv.Itoa(status)), what)
	out := documentedResponse{headers: map[string]string{}}
	if hs, ok := r["headers"].(map[string]any); ok {
		for _, name := range sortedKeys(hs) {
			h, hPtr := d.object(t, rPtr+pointer("headers", name), "header "+name+" of "+what)
			out.headers[strings.ToLower(name)] = hPtr + pointer("schema")
			if h["required"] == true {
				out.required = append(out.required, strings.ToLower(name))
			}
		}
	}
	if content, ok := r["content"].(map[string]any); ok {
		if _, ok := content["application/json"]; !ok {
			t.Fatalf("%s: %s has content but no application/json", d.name, what)
		}
		_, mediaPtr := d.object(t, rPtr+pointer("content", "application/json"), "application/json of "+what)
		out.body = mediaPtr + pointer("schema")
	}
	return out, true
}

// ---------------------------------------------------------------- pkg/protocol

// protocolConstants reads pkg/protocol's source and returns its string
// constants by prefix (Action, Type, Code, Event), name -> value. Reading
// the source rather than a hand-made list is what makes a new constant
// fail this test until it is documented.
func protocolConstants(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := filepath.Glob("../pkg/protocol/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no source in ../pkg/protocol: %v", err)
	}
	out := map[string]map[string]string{"Action": {}, "Type": {}, "Code": {}, "Event": {}}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: %v", id.Name, err)
					}
					for prefix, set := range out {
						if strings.HasPrefix(id.Name, prefix) {
							set[id.Name] = v
						}
					}
				}
			}
		}
	}
	// The parse must see what the compiler sees.
	for name, want := range map[string]string{
		"ActionLogin": protocol.ActionLogin, "TypeUpdate": protocol.TypeUpdate,
		"CodeInternal": protocol.CodeInternal, "EventLeave": protocol.EventLeave,
		"ActionTyping": protocol.ActionTyping, "TypePresenceState": protocol.TypePresenceState,
	} {
		found := false
		for _, set := range out {
			if set[name] == want {
				found = true
			}
		}
		if !found {
			t.Fatalf("parsing pkg/protocol did not find %s = %q", name, want)
		}
	}
	return out
}

func valueSet(m map[string]string) []string {
	return slices.Sorted(maps.Values(m))
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func enumOf(t *testing.T, d *document, ptr string) []string {
	t.Helper()
	s, _ := d.object(t, ptr, ptr)
	list, _ := s["enum"].([]any)
	var out []string
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------- names

func TestAsyncAPIDescribesEveryAction(t *testing.T) {
	actions, _ := wsMessages(t, loadDocument(t, "asyncapi.yaml"))
	want := valueSet(protocolConstants(t)["Action"])
	if got := sortedKeys(actions); !slices.Equal(got, want) {
		t.Errorf("asyncapi.yaml client actions = %v, pkg/protocol Action* = %v", got, want)
	}
}

func TestAsyncAPIDescribesEveryFrameType(t *testing.T) {
	_, types := wsMessages(t, loadDocument(t, "asyncapi.yaml"))
	want := valueSet(protocolConstants(t)["Type"])
	if got := sortedKeys(types); !slices.Equal(got, want) {
		t.Errorf("asyncapi.yaml server frame types = %v, pkg/protocol Type* = %v", got, want)
	}
}

func TestDocumentsNameEveryErrorCodeAndEvent(t *testing.T) {
	consts := protocolConstants(t)
	async, open := loadDocument(t, "asyncapi.yaml"), loadDocument(t, "openapi.yaml")
	codes, evs := valueSet(consts["Code"]), valueSet(consts["Event"])
	for _, c := range []struct {
		d    *document
		ptr  string
		want []string
	}{
		{async, pointer("components", "schemas", "ErrorCode"), codes},
		{open, pointer("components", "schemas", "Error", "properties", "code"), codes},
		{async, pointer("components", "schemas", "Notice", "properties", "event"), evs},
	} {
		if got := enumOf(t, c.d, c.ptr); !slices.Equal(got, c.want) {
			t.Errorf("%s %s = %v, pkg/protocol has %v", c.d.name, c.ptr, got, c.want)
		}
	}
	md, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if !strings.Contains(string(md), "| `"+c+"` |") {
			t.Errorf("protocol.md's error table has no row for %q", c)
		}
	}
}

func TestOpenAPIPathsAreTheTemplateRoutes(t *testing.T) {
	tpl, err := samtemplate.Load("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	routes, err := tpl.HTTPRoutes()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range routes {
		want = append(want, r.RouteKey())
	}
	slices.Sort(want)
	got := sortedKeys(httpOperations(t, loadDocument(t, "openapi.yaml")))
	if !slices.Equal(got, want) {
		t.Errorf("openapi.yaml operations = %v\ntemplate.yaml HttpApi events = %v", got, want)
	}
}
