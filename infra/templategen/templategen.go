package templategen

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/minichatbar/minichat/infra/permissions"
)

// Function is a serverless function of the template.
type Function struct {
	// ID is the logical id, Dir the directory under functions/ (CodeUri).
	ID, Dir string
	// Condition is the function's condition, "" when it always exists.
	Condition string
	// codeURILine is the 0-based line of its CodeUri key, indent that key's
	// indentation.
	codeURILine int
	indent      string
}

// Loader returns the permission list of the function in functions/<dir>.
type Loader func(dir string) (permissions.List, error)

// ErrTemplate reports a template the generator cannot work on.
var ErrTemplate = errors.New("templategen: template")

var (
	beginMarker = regexp.MustCompile(`^(\s*)# BEGIN GENERATED: (.+?)\s*$`)
	endMarker   = regexp.MustCompile(`^(\s*)# END GENERATED: (.+?)\s*$`)
	codeURIDir  = regexp.MustCompile(`^\.?/?functions/([^/]+)/?$`)
)

// policiesRegion names the Policies region of a function.
func policiesRegion(id string) string { return "policies " + id }

// Regions at the level of Resources, one each.
const (
	// LogGroupsRegion holds a log group per function (LogGroupID).
	LogGroupsRegion = "function log groups"
	// AlarmsRegion holds an errors and a throttles alarm per function
	// (ErrorsAlarmID, ThrottlesAlarmID).
	AlarmsRegion = "function alarms"
	// DashboardRegion holds the Dashboard resource.
	DashboardRegion = "dashboard"
)

var resourceRegions = []string{LogGroupsRegion, AlarmsRegion, DashboardRegion}

// LogGroupID is the logical id of a function's log group.
func LogGroupID(fnID string) string { return fnID + "LogGroup" }

// Generate returns tpl with every generated region rewritten.
func Generate(tpl []byte, load Loader) ([]byte, error) {
	lines, err := strip(strings.Split(string(tpl), "\n"))
	if err != nil {
		return nil, err
	}
	sc, err := scan(strings.Join(lines, "\n"))
	if err != nil {
		return nil, err
	}
	fns := sc.functions
	lines = addMissingPolicyRegions(lines, fns)

	byRegion := map[string][]string{}
	for _, fn := range fns {
		list, err := load(fn.Dir)
		if err != nil {
			return nil, err
		}
		byRegion[policiesRegion(fn.ID)] = policies(fn, list)
	}
	byRegion[LogGroupsRegion] = logGroups(fns)
	byRegion[AlarmsRegion] = alarms(fns)
	dash, err := dashboard(fns, sc.alarms)
	if err != nil {
		return nil, err
	}
	byRegion[DashboardRegion] = dash

	var out []string
	for _, line := range lines {
		out = append(out, line)
		m := beginMarker.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		body, ok := byRegion[m[2]]
		if !ok {
			return nil, fmt.Errorf("%w: no generator makes region %q (a function renamed or removed?)", ErrTemplate, m[2])
		}
		for _, b := range body {
			if b == "" {
				out = append(out, "")
			} else {
				out = append(out, m[1]+b)
			}
		}
		delete(byRegion, m[2])
	}
	for _, name := range resourceRegions {
		if _, missing := byRegion[name]; missing {
			return nil, fmt.Errorf("%w: no region %q: put its two markers (# BEGIN GENERATED: %s, # END GENERATED: %s) under Resources", ErrTemplate, name, name, name)
		}
	}
	return []byte(strings.Join(out, "\n")), nil
}

// strip empties every region, keeping its markers, and checks they pair up.
func strip(lines []string) ([]string, error) {
	var out []string
	open := ""
	seen := map[string]bool{}
	for i, line := range lines {
		if m := beginMarker.FindStringSubmatch(line); m != nil {
			if open != "" {
				return nil, fmt.Errorf("%w: line %d: region %q begins inside %q", ErrTemplate, i+1, m[2], open)
			}
			if seen[m[2]] {
				return nil, fmt.Errorf("%w: line %d: region %q appears twice", ErrTemplate, i+1, m[2])
			}
			open, seen[m[2]] = m[2], true
			out = append(out, line)
			continue
		}
		if m := endMarker.FindStringSubmatch(line); m != nil {
			if m[2] != open {
				return nil, fmt.Errorf("%w: line %d: end of region %q, but %q is open", ErrTemplate, i+1, m[2], open)
			}
			open = ""
			out = append(out, line)
			continue
		}
		if open == "" {
			out = append(out, line)
		}
	}
	if open != "" {
		return nil, fmt.Errorf("%w: region %q never ends", ErrTemplate, open)
	}
	return out, nil
}

// scanned is what the generator reads from the hand-written template.
type scanned struct {
	functions []Function
	// alarms are the alarms written by hand that always exist.
	alarms []string
}

// scan reads a stripped template.
func scan(stripped string) (scanned, error) {
	var sc scanned
	var err error
	sc.functions, sc.alarms, err = functions(stripped)
	return sc, err
}

// functions lists the serverless functions of a stripped template, and
// its unconditional alarms.
func functions(stripped string) ([]Function, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(stripped), &doc); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	if len(doc.Content) != 1 {
		return nil, nil, fmt.Errorf("%w: want one YAML document", ErrTemplate)
	}
	res := child(doc.Content[0], "Resources")
	if res == nil || res.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%w: no Resources", ErrTemplate)
	}
	var fns []Function
	var alarms []string
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		typ := child(r, "Type")
		if typ != nil && typ.Value == "AWS::CloudWatch::Alarm" && child(r, "Condition") == nil {
			alarms = append(alarms, id)
		}
		if typ == nil || typ.Value != "AWS::Serverless::Function" {
			continue
		}
		props := child(r, "Properties")
		if child(props, "Policies") != nil {
			return nil, nil, fmt.Errorf("%w: %s has Policies outside its generated region: list them in its %s instead", ErrTemplate, id, permissions.FileName)
		}
		key, uri := childKey(props, "CodeUri")
		if uri == nil {
			return nil, nil, fmt.Errorf("%w: %s has no CodeUri", ErrTemplate, id)
		}
		m := codeURIDir.FindStringSubmatch(uri.Value)
		if m == nil {
			return nil, nil, fmt.Errorf("%w: %s: CodeUri %q is not functions/<dir>/", ErrTemplate, id, uri.Value)
		}
		fn := Function{ID: id, Dir: m[1], codeURILine: key.Line - 1, indent: strings.Repeat(" ", key.Column-1)}
		if c := child(r, "Condition"); c != nil {
			fn.Condition = c.Value
		}
		fns = append(fns, fn)
	}
	return fns, alarms, nil
}

// addMissingPolicyRegions puts an empty Policies region at the end of the
// Properties of every function that has none.
func addMissingPolicyRegions(lines []string, fns []Function) []string {
	have := map[string]bool{}
	for _, l := range lines {
		if m := beginMarker.FindStringSubmatch(l); m != nil {
			have[m[2]] = true
		}
	}
	// From the bottom up, so that earlier line numbers stay valid.
	for _, fn := range slices.Backward(fns) {
		name := policiesRegion(fn.ID)
		if have[name] {
			continue
		}
		at := endOfBlock(lines, fn.codeURILine, len(fn.indent))
		markers := []string{fn.indent + "# BEGIN GENERATED: " + name, fn.indent + "# END GENERATED: " + name}
		lines = slices.Insert(lines, at, markers...)
	}
	return lines
}

// endOfBlock returns the line after the last one of the block that holds
// line from (its lines indented by at least indent, blank lines and comments
// between them included, trailing ones not).
func endOfBlock(lines []string, from, indent int) int {
	end := from + 1
	for i := from + 1; i < len(lines); i++ {
		t := strings.TrimLeft(lines[i], " ")
		if t == "" {
			continue
		}
		if len(lines[i])-len(t) < indent {
			break
		}
		end = i + 1
	}
	return end
}

// policies is a function's Policies property: one inline policy with a
// statement per kind of resource its list names.
func policies(fn Function, list permissions.List) []string {
	out := []string{fmt.Sprintf("# From functions/%s/%s by `go generate ./infra`: edit that list, not this.", fn.Dir, permissions.FileName)}
	stmts := list.Statements()
	if len(stmts) == 0 {
		return append(out, "Policies: []")
	}
	out = append(out, "Policies:", `  - Version: "2012-10-17"`, "    Statement:")
	for _, s := range stmts {
		out = append(out, "      - Sid: "+s.Kind.Sid, "        Effect: Allow")
		out = append(out, yamlList("        ", "Action", s.Actions)...)
		var rs []string
		for _, r := range s.Resources {
			rs = append(rs, resource(r))
		}
		out = append(out, yamlList("        ", "Resource", rs)...)
	}
	return out
}

// logGroups are the log groups Lambda writes the functions' logs to, made
// by the stack so that their retention is LogRetentionDays (and they go
// with the stack): /aws/lambda/<function name> is where a function logs
// unless told otherwise. Each exists when its function does.
func logGroups(fns []Function) []string {
	out := []string{"# A log group per function of the template, by `go generate ./infra`."}
	for i, fn := range fns {
		if i > 0 {
			out = append(out, "")
		}
		out = append(out, LogGroupID(fn.ID)+":", "  Type: AWS::Logs::LogGroup")
		if fn.Condition != "" {
			out = append(out, "  Condition: "+fn.Condition)
		}
		out = append(out,
			"  Properties:",
			"    LogGroupName: !Sub "+quote("/aws/lambda/${"+fn.ID+"}"),
			"    RetentionInDays: !Ref LogRetentionDays",
		)
	}
	return out
}

// yamlList writes key: v for one value, a block list for more.
func yamlList(indent, key string, vs []string) []string {
	if len(vs) == 1 {
		return []string{indent + key + ": " + vs[0]}
	}
	out := []string{indent + key + ":"}
	for _, v := range vs {
		out = append(out, indent+"  - "+v)
	}
	return out
}

// resource writes a resource expression in short form; a !Sub string is
// quoted, since ${...} and colons must not be read as YAML.
func resource(r permissions.Resource) string {
	if r.Tag == "!Sub" {
		return r.Tag + " " + quote(r.Value)
	}
	return r.String()
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func child(n *yaml.Node, key string) *yaml.Node {
	_, v := childKey(n, key)
	return v
}

func childKey(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}
