package permissions

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSortsAndGrants(t *testing.T) {
	l, err := Parse([]byte(`
# Comments say why; only the entries count.
table: [dynamodb:Query, dynamodb:GetItem]  # unsorted on purpose
connections: [POST, GET]
objects: []
`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l, List{"table": {"dynamodb:GetItem", "dynamodb:Query"}, "connections": {"GET", "POST"}}) {
		t.Fatalf("list = %v", l)
	}
	var got []string
	for _, g := range l.Grants() {
		got = append(got, g.String())
	}
	want := []string{
		"dynamodb:GetItem on !GetAtt ChatTable.Arn",
		"dynamodb:Query on !GetAtt ChatTable.Arn",
		"execute-api:ManageConnections on !Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/GET/@connections/*",
		"execute-api:ManageConnections on !Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/POST/@connections/*",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grants:\n%s", strings.Join(got, "\n"))
	}
	if s := l.Statements(); len(s) != 2 || s[0].Kind.Name != "table" || s[1].Kind.Name != "connections" {
		t.Fatalf("statements in the order of Kinds: %+v", s)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "{}\n"} {
		l, err := Parse([]byte(src))
		if err != nil || len(l) != 0 || len(l.Grants()) != 0 {
			t.Errorf("Parse(%q) = %v, %v", src, l, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for src, why := range map[string]string{
		"tables: [dynamodb:GetItem]":                  "unknown kind",
		"table: [dynamodb:*]":                         "wildcard",
		"table: ['*']":                                "wildcard",
		"table: [GetItem]":                            "no service",
		"table: [s3:GetObject]":                       "another service",
		"index: [dynamodb:GetItem]":                   "not an index action",
		"bucket: [s3:GetObject]":                      "not a bucket action",
		"connections: [PUT]":                          "not a Management API method",
		"table: [dynamodb:GetItem, dynamodb:GetItem]": "repeated",
		"table: dynamodb:GetItem":                     "not a list",
	} {
		if _, err := Parse([]byte(src)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid (%s)", src, err, why)
		}
	}
}

func TestEveryKindHasOneResource(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds {
		if k.Name == "" || k.Sid == "" || k.Service == "" || k.Resource.Tag == "" {
			t.Errorf("kind %+v is incomplete", k)
		}
		if seen[k.Name] || seen[k.Sid] {
			t.Errorf("kind %s: name or Sid repeated", k.Name)
		}
		seen[k.Name], seen[k.Sid] = true, true
		if (k.Methods != nil) != strings.Contains(k.Resource.Value, "%s") {
			t.Errorf("kind %s: a resource per method needs a %%s for it", k.Name)
		}
	}
}
