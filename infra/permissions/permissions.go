package permissions

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the name of a function's list, in its directory under
// functions/.
const FileName = "permissions.yaml"

// Resource is a resource expression of template.yaml in short form: Tag is
// "!Ref", "!GetAtt" or "!Sub", Value its argument.
type Resource struct {
	Tag, Value string
}

// String returns r as it is written in the template (`!GetAtt ChatTable.Arn`).
func (r Resource) String() string { return r.Tag + " " + r.Value }

// Kind is a kind of resource a list groups actions by.
type Kind struct {
	// Name is the kind's key in permissions.yaml.
	Name string
	// Sid names the kind's policy statement.
	Sid string
	// About says what the resource is, for error messages and docs.
	About string
	// Service is the prefix the kind's actions must carry ("dynamodb").
	Service string
	// Only, when set, are the only actions the kind's resource takes.
	Only []string
	// Resource is what the actions apply to. For a kind with Methods it has
	// a %s where the method goes.
	Resource Resource
	// Methods means the list holds HTTP methods of the action Action (the
	// Management API's execute-api:ManageConnections is authorized per
	// method), not actions.
	Methods []string
	Action  string
}

// Index is the name of ChatTable's secondary index, the one resource of
// the index kind.
const Index = "gsi1"

// connectionsARN is the Management API of the WebSocket stage, by method.
const connectionsARN = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/%s/@connections/*"

// Kinds are the kinds a list may name, in the order statements are written.
var Kinds = []Kind{
	{Name: "table", Sid: "ChatTable", About: "the items of ChatTable", Service: "dynamodb",
		Resource: Resource{"!GetAtt", "ChatTable.Arn"}},
	{Name: "index", Sid: "ChatTableIndex", About: "gsi1, the secondary index of ChatTable", Service: "dynamodb",
		Only: []string{"dynamodb:Query", "dynamodb:Scan"}, Resource: Resource{"!Sub", "${ChatTable.Arn}/index/" + Index}},
	{Name: "objects", Sid: "FilesObjects", About: "the objects of FilesBucket", Service: "s3",
		Resource: Resource{"!Sub", "${FilesBucket.Arn}/*"}},
	{Name: "bucket", Sid: "FilesBucket", About: "FilesBucket itself (listing)", Service: "s3",
		Only: []string{"s3:ListBucket"}, Resource: Resource{"!GetAtt", "FilesBucket.Arn"}},
	{Name: "connections", Sid: "Connections", About: "the @connections of the WebSocket stage, by method",
		Service: "execute-api", Action: "execute-api:ManageConnections", Methods: []string{"POST", "GET", "DELETE"},
		Resource: Resource{"!Sub", connectionsARN}},
	{Name: "secret", Sid: "JwtSecret", About: "JwtSigningSecret, the key of session tokens", Service: "secretsmanager",
		Resource: Resource{"!Ref", "JwtSigningSecret"}},
	{Name: "site-objects", Sid: "WebClientObjects", About: "the objects of WebClientBucket (the hosted web client)", Service: "s3",
		Resource: Resource{"!Sub", "${WebClientBucket.Arn}/*"}},
	{Name: "site-bucket", Sid: "WebClientBucket", About: "WebClientBucket itself (listing)", Service: "s3",
		Only: []string{"s3:ListBucket"}, Resource: Resource{"!GetAtt", "WebClientBucket.Arn"}},
}

// KindNamed returns the kind with that name.
func KindNamed(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// List is one function's permission list: entries (actions, or methods for
// connections) by kind name, each sorted.
type List map[string][]string

// Grant is one action on one resource.
type Grant struct {
	Action   string
	Resource Resource
}

// String returns g as "action on resource".
func (g Grant) String() string { return g.Action + " on " + g.Resource.String() }

// Statement is the policy statement of one kind.
type Statement struct {
	Kind      Kind
	Actions   []string
	Resources []Resource
}

// Statements returns the statements that grant l, in the order of Kinds.
func (l List) Statements() []Statement {
	var out []Statement
	for _, k := range Kinds {
		entries := l[k.Name]
		if len(entries) == 0 {
			continue
		}
		s := Statement{Kind: k}
		if k.Methods != nil {
			s.Actions = []string{k.Action}
			for _, m := range entries {
				s.Resources = append(s.Resources, Resource{k.Resource.Tag, fmt.Sprintf(k.Resource.Value, m)})
			}
		} else {
			s.Actions = entries
			s.Resources = []Resource{k.Resource}
		}
		out = append(out, s)
	}
	return out
}

// Grants returns every action-resource pair l grants, sorted.
func (l List) Grants() []Grant {
	var out []Grant
	for _, s := range l.Statements() {
		for _, a := range s.Actions {
			for _, r := range s.Resources {
				out = append(out, Grant{a, r})
			}
		}
	}
	slices.SortFunc(out, func(a, b Grant) int { return strings.Compare(a.String(), b.String()) })
	return out
}

var (
	actionPattern = regexp.MustCompile(`^([a-z0-9-]+):[A-Za-z]+$`)
	// ErrInvalid reports a list that cannot be granted as written.
	ErrInvalid = errors.New("permissions: invalid list")
)

// Parse reads a list. Every kind must be known, every action of the kind's
// service and named in full (no wildcard), every method one the kind takes,
// and no entry may repeat.
func Parse(data []byte) (List, error) {
	raw := map[string][]string{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	l := List{}
	for name, entries := range raw {
		k, ok := KindNamed(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown kind %q (known: %s)", ErrInvalid, name, kindNames())
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e] {
				return nil, fmt.Errorf("%w: %s: %q is listed twice", ErrInvalid, name, e)
			}
			seen[e] = true
			if err := k.check(e); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
			}
		}
		if len(entries) > 0 {
			l[name] = slices.Sorted(slices.Values(entries))
		}
	}
	return l, nil
}

func (k Kind) check(entry string) error {
	if k.Methods != nil {
		if !slices.Contains(k.Methods, entry) {
			return fmt.Errorf("%q is not one of the methods %v of %s", entry, k.Methods, k.Action)
		}
		return nil
	}
	m := actionPattern.FindStringSubmatch(entry)
	if m == nil {
		return fmt.Errorf("%q is not an action in full (service:Action, no wildcard)", entry)
	}
	if m[1] != k.Service {
		return fmt.Errorf("%q is not a %s action, which is all %s takes", entry, k.Service, k.About)
	}
	if k.Only != nil && !slices.Contains(k.Only, entry) {
		return fmt.Errorf("%q does not apply to %s (only %v do)", entry, k.About, k.Only)
	}
	return nil
}

func kindNames() string {
	var names []string
	for _, k := range Kinds {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}

// Load reads the list of the function in functionsDir/dir.
func Load(functionsDir, dir string) (List, error) {
	p := filepath.Join(functionsDir, dir, FileName)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("permissions: functions/%s/%s: %w (every function lists what it calls there)", dir, FileName, err)
	}
	l, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("functions/%s/%s: %w", dir, FileName, err)
	}
	return l, nil
}
