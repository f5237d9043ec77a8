package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/samtemplate"
	"github.com/minichatbar/minichat/pkg/auth"
	"github.com/minichatbar/minichat/pkg/chat"
	"github.com/minichatbar/minichat/pkg/chat/filestest"
	"github.com/minichatbar/minichat/pkg/edge"
	"github.com/minichatbar/minichat/pkg/embeds3"
	"github.com/minichatbar/minichat/pkg/memlimit"
	"github.com/minichatbar/minichat/pkg/protocol"
	"github.com/minichatbar/minichat/pkg/s3files"
	"github.com/minichatbar/minichat/pkg/store/boltstore"
	"github.com/minichatbar/minichat/pkg/testenv"
)

// plannedMark is the extension both YAML documents put on parts of
// protocol v1 that are not built yet.
const plannedMark = "x-minichat-status"

// ---------------------------------------------------------------- documents

// document is a YAML document as encoding/json would hold it: numbers are
// float64, so schemas, examples and real frames compare alike.
type document struct {
	name string
	root map[string]any
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
	return d
}

// resolve follows a local JSON pointer ("#/components/schemas/Seat").
func (d *document) resolve(ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%s: only local references are supported, not %q", d.name, ref)
	}
	var cur any = d.root
	for _, seg := range strings.Split(p, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %q does not resolve", d.name, ref)
		}
		if cur, ok = m[seg]; !ok {
			return nil, fmt.Errorf("%s: %q does not resolve", d.name, ref)
		}
	}
	return cur, nil
}

// object returns v as an object, following $ref.
func (d *document) object(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not an object", d.name, what)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var err error
		if v, err = d.resolve(ref); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	t.Fatalf("%s: %s: $ref chain too long", d.name, what)
	return nil
}

// ---------------------------------------------------------------- schemas

// validate checks value against schema with the subset of JSON Schema these
// documents use. A keyword outside the subset is reported, so a schema can
// never pass because part of it was skipped. With strict set, an object may
// hold only the properties its schema lists: the documents leave objects
// open, as the protocol allows extra fields, but every field the server
// sends must be documented.
func (d *document) validate(schema, value any, at string, strict bool) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return []string{at + ": schema is not an object"}
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	num := func(k string) (float64, bool) { f, ok := s[k].(float64); return f, ok }
	for _, k := range slices.Sorted(maps.Keys(s)) {
		kw := s[k]
		switch k {
		case "$ref":
			target, err := d.resolve(fmt.Sprint(kw))
			if err != nil {
				fail("%v", err)
				continue
			}
			errs = append(errs, d.validate(target, value, at, strict)...)
		case "type":
			if !hasType(kw, value) {
				fail("%s is not of type %v", brief(value), kw)
			}
		case "const":
			if !reflect.DeepEqual(kw, value) {
				fail("%s is not %v", brief(value), kw)
			}
		case "enum":
			list, _ := kw.([]any)
			if !slices.ContainsFunc(list, func(e any) bool { return reflect.DeepEqual(e, value) }) {
				fail("%s is not one of %v", brief(value), list)
			}
		case "oneOf":
			list, _ := kw.([]any)
			n := 0
			for _, sub := range list {
				if len(d.validate(sub, value, at, strict)) == 0 {
					n++
				}
			}
			if n != 1 {
				fail("%s matches %d of the oneOf schemas, want 1", brief(value), n)
			}
		case "properties", "required", "additionalProperties", "items",
			"minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum":
			// Checked below, by the kind of value.
		case "format", "default", "description", "title", "examples", "example":
			// Annotations.
		default:
			if !strings.HasPrefix(k, "x-") {
				fail("unsupported schema keyword %q", k)
			}
		}
	}
	switch v := value.(type) {
	case map[string]any:
		errs = append(errs, d.validateObject(s, v, at, strict)...)
	case []any:
		if n, ok := num("minItems"); ok && float64(len(v)) < n {
			fail("%d items, want at least %v", len(v), n)
		}
		if n, ok := num("maxItems"); ok && float64(len(v)) > n {
			fail("%d items, want at most %v", len(v), n)
		}
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, d.validate(items, e, fmt.Sprintf("%s[%d]", at, i), strict)...)
			}
		}
	case string:
		n := float64(utf8.RuneCountInString(v))
		if min, ok := num("minLength"); ok && n < min {
			fail("%q is shorter than %v", v, min)
		}
		if max, ok := num("maxLength"); ok && n > max {
			fail("%q is longer than %v", v, max)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				fail("pattern %q: %v", p, err)
			} else if !re.MatchString(v) {
				fail("%q does not match %s", v, p)
			}
		}
	case float64:
		if min, ok := num("minimum"); ok && v < min {
			fail("%v is below %v", v, min)
		}
		if max, ok := num("maximum"); ok && v > max {
			fail("%v is above %v", v, max)
		}
	}
	return errs
}

func (d *document) validateObject(s, v map[string]any, at string, strict bool) []string {
	var errs []string
	props, _ := s["properties"].(map[string]any)
	_, listsProps := s["properties"]
	req, _ := s["required"].([]any)
	for _, r := range req {
		if _, ok := v[fmt.Sprint(r)]; !ok {
			errs = append(errs, fmt.Sprintf("%s: required property %q is missing", at, r))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if p, ok := props[k]; ok {
			errs = append(errs, d.validate(p, v[k], at+"."+k, strict)...)
			continue
		}
		switch extra := s["additionalProperties"].(type) {
		case map[string]any:
			errs = append(errs, d.validate(extra, v[k], at+"."+k, strict)...)
		case bool:
			if !extra {
				errs = append(errs, fmt.Sprintf("%s: property %q is not allowed", at, k))
			}
		default:
			if strict && listsProps {
				errs = append(errs, fmt.Sprintf("%s: property %q is not documented", at, k))
			}
		}
	}
	return errs
}

func hasType(kw, value any) bool {
	types, ok := kw.([]any)
	if !ok {
		types = []any{kw}
	}
	for _, t := range types {
		switch t {
		case "string":
			if _, ok := value.(string); ok {
				return true
			}
		case "integer":
			if f, ok := value.(float64); ok && f == math.Trunc(f) {
				return true
			}
		case "number":
			if _, ok := value.(float64); ok {
				return true
			}
		case "boolean":
			if _, ok := value.(bool); ok {
				return true
			}
		case "object":
			if _, ok := value.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := value.([]any); ok {
				return true
			}
		case "null":
			if value == nil {
				return true
			}
		}
	}
	return false
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// ---------------------------------------------------------------- AsyncAPI

// wsMessage is a message of asyncapi.yaml: a client action or a server frame.
type wsMessage struct {
	key      string
	planned  bool
	payload  any
	examples []any
}

// wsMessages indexes asyncapi.yaml's messages by the `action` const of
// their payload (client frames) and by the `type` const (server frames).
func wsMessages(t *testing.T, d *document) (actions, types map[string]wsMessage) {
	t.Helper()
	actions, types = map[string]wsMessage{}, map[string]wsMessage{}
	msgs := d.object(t, d.root["components"], "components")["messages"]
	for key, raw := range d.object(t, msgs, "components.messages") {
		m := d.object(t, raw, "message "+key)
		payload := d.object(t, m["payload"], "payload of "+key)
		props, _ := payload["properties"].(map[string]any)
		wm := wsMessage{key: key, planned: m[plannedMark] == "planned", payload: m["payload"]}
		exs, _ := m["examples"].([]any)
		for i, ex := range exs {
			e := d.object(t, ex, fmt.Sprintf("example %d of %s", i, key))
			wm.examples = append(wm.examples, e["payload"])
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
	for p, item := range paths {
		pi := d.object(t, item, "path "+p)
		for _, m := range httpMethods {
			raw, ok := pi[m]
			if !ok {
				continue
			}
			op := d.object(t, raw, m+" "+p)
			o := httpOperation{method: strings.ToUpper(m), path: p, op: op, planned: op[plannedMark] == "planned"}
			out[o.routeKey()] = o
		}
	}
	return out
}

// response returns the documented response of op for status, and its JSON
// schema (nil when the response has no body).
func (o httpOperation) response(t *testing.T, d *document, status int) (documented bool, schema any) {
	t.Helper()
	resps := d.object(t, o.op["responses"], "responses of "+o.routeKey())
	raw, ok := resps[strconv.Itoa(status)]
	if !ok {
		return false, nil
	}
	r := d.object(t, raw, fmt.Sprintf("response %d of %s", status, o.routeKey()))
	content, ok := r["content"].(map[string]any)
	if !ok {
		return true, nil
	}
	media := d.object(t, content["application/json"], fmt.Sprintf("application/json of response %d of %s", status, o.routeKey()))
	return true, media["schema"]
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

func enumOf(t *testing.T, d *document, schemaRef string) []string {
	t.Helper()
	v, err := d.resolve(schemaRef)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := d.object(t, v, schemaRef)["enum"].([]any)
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
		ref  string
		want []string
	}{
		{async, "#/components/schemas/ErrorCode", codes},
		{open, "#/components/schemas/Error/properties/code", codes},
		{async, "#/components/schemas/Notice/properties/event", evs},
	} {
		if got := enumOf(t, c.d, c.ref); !slices.Equal(got, c.want) {
			t.Errorf("%s %s = %v, pkg/protocol has %v", c.d.name, c.ref, got, c.want)
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

// TestPlannedMarksMatchWhatIsServed checks that the server serves exactly
// the routes and actions the documents call built.
func TestPlannedMarksMatchWhatIsServed(t *testing.T) {
	h := newHarness(t)
	for key, op := range h.ops {
		ev := events.APIGatewayV2HTTPRequest{RouteKey: key, RawPath: op.path}
		resp, err := h.http.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		served := !(resp.StatusCode == 404 && strings.Contains(resp.Body, "no such route"))
		switch {
		case served && op.planned:
			t.Errorf("pkg/edge serves %s now: drop %s from it in openapi.yaml and document it in protocol.md", key, plannedMark)
		case !served && !op.planned:
			t.Errorf("pkg/edge does not serve %s, which openapi.yaml documents as built", key)
		}
	}
	served := h.ws.Actions()
	for action, m := range h.actions {
		switch in := slices.Contains(served, action); {
		case in && m.planned:
			t.Errorf("pkg/edge serves action %q now: drop %s from it in asyncapi.yaml and document it in protocol.md", action, plannedMark)
		case !in && !m.planned:
			t.Errorf("pkg/edge does not serve action %q, which asyncapi.yaml documents as built", action)
		}
	}
	for _, a := range served {
		if _, ok := h.actions[a]; !ok {
			t.Errorf("pkg/edge serves action %q, which asyncapi.yaml does not describe", a)
		}
	}
}

// ---------------------------------------------------------------- examples

func TestAsyncAPIExamplesMatchTheirSchemas(t *testing.T) {
	d := loadDocument(t, "asyncapi.yaml")
	actions, types := wsMessages(t, d)
	for _, index := range []map[string]wsMessage{actions, types} {
		for _, m := range index {
			for i, ex := range m.examples {
				for _, e := range d.validate(m.payload, ex, fmt.Sprintf("%s example %d", m.key, i), true) {
					t.Error(e)
				}
			}
		}
	}
}

func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	d := loadDocument(t, "openapi.yaml")
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ex, ok := x["example"]; ok {
				if schema, ok := x["schema"]; ok {
					for _, e := range d.validate(schema, ex, at+".example", true) {
						t.Error(e)
					}
				}
			}
			for _, k := range sortedKeys(x) {
				walk(x[k], at+"."+k)
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	walk(d.root, "openapi")
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
		for _, e := range d.validate(m.payload, obj, fmt.Sprintf("protocol.md line %d", start), true) {
			t.Error(e)
		}
	}
	if blocks == 0 || frames == 0 {
		t.Fatalf("protocol.md: found %d json blocks and %d frames; the examples are gone", blocks, frames)
	}
}

// ---------------------------------------------------------------- the server, as built

// recorder is a Pusher that keeps every frame per connection.
type recorder struct {
	mu     sync.Mutex
	frames map[string][][]byte
}

func (r *recorder) Push(_ context.Context, connID string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames[connID] = append(r.frames[connID], slices.Clone(data))
	return nil
}

func (r *recorder) Disconnect(context.Context, string) error { return nil }

func (r *recorder) Alive(context.Context, string) (bool, error) { return true, nil }

func (r *recorder) take() map[string][][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.frames
	r.frames = map[string][][]byte{}
	return f
}

// part is one part of a multipart form, as a client sent it.
type part struct {
	name, fileName string
	value          []byte
}

// formRecorder serves the embedded S3 and keeps every multipart form
// POSTed to it, parts in order, so a test sees exactly what a client
// uploaded.
type formRecorder struct {
	next  http.Handler
	mu    sync.Mutex
	forms [][]part
}

func (f *formRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && r.Method == http.MethodPost && mt == "multipart/form-data" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var parts []part
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			v, _ := io.ReadAll(p)
			parts = append(parts, part{name: p.FormName(), fileName: p.FileName(), value: v})
		}
		f.mu.Lock()
		f.forms = append(f.forms, parts)
		f.mu.Unlock()
	}
	f.next.ServeHTTP(w, r)
}

func (f *formRecorder) take() [][]part {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.forms
	f.forms = nil
	return out
}

// harness runs the real edge handlers over a bbolt store and an embedded
// S3, and checks every frame and HTTP answer against the documents.
type harness struct {
	t       *testing.T
	async   *document
	open    *document
	actions map[string]wsMessage
	types   map[string]wsMessage
	ops     map[string]httpOperation
	ws      *edge.WebSocket
	http    *edge.HTTP
	tokens  *auth.JWTTokens
	push    *recorder
	seen    map[string]bool
	calls   atomic.Int64
	// pushed holds the frames of the last HTTP call.
	pushed map[string][]map[string]any
	// s3URL is the embedded S3's endpoint; uploads holds the forms posted to it.
	s3URL   string
	uploads *formRecorder
}

const (
	testOrigin = "http://127.0.0.1:8080"
	// testBucket is the bucket `make run` uses.
	testBucket = "minichat-files"
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	tokens, err := auth.NewJWTTokens([]byte("docs-test-secret-docs-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := embeds3.Open("", testBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := objects.Close(); err != nil {
			t.Error(err)
		}
	})
	uploads := &formRecorder{next: objects}
	s3srv := httptest.NewServer(uploads)
	t.Cleanup(s3srv.Close)
	files := s3files.New(testenv.S3Client(s3srv.URL), testBucket)
	push := &recorder{frames: map[string][][]byte{}}
	log := slog.New(slog.DiscardHandler)
	svc, err := chat.NewService(chat.Config{
		Store: store, Limiter: memlimit.New(), Pusher: push, Encoder: edge.Wire{}, Tokens: tokens, Files: files,
		Passwords: auth.BcryptPasswords{Cost: bcrypt.MinCost},
		// The scenario sends more than the default burst; the rate limit
		// has its own tests in pkg/chat.
		Limits: chat.Limits{SendRate: 1000, SendBurst: 1000, RegistersPerIP: 100},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	origins := edge.Origins{testOrigin}
	h := &harness{
		t: t, async: loadDocument(t, "asyncapi.yaml"), open: loadDocument(t, "openapi.yaml"),
		ws: edge.NewWebSocket(svc, push, origins, log), http: edge.NewHTTP(svc, origins, log),
		tokens: tokens, push: push, seen: map[string]bool{}, s3URL: s3srv.URL, uploads: uploads,
	}
	h.actions, h.types = wsMessages(t, h.async)
	h.ops = httpOperations(t, h.open)
	return h
}

func (h *harness) requestID() string {
	return fmt.Sprintf("req-%d", h.calls.Add(1))
}

func (h *harness) wsEvent(conn, route, eventType, body string) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: conn, RouteKey: route, EventType: eventType, RequestID: h.requestID(),
			Identity: events.APIGatewayRequestIdentity{SourceIP: "192.0.2.10"},
		},
		Body: body,
	}
}

// connect runs $connect and returns the handshake status and the echoed
// subprotocol.
func (h *harness) connect(conn string, query, headers map[string]string) (int, string) {
	h.t.Helper()
	ev := h.wsEvent(conn, "$connect", "CONNECT", "")
	ev.QueryStringParameters, ev.Headers = query, headers
	resp, err := h.ws.Connect(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("$connect %s: %v", conn, err)
	}
	h.frames("$connect "+conn, map[string][]string{})
	return resp.StatusCode, resp.Headers["Sec-WebSocket-Protocol"]
}

// send delivers frame from conn through the route API Gateway would pick,
// and returns what every connection received.
func (h *harness) send(conn, frame string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	var probe struct {
		Action string `json:"action"`
	}
	route, handler := "$default", edge.WSHandler(h.ws.Default)
	if json.Unmarshal([]byte(frame), &probe) == nil && slices.Contains(h.ws.Actions(), probe.Action) {
		route, handler = probe.Action, h.ws.Action(probe.Action)
	}
	resp, err := handler(context.Background(), h.wsEvent(conn, route, "MESSAGE", frame))
	if err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("%s from %s: status %d, %v", frame, conn, resp.StatusCode, err)
	}
	return h.frames(frame, want)
}

func (h *harness) disconnect(conn string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	if _, err := h.ws.Disconnect(context.Background(), h.wsEvent(conn, "$disconnect", "DISCONNECT", "")); err != nil {
		h.t.Fatalf("$disconnect %s: %v", conn, err)
	}
	return h.frames("$disconnect "+conn, want)
}

// frames takes what was pushed and checks every frame against
// asyncapi.yaml; unless want is nil, it also checks that each connection
// got frames of exactly the wanted types, in order (connections not in want
// got nothing).
func (h *harness) frames(step string, want map[string][]string) map[string][]map[string]any {
	h.t.Helper()
	out := map[string][]map[string]any{}
	for conn, list := range h.push.take() {
		for _, raw := range list {
			var f map[string]any
			if err := json.Unmarshal(raw, &f); err != nil {
				h.t.Errorf("%s: %s got a frame that is not a JSON object: %s", step, conn, raw)
				continue
			}
			typ := fmt.Sprint(f["type"])
			out[conn] = append(out[conn], f)
			m, ok := h.types[typ]
			switch {
			case !ok:
				h.t.Errorf("%s: the server sent frame type %q, which asyncapi.yaml does not describe", step, typ)
				continue
			case m.planned:
				h.t.Errorf("%s: the server sent %q, which asyncapi.yaml marks planned", step, typ)
			}
			h.seen[typ] = true
			for _, e := range h.async.validate(m.payload, f, step+" -> "+conn+" "+typ, true) {
				h.t.Error(e)
			}
		}
	}
	if want != nil {
		h.wantFrames(step, out, want)
	}
	return out
}

// wantFrames checks that each connection got frames of exactly the wanted
// types, in order, and that connections not in want got nothing.
func (h *harness) wantFrames(step string, got map[string][]map[string]any, want map[string][]string) {
	h.t.Helper()
	types := func(fs []map[string]any) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprint(f["type"]))
		}
		return out
	}
	for _, conn := range slices.Sorted(maps.Keys(got)) {
		if g := types(got[conn]); !slices.Equal(g, want[conn]) {
			h.t.Errorf("%s: %s got %v, want %v", step, conn, g, want[conn])
		}
	}
	for conn, w := range want {
		if len(w) > 0 && len(got[conn]) == 0 {
			h.t.Errorf("%s: %s got nothing, want %v", step, conn, w)
		}
	}
}

// call sends an HTTP API request as API Gateway would (the route key from
// openapi.yaml's matching path) and checks the status and body against the
// operation's documented responses. The frames the request pushed are
// checked against asyncapi.yaml and kept in h.pushed.
func (h *harness) call(method, target, token, body string) (int, any) {
	h.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		h.t.Fatal(err)
	}
	headers := map[string]string{"content-type": "application/json", "origin": testOrigin}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	op, ev, ok := h.event(method, u, headers, body)
	if !ok {
		h.t.Fatalf("openapi.yaml has no operation for %s %s", method, u.Path)
	}
	resp, err := h.http.Handle(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, target, err)
	}
	step := fmt.Sprintf("%s %s -> %d", method, target, resp.StatusCode)
	h.pushed = h.frames(step, nil)
	return resp.StatusCode, h.checkAnswer(step, op, resp.StatusCode, resp.Body)
}

// event is the API Gateway event of an HTTP request, routed by the
// operation of openapi.yaml whose path matches.
func (h *harness) event(method string, u *url.URL, headers map[string]string, body string) (httpOperation, events.APIGatewayV2HTTPRequest, bool) {
	var op httpOperation
	var params map[string]string
	for _, o := range h.ops {
		if p, ok := matchPath(o.path, u.Path); ok && o.method == method {
			op, params = o, p
		}
	}
	if op.op == nil {
		return op, events.APIGatewayV2HTTPRequest{}, false
	}
	query := map[string]string{}
	for k, v := range u.Query() {
		query[k] = v[0]
	}
	return op, events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: op.routeKey(), RawPath: u.Path, RawQueryString: u.RawQuery,
		Headers: headers, QueryStringParameters: query, PathParameters: params, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: op.routeKey(), RequestID: h.requestID(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: u.Path, SourceIP: "192.0.2.10"},
		},
	}, true
}

// checkAnswer checks an HTTP answer of op against its documented response
// and returns the body, decoded (nil when there is none).
func (h *harness) checkAnswer(step string, op httpOperation, status int, body string) any {
	h.t.Helper()
	documented, schema := op.response(h.t, h.open, status)
	if !documented {
		h.t.Errorf("%s: openapi.yaml does not document status %d for %s (body %s)", step, status, op.routeKey(), body)
	}
	if schema == nil {
		if body != "" {
			h.t.Errorf("%s: a body where openapi.yaml documents none: %s", step, body)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		h.t.Fatalf("%s: body is not JSON: %q", step, body)
	}
	for _, e := range h.open.validate(schema, v, step, true) {
		h.t.Error(e)
	}
	return v
}

// answer is an HTTP exchange served by serveAPI.
type answer struct {
	op           httpOperation
	method, path string
	status       int
	body         string
}

// apiServer serves the HTTP API on a loopback port for clients such as
// curl. Its handler only records: a handler goroutine may not stop the
// test, so the answers are checked afterwards.
type apiServer struct {
	URL     string
	mu      sync.Mutex
	answers []answer
}

func (h *harness) serveAPI() *apiServer {
	h.t.Helper()
	a := &apiServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		headers := map[string]string{}
		for k := range r.Header {
			headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		op, ev, ok := h.event(r.Method, r.URL, headers, string(body))
		if !ok {
			http.Error(w, "openapi.yaml has no such operation", http.StatusNotFound)
			return
		}
		resp, err := h.http.Handle(r.Context(), ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.mu.Lock()
		a.answers = append(a.answers, answer{op: op, method: r.Method, path: r.URL.Path, status: resp.StatusCode, body: resp.Body})
		a.mu.Unlock()
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		io.WriteString(w, resp.Body)
	}))
	h.t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *apiServer) take() []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.answers
	a.answers = nil
	return out
}

// matchPath matches a path against an OpenAPI path template.
func matchPath(template, path string) (map[string]string, bool) {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i, seg := range ts {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			params[strings.TrimSuffix(name, "}")] = ps[i]
		} else if seg != ps[i] {
			return nil, false
		}
	}
	return params, true
}

// wantStatus fails unless status is want, and returns body as an object.
func (h *harness) wantStatus(step string, status int, body any, want int) map[string]any {
	h.t.Helper()
	if status != want {
		h.t.Fatalf("%s: status %d, want %d (body %v)", step, status, want, body)
	}
	m, _ := body.(map[string]any)
	return m
}

type user struct{ id, name, token string }

func (h *harness) register(name string) user {
	h.t.Helper()
	st, body := h.call("POST", "/api/auth/register", "", `{"username":"`+name+`","password":"correct-horse-9"}`)
	s := h.wantStatus("register "+name, st, body, 201)
	return user{id: fmt.Sprint(s["userId"]), name: name, token: fmt.Sprint(s["token"])}
}

// wantCode fails unless frame is an error with code.
func (h *harness) wantCode(step string, frame map[string]any, code string) {
	h.t.Helper()
	if frame["type"] != "error" || frame["code"] != code {
		h.t.Errorf("%s: got %v, want an error %q", step, frame, code)
	}
}

func frame(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// TestServerAnswersMatchTheDocuments drives every built action and route
// through the real handlers and checks each frame and answer against the
// documents, and the behaviours protocol.md spells out.
func TestServerAnswersMatchTheDocuments(t *testing.T) {
	h := newHarness(t)

	// Accounts.
	alice, bob := h.register("alice"), h.register("bob")
	st, body := h.call("POST", "/api/auth/register", "", `{"username":"alice","password":"another-pass-1"}`)
	h.wantStatus("register a taken name", st, body, 409)
	st, body = h.call("POST", "/api/auth/register", "", `{"username":"x","password":"correct-horse-9"}`)
	h.wantStatus("register a short name", st, body, 400)
	st, body = h.call("POST", "/api/auth/login", "", `{"username":"bob","password":"wrong-password"}`)
	h.wantStatus("login with a wrong password", st, body, 401)
	st, body = h.call("POST", "/api/auth/login", "", `{"username":"bob","password":"correct-horse-9"}`)
	h.wantStatus("login", st, body, 200)
	st, body = h.call("GET", "/api/conversations", "", "")
	h.wantStatus("no token", st, body, 401)

	// Handshakes.
	if st, _ := h.connect("A1", map[string]string{"token": alice.token}, nil); st != 200 {
		t.Fatalf("connect with ?token: %d", st)
	}
	st, echo := h.connect("A2", nil, map[string]string{"Sec-WebSocket-Protocol": "minichat.v1, " + alice.token, "Origin": testOrigin})
	if st != 200 || echo != "minichat.v1" {
		t.Fatalf("connect with the subprotocol: %d, echoed %q", st, echo)
	}
	if st, _ := h.connect("B1", nil, nil); st != 200 {
		t.Fatalf("connect without a token: %d", st)
	}
	if st, _ := h.connect("X1", map[string]string{"token": "not.a.token"}, nil); st != 401 {
		t.Errorf("connect with a bad token: %d, want 401", st)
	}
	if st, _ := h.connect("X2", map[string]string{"token": alice.token}, map[string]string{"Origin": "https://evil.example"}); st != 403 {
		t.Errorf("connect from a foreign origin: %d, want 403", st)
	}

	// Before and at login.
	got := h.send("B1", frame(`{"action":"private-message","id":"c0","to":%q,"content":"hi"}`, alice.id), map[string][]string{"B1": {"error"}})
	h.wantCode("anonymous send", got["B1"][0], "unauthorized")
	// Every action but login and ping checks the login before its fields.
	for _, f := range []string{
		`{"action":"joinroom","room":"no such room!"}`,
		`{"action":"leaveroom","room":""}`,
		`{"action":"group-message","room":"lobby","msg":""}`,
		`{"action":"message-deleted","messageId":"nope"}`,
		`{"action":"avatar-updated","avatar":""}`,
		`{"action":"private-file-message","to":"x","fileKey":"../../etc/passwd"}`,
	} {
		got = h.send("B1", f, map[string][]string{"B1": {"error"}})
		h.wantCode("anonymous and malformed: "+f, got["B1"][0], "unauthorized")
	}
	got = h.send("B1", `{"action":"ping","id":"p1"}`, map[string][]string{"B1": {"pong"}})
	if got["B1"][0]["id"] != "p1" {
		t.Errorf("pong does not echo the id: %v", got["B1"][0])
	}
	got = h.send("B1", frame(`{"action":"login","id":"l1","token":%q}`, bob.token), map[string][]string{"B1": {"login-ok"}})
	if f := got["B1"][0]; f["userId"] != bob.id || f["username"] != "bob" || f["id"] != "l1" {
		t.Errorf("login-ok = %v", f)
	}
	got = h.send("B1", frame(`{"action":"login","token":%q}`, alice.token), map[string][]string{"B1": {"error"}})
	h.wantCode("login as another user", got["B1"][0], "forbidden")

	// Frames the protocol refuses.
	got = h.send("A1", `{"action":"dance","id":"x1"}`, map[string][]string{"A1": {"error"}})
	h.wantCode("unknown action", got["A1"][0], "unknown-action")
	if got["A1"][0]["id"] != "x1" {
		t.Errorf("the error does not echo the id: %v", got["A1"][0])
	}
	got = h.send("A1", `not json`, map[string][]string{"A1": {"error"}})
	h.wantCode("not JSON", got["A1"][0], "bad-request")
	got = h.send("A1", frame(`{"action":"private-message","to":%q,"content":"me"}`, alice.id), map[string][]string{"A1": {"error"}})
	h.wantCode("message to self", got["A1"][0], "bad-request")

	// Private messages and idempotency.
	hello := frame(`{"action":"private-message","id":"c1","to":%q,"content":"Hi Bob!"}`, bob.id)
	got = h.send("A1", hello, map[string][]string{"A1": {"ack"}, "A2": {"private-message"}, "B1": {"private-message"}})
	ack := got["A1"][0]
	if ack["id"] != "c1" || got["B1"][0]["messageId"] != ack["messageId"] || got["B1"][0]["fromName"] != "alice" {
		t.Errorf("ack %v and pushed %v disagree", ack, got["B1"][0])
	}
	got = h.send("A1", hello, map[string][]string{"A1": {"ack"}})
	if got["A1"][0]["messageId"] != ack["messageId"] || got["A1"][0]["at"] != ack["at"] {
		t.Errorf("a resend got %v, want the first message's %v", got["A1"][0], ack)
	}

	// Deletion.
	del := frame(`{"action":"message-deleted","id":"d1","messageId":%q}`, ack["messageId"])
	got = h.send("B1", del, map[string][]string{"B1": {"error"}})
	h.wantCode("recipient deletes", got["B1"][0], "forbidden")
	got = h.send("A1", del, map[string][]string{"A1": {"ack"}, "A2": {"message-deleted"}, "B1": {"message-deleted"}})
	if got["B1"][0]["chatWith"] != alice.id || got["A2"][0]["chatWith"] != bob.id {
		t.Errorf("chatWith: to bob %v, to alice's other connection %v", got["B1"][0], got["A2"][0])
	}
	h.send("A1", del, map[string][]string{"A1": {"ack"}})

	// Avatars.
	h.send("A1", `{"action":"avatar-updated","id":"a1","avatar":"🐳"}`,
		map[string][]string{"A1": {"ack"}, "A2": {"avatar-updated"}, "B1": {"avatar-updated"}})

	// Rooms.
	got = h.send("B1", `{"action":"group-message","room":"lobby","msg":"anyone?"}`, map[string][]string{"B1": {"error"}})
	h.wantCode("group message without a seat", got["B1"][0], "forbidden")
	got = h.send("B1", `{"action":"joinroom","id":"j1","room":"lobby"}`, map[string][]string{"B1": {"update", "notice"}})
	if got["B1"][0]["id"] != "j1" || got["B1"][1]["event"] != "join" {
		t.Errorf("join reply = %v", got["B1"])
	}
	got = h.send("A1", `{"action":"joinroom","room":"lobby"}`,
		map[string][]string{"A1": {"update", "notice"}, "A2": {"update", "notice"}, "B1": {"update", "notice"}})
	seats := got["B1"][0]["seats"].([]any)
	if s := seats[1].(map[string]any); s["userId"] != alice.id || s["avatar"] != chat.SeatAvatars[1] {
		t.Errorf("seat 1 = %v, want alice showing the seat's emoji %s", s, chat.SeatAvatars[1])
	}
	if _, ok := got["A2"][0]["id"]; ok {
		t.Errorf("a pushed update carries an id: %v", got["A2"][0])
	}
	h.send("A1", `{"action":"joinroom","id":"j2","room":"lobby"}`, map[string][]string{"A1": {"update"}})
	got = h.send("B1", `{"action":"group-message","id":"g1","room":"lobby","msg":"Hello everyone"}`,
		map[string][]string{"A1": {"group-message"}, "A2": {"group-message"}, "B1": {"ack", "group-message"}})
	groupMsg := fmt.Sprint(got["B1"][1]["messageId"])
	h.send("A1", `{"action":"leaveroom","id":"j3","room":"lobby"}`,
		map[string][]string{"A1": {"ack"}, "A2": {"update", "notice"}, "B1": {"update", "notice"}})
	h.send("A1", `{"action":"leaveroom","room":"lobby"}`, map[string][]string{"A1": {"ack"}})
	// Seven more users fill the room around bob; the next joiner is refused.
	for i := range chat.SeatCount - 1 {
		guest := h.register(fmt.Sprintf("guest%d", i+1))
		conn := fmt.Sprintf("G%d", i+1)
		if st, _ := h.connect(conn, map[string]string{"token": guest.token}, nil); st != 200 {
			t.Fatalf("connect %s: %d", conn, st)
		}
		want := map[string][]string{"B1": {"update", "notice"}, conn: {"update", "notice"}}
		for j := range i {
			want[fmt.Sprintf("G%d", j+1)] = []string{"update", "notice"}
		}
		h.send(conn, `{"action":"joinroom","room":"lobby"}`, want)
	}
	got = h.send("A1", `{"action":"joinroom","id":"j4","room":"lobby"}`, map[string][]string{"A1": {"full"}})
	if got["A1"][0]["id"] != "j4" {
		t.Errorf("full = %v", got["A1"][0])
	}
	want := map[string][]string{}
	for i := range chat.SeatCount - 1 {
		want[fmt.Sprintf("G%d", i+1)] = []string{"update", "notice"}
	}
	got = h.disconnect("B1", want)
	if n := got["G1"][1]; n["event"] != "leave" || n["userId"] != bob.id {
		t.Errorf("leave on disconnect: %v", n)
	}

	// HTTP: conversations, sends, deletes, avatars, rooms, users.
	st, body = h.call("GET", "/api/conversations", bob.token, "")
	h.wantStatus("conversations", st, body, 200)
	// alice's one message to bob was deleted: unread counts only messages
	// that are not.
	if list := body.([]any); len(list) != 1 || list[0].(map[string]any)["unread"] != 0.0 {
		t.Errorf("bob's conversations = %v, want one with unread 0", body)
	}
	path := "/api/conversations/" + bob.id + "/messages"
	st, body = h.call("POST", path, alice.token, `{"content":"Over HTTP","id":"h1"}`)
	sent := h.wantStatus("send over HTTP", st, body, 201)
	// bob is offline; an HTTP request has no sending connection, so all of
	// alice's connections get the message.
	h.wantFrames("send over HTTP", h.pushed, map[string][]string{"A1": {"private-message"}, "A2": {"private-message"}})
	st, body = h.call("POST", path, alice.token, `{"content":"Over HTTP","id":"h1"}`)
	if again := h.wantStatus("resend over HTTP", st, body, 201); again["messageId"] != sent["messageId"] {
		t.Errorf("an HTTP resend got %v, want %v", again["messageId"], sent["messageId"])
	}
	h.wantFrames("resend over HTTP", h.pushed, map[string][]string{})
	st, body = h.call("POST", "/api/conversations/"+alice.id+"/messages", alice.token, `{"content":"me"}`)
	h.wantStatus("send to self", st, body, 400)
	st, body = h.call("POST", "/api/conversations/00000000-0000-7000-8000-999999999999/messages", alice.token, `{"content":"?"}`)
	h.wantStatus("send to nobody", st, body, 404)
	st, body = h.call("GET", path+"?limit=0", alice.token, "")
	h.wantStatus("limit 0", st, body, 400)
	st, body = h.call("GET", path+"?before="+fmt.Sprint(sent["messageId"])+"&after="+fmt.Sprint(sent["messageId"]), alice.token, "")
	h.wantStatus("before and after", st, body, 400)
	st, body = h.call("GET", path, alice.token, "")
	page := h.wantStatus("history", st, body, 200)
	if msgs := page["messages"].([]any); len(msgs) != 2 || msgs[1].(map[string]any)["deleted"] != true {
		t.Errorf("history = %v, want the HTTP message and the deleted one", page)
	}
	msgPath := "/api/messages/" + fmt.Sprint(sent["messageId"])
	st, body = h.call("DELETE", msgPath, bob.token, "")
	h.wantStatus("recipient deletes over HTTP", st, body, 403)
	carol := h.register("carol")
	st, body = h.call("DELETE", msgPath, carol.token, "")
	// A user who is no party to the conversation is told what an unknown
	// id gets: ids cannot be probed (protocol.md says where the contract's
	// "others 403" is read this way).
	h.wantStatus("a third party deletes", st, body, 404)
	st, body = h.call("DELETE", "/api/messages/00000000-0000-7000-8000-999999999999", alice.token, "")
	h.wantStatus("delete an unknown message", st, body, 404)
	st, body = h.call("DELETE", "/api/messages/"+groupMsg, bob.token, "")
	h.wantStatus("delete a group message", st, body, 404)
	h.connect("A3", map[string]string{"token": alice.token}, nil)
	st, _ = h.call("DELETE", msgPath, alice.token, "")
	h.wantStatus("delete over HTTP", st, nil, 204)
	h.wantFrames("delete over HTTP", h.pushed, map[string][]string{"A1": {"message-deleted"}, "A2": {"message-deleted"}, "A3": {"message-deleted"}})
	if f := h.pushed["A3"][0]; f["chatWith"] != bob.id {
		t.Errorf("message-deleted to the deleter = %v, want chatWith bob", f)
	}
	st, _ = h.call("DELETE", msgPath, alice.token, "")
	h.wantStatus("delete again over HTTP", st, nil, 204)
	h.wantFrames("delete again over HTTP", h.pushed, map[string][]string{})
	st, body = h.call("PUT", "/api/users/me/avatar", alice.token, `{"avatar":"🦀"}`)
	h.wantStatus("avatar over HTTP", st, body, 200)
	st, body = h.call("PUT", "/api/users/me/avatar", alice.token, `{"avatar":""}`)
	h.wantStatus("empty avatar", st, body, 400)
	st, body = h.call("GET", "/api/rooms/lobby", alice.token, "")
	if room := h.wantStatus("room", st, body, 200); len(room["seats"].([]any)) != chat.SeatCount {
		t.Errorf("room = %v", room)
	}
	st, body = h.call("GET", "/api/rooms/nobody-here", alice.token, "")
	if room := h.wantStatus("empty room", st, body, 200); room["version"] != 0.0 {
		t.Errorf("an empty room = %v, want version 0", room)
	}
	st, body = h.call("GET", "/api/rooms/bad%20room", alice.token, "")
	h.wantStatus("bad room name", st, body, 400)
	st, body = h.call("GET", "/api/users?prefix=ca", alice.token, "")
	h.wantStatus("users", st, body, 200)
	if list := body.([]any); len(list) != 1 || list[0].(map[string]any)["username"] != "carol" {
		t.Errorf("users with prefix ca = %v", body)
	}
	st, body = h.call("GET", "/api/users?prefix=no!", alice.token, "")
	h.wantStatus("bad prefix", st, body, 400)
	h.files(alice, bob, carol)

	// Failed logins.
	for range 5 {
		st, body = h.call("POST", "/api/auth/login", "", `{"username":"carol","password":"not-her-password"}`)
		h.wantStatus("failed login", st, body, 401)
	}
	st, body = h.call("POST", "/api/auth/login", "", `{"username":"carol","password":"correct-horse-9"}`)
	h.wantStatus("login after 5 failures", st, body, 429)

	// Every built frame type was produced and checked.
	for typ, m := range h.types {
		if !m.planned && !h.seen[typ] {
			t.Errorf("the scenario never produced a %q frame; extend it so the frame is checked", typ)
		}
	}
}

// files drives protocol.md's Files section: POST /api/files, the upload,
// private-file-message with each of its refusals, links in pushes and
// history, and deletion. alice's connections A1..A3 are open, bob's are not.
func (h *harness) files(alice, bob, carol user) {
	t := h.t
	ctx := t.Context()
	for conn, token := range map[string]string{"B2": bob.token, "C1": carol.token, "X3": ""} {
		query := map[string]string{"token": token}
		if token == "" {
			query = nil
		}
		if st, _ := h.connect(conn, query, nil); st != 200 {
			t.Fatalf("connect %s: %d", conn, st)
		}
	}
	uploadBody := func(name, typ string, size int, to string) string {
		return frame(`{"fileName":%q,"fileType":%q,"size":%d,"to":%q}`, name, typ, size, to)
	}
	for _, c := range []struct {
		step, token, body string
		want              int
	}{
		{"upload of a type not allowed", alice.token, uploadBody("a.svg", "image/svg+xml", 10, bob.id), 400},
		{"empty upload", alice.token, uploadBody("a.png", "image/png", 0, bob.id), 400},
		{"upload over 10 MiB", alice.token, uploadBody("a.png", "image/png", 10<<20+1, bob.id), 400},
		{"upload named with a path", alice.token, uploadBody("../a.png", "image/png", 10, bob.id), 400},
		{"upload named with 256 characters", alice.token, uploadBody(strings.Repeat("a", 252)+".png", "image/png", 10, bob.id), 400},
		{"upload to yourself", alice.token, uploadBody("a.png", "image/png", 10, alice.id), 400},
		{"upload to nobody", alice.token, uploadBody("a.png", "image/png", 10, "00000000-0000-7000-8000-999999999999"), 404},
		{"upload without a token", "", uploadBody("a.png", "image/png", 10, bob.id), 401},
		{"upload of exactly 10 MiB", alice.token, uploadBody("big.zip", "application/zip", 10<<20, bob.id), 200},
	} {
		st, body := h.call("POST", "/api/files", c.token, c.body)
		h.wantStatus(c.step, st, body, c.want)
	}

	// upload asks for an upload as protocol.md describes, checks the answer
	// against what protocol.md promises of it, and posts data (unless nil).
	upload := func(from, to user, typ string, declared int, data []byte) string {
		t.Helper()
		before := time.Now()
		st, body := h.call("POST", "/api/files", from.token, uploadBody("pic.png", typ, declared, to.id))
		up := h.wantStatus("upload", st, body, 200)
		after := time.Now()
		key := fmt.Sprint(up["fileKey"])
		u, _ := up["upload"].(map[string]any)
		fields := map[string]string{}
		if raw, ok := u["fields"].(map[string]any); ok {
			for k, v := range raw {
				fields[k] = fmt.Sprint(v)
			}
		}
		if !strings.HasPrefix(key, "uploads/pending/"+from.id+"/"+to.id+"/") {
			t.Errorf("fileKey %q is not uploads/pending/<sender>/<recipient>/<uuid>", key)
		}
		if u["url"] != h.s3URL+"/"+testBucket {
			t.Errorf("upload url %v, want the bucket's URL %s/%s", u["url"], h.s3URL, testBucket)
		}
		for name, want := range map[string]string{
			"key": key, "Content-Type": typ, "Content-Disposition": "attachment; filename=pic.png",
			"X-Amz-Meta-Declared-Size": strconv.Itoa(declared),
		} {
			if fields[name] != want {
				t.Errorf("upload field %s = %q, want %q", name, fields[name], want)
			}
		}
		if up["maxSize"] != float64(10<<20) {
			t.Errorf("maxSize = %v, want 10 MiB", up["maxSize"])
		}
		exp, err := time.Parse(time.RFC3339, fmt.Sprint(up["expiresAt"]))
		if err != nil || exp.Before(before.Add(5*time.Minute).Truncate(time.Millisecond)) || exp.After(after.Add(5*time.Minute)) {
			t.Errorf("expiresAt %v is not 5 minutes after the request (%v)", up["expiresAt"], err)
		}
		if data != nil {
			if err := filestest.Post(ctx, fmt.Sprint(u["url"]), fields, "pic.png", data); err != nil {
				t.Fatal(err)
			}
		}
		h.uploads.take()
		return key
	}
	send := func(conn, id, to, key, typ, messageType string, want map[string][]string) map[string][]map[string]any {
		t.Helper()
		return h.send(conn, frame(`{"action":"private-file-message","id":%q,"to":%q,"fileKey":%q,"fileName":"pic.png","fileType":%q,"messageType":%q}`,
			id, to, key, typ, messageType), want)
	}
	refused := func(step, conn, to, key, typ, messageType, code string) {
		t.Helper()
		got := send(conn, "f0", to, key, typ, messageType, map[string][]string{conn: {"error"}})
		h.wantCode(step, got[conn][0], code)
	}

	// The refusals, in the order protocol.md gives; none stores or pushes anything.
	png := filestest.PNG
	key := upload(alice, bob, "image/png", len(png), png)
	refused("anonymous", "X3", bob.id, key, "image/png", "image", "unauthorized")
	refused("fileKey not of the form", "A1", bob.id, "uploads/pending/../../etc/passwd", "image/png", "image", "bad-request")
	refused("type not allowed", "A1", bob.id, key, "text/html", "file", "bad-request")
	refused("messageType disagrees", "A1", bob.id, key, "image/png", "file", "bad-request")
	refused("someone else's fileKey", "C1", bob.id, key, "image/png", "image", "forbidden")
	refused("fileKey for another recipient", "A1", carol.id, key, "image/png", "image", "forbidden")
	refused("nothing uploaded", "A1", bob.id, upload(alice, bob, "image/png", len(png), nil), "image/png", "image", "not-found")
	for step, k := range map[string]string{
		"content not of the declared type": upload(alice, bob, "image/png", 11, []byte("hello world")),
		"size not the declared size":       upload(alice, bob, "image/png", len(png)+5, png),
	} {
		refused(step, "A1", bob.id, k, "image/png", "image", "bad-request")
		refused(step+", sent again: the upload was deleted", "A1", bob.id, k, "image/png", "image", "not-found")
	}

	// Delivered, with a link that downloads the file as fileName.
	got := send("A1", "f1", bob.id, key, "image/png", "image",
		map[string][]string{"A1": {"ack"}, "A2": {"private-file-message"}, "A3": {"private-file-message"}, "B2": {"private-file-message"}})
	ack, m := got["A1"][0], got["B2"][0]
	for field, want := range map[string]any{
		"messageId": ack["messageId"], "at": ack["at"], "from": alice.id, "fromName": "alice", "to": bob.id,
		"fileName": "pic.png", "fileType": "image/png", "messageType": "image", "fileSize": float64(len(png)),
	} {
		if m[field] != want {
			t.Errorf("private-file-message %s = %v, want %v", field, m[field], want)
		}
	}
	if ack["id"] != "f1" {
		t.Errorf("ack = %v, want the request's id", ack)
	}
	link := fmt.Sprint(m["fileUrl"])
	if prefix := h.s3URL + "/" + testBucket + "/files/" + alice.id + "/" + bob.id + "/"; !strings.HasPrefix(link, prefix) {
		t.Errorf("fileUrl %s, want it under %s", link, prefix)
	}
	h.wantDownload("fileUrl", link, png)
	got = send("A1", "f1", bob.id, key, "image/png", "image", map[string][]string{"A1": {"ack"}})
	if got["A1"][0]["messageId"] != ack["messageId"] {
		t.Errorf("a resend got %v, want %v", got["A1"][0], ack)
	}

	// History and conversations sign fresh links.
	st, body := h.call("GET", "/api/conversations/"+alice.id+"/messages?limit=1", bob.token, "")
	item := h.wantStatus("history with a file", st, body, 200)["messages"].([]any)[0].(map[string]any)
	if item["type"] != "private-file-message" || item["messageId"] != ack["messageId"] {
		t.Fatalf("newest history item = %v, want the file message", item)
	}
	h.wantDownload("history fileUrl", fmt.Sprint(item["fileUrl"]), png)
	st, body = h.call("GET", "/api/conversations", bob.token, "")
	h.wantStatus("conversations with a file", st, body, 200)
	for _, c := range body.([]any) {
		conv := c.(map[string]any)
		if conv["peer"].(map[string]any)["userId"] != alice.id {
			continue
		}
		last, _ := conv["lastMessage"].(map[string]any)
		if last["messageId"] != ack["messageId"] {
			t.Fatalf("lastMessage = %v, want the file message", last)
		}
		h.wantDownload("lastMessage fileUrl", fmt.Sprint(last["fileUrl"]), png)
	}

	// Only the sender deletes, and the file goes with the message.
	del := frame(`{"action":"message-deleted","id":"d2","messageId":%q}`, ack["messageId"])
	for conn, code := range map[string]string{"B2": "forbidden", "C1": "not-found"} {
		got = h.send(conn, del, map[string][]string{conn: {"error"}})
		h.wantCode(conn+" deletes alice's file message", got[conn][0], code)
	}
	h.send("A1", del, map[string][]string{"A1": {"ack"}, "A2": {"message-deleted"}, "A3": {"message-deleted"}, "B2": {"message-deleted"}})
	for _, l := range []string{link, fmt.Sprint(item["fileUrl"])} {
		if _, _, err := filestest.Get(ctx, l); err == nil || !strings.Contains(err.Error(), "status 404") {
			t.Errorf("a link of a deleted file message: %v, want 404", err)
		}
	}
	st, body = h.call("GET", "/api/conversations/"+alice.id+"/messages?limit=1", bob.token, "")
	if item := h.wantStatus("history after the delete", st, body, 200)["messages"].([]any)[0].(map[string]any); item["deleted"] != true {
		t.Errorf("the deleted file message in history = %v", item)
	}
}

// wantDownload fails unless link downloads data as an attachment named pic.png.
func (h *harness) wantDownload(step, link string, data []byte) {
	h.t.Helper()
	got, disposition, err := filestest.Get(h.t.Context(), link)
	if err != nil || !bytes.Equal(got, data) {
		h.t.Errorf("%s: downloaded %d bytes (%v), want the %d uploaded", step, len(got), err, len(data))
	}
	if disposition != "attachment; filename=pic.png" {
		h.t.Errorf("%s: Content-Disposition %q, want the file saved as pic.png", step, disposition)
	}
}

// pagingRow is a row of protocol.md's worked paging example.
type pagingRow struct{ query, messages, next string }

// workedPagingExample reads the table that follows "Worked example:" in
// protocol.md: `before=m4` | m3, m2 | m2.
func workedPagingExample(t *testing.T) []pagingRow {
	t.Helper()
	md, err := os.ReadFile("protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "\nWorked example:")
	if !ok {
		t.Fatal("protocol.md has no worked paging example")
	}
	var rows []pagingRow
	started := false
	for _, line := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) != 3 {
			t.Fatalf("protocol.md: paging row %q has %d cells", line, len(cells))
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if cells[0] == "request" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		if cells[0] == "(no cursor)" {
			cells[0] = ""
		}
		rows = append(rows, pagingRow{query: cells[0], messages: cells[1], next: cells[2]})
	}
	if len(rows) < 4 {
		t.Fatalf("protocol.md: the worked paging example has %d rows", len(rows))
	}
	return rows
}

// TestHistoryPagingAsDocumented replays the worked example of protocol.md's
// history section (m1..m5, limit 2) and its v1.1 rule that reading history
// leaves the unread count alone: only `read` moves the marker.
func TestHistoryPagingAsDocumented(t *testing.T) {
	rows := workedPagingExample(t)
	h := newHarness(t)
	carol, dave := h.register("carol"), h.register("dave")
	ids := map[string]string{}   // m1 -> id
	names := map[string]string{} // id -> m1
	for i := 1; i <= 5; i++ {
		st, body := h.call("POST", "/api/conversations/"+dave.id+"/messages", carol.token, frame(`{"content":"m%d"}`, i))
		id, name := fmt.Sprint(h.wantStatus("send", st, body, 201)["messageId"]), fmt.Sprintf("m%d", i)
		ids[name], names[id] = id, name
	}
	unread := func() any {
		st, body := h.call("GET", "/api/conversations", dave.token, "")
		h.wantStatus("conversations", st, body, 200)
		return body.([]any)[0].(map[string]any)["unread"]
	}
	const wantUnread = 5.0
	for _, r := range rows {
		target := "/api/conversations/" + carol.id + "/messages?limit=2"
		if r.query != "" {
			param, cursor, _ := strings.Cut(r.query, "=")
			target += "&" + param + "=" + ids[cursor]
		}
		st, body := h.call("GET", target, dave.token, "")
		page := h.wantStatus(r.query, st, body, 200)
		var got []string
		for _, it := range page["messages"].([]any) {
			got = append(got, names[fmt.Sprint(it.(map[string]any)["messageId"])])
		}
		next := "-"
		if n, ok := page["next"].(string); ok {
			next = names[n]
		}
		if strings.Join(got, ", ") != r.messages || next != r.next {
			t.Errorf("%q: messages %v, next %s; protocol.md says %s, next %s", r.query, got, next, r.messages, r.next)
		}
		if u := unread(); u != wantUnread {
			t.Errorf("%q: unread %v afterwards, protocol.md says %v", r.query, u, wantUnread)
		}
	}
}

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
	h := newHarness(t)
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
	v := h.checkAnswer("curl POST /api/files", a.op, a.status, a.body)
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
	h.wantDownload("the walkthrough's file", fmt.Sprint(got["B1"][0]["fileUrl"]), pic)
}
