package samtemplate

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
)

// goformation's EncoderIntrinsics replace every intrinsic function by the
// base64 of its JSON form (nested ones too, as strings inside the outer JSON),
// so a property value is either a literal or such an encoded call.

// decodeIntrinsic returns the single-key object ({"Ref": ...}, {"Fn::Sub": ...})
// encoded in s, or nil when s is a literal.
func decodeIntrinsic(s string) map[string]any {
	if len(s) < 8 || len(s)%4 != 0 {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil || len(obj) != 1 {
		return nil
	}
	for k := range obj {
		if k != "Ref" && !strings.HasPrefix(k, "Fn::") {
			return nil
		}
	}
	return obj
}

// literal returns s when it is a plain string and "" when it is an intrinsic
// whose value is only known once deployed.
func literal(s *string) string {
	if s == nil || decodeIntrinsic(*s) != nil {
		return ""
	}
	return *s
}

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// refs lists the logical ids (pseudo parameters excluded) that a property
// value refers to through Ref, GetAtt, Sub or Join, in any nesting.
func refs(v any) []string {
	seen := map[string]bool{}
	collectRefs(v, seen)
	out := make([]string, 0, len(seen))
	for id := range seen {
		if !strings.HasPrefix(id, "AWS::") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func collectRefs(v any, seen map[string]bool) {
	switch x := v.(type) {
	case *string:
		if x != nil {
			collectRefs(*x, seen)
		}
	case string:
		if obj := decodeIntrinsic(x); obj != nil {
			collectRefs(obj, seen)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, seen)
		}
	case map[string]any:
		for k, arg := range x {
			switch k {
			case "Ref":
				if id, ok := arg.(string); ok {
					seen[id] = true
				}
			case "Fn::GetAtt":
				collectGetAtt(arg, seen)
			case "Fn::Sub":
				collectSub(arg, seen)
			default:
				collectRefs(arg, seen)
			}
		}
	}
}

func collectGetAtt(arg any, seen map[string]bool) {
	switch a := arg.(type) {
	case string:
		seen[strings.SplitN(a, ".", 2)[0]] = true
	case []any:
		if len(a) > 0 {
			if id, ok := a[0].(string); ok {
				seen[id] = true
			}
		}
	}
}

// collectSub follows ${Name} and ${Name.Attr} in a Sub string; names bound in
// the optional variable map are followed into their values instead.
func collectSub(arg any, seen map[string]bool) {
	var format string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		format = a
	case []any:
		if len(a) > 0 {
			format, _ = a[0].(string)
		}
		if len(a) > 1 {
			if m, ok := a[1].(map[string]any); ok {
				vars = m
			}
		}
	}
	for _, m := range subVar.FindAllStringSubmatch(format, -1) {
		name := m[1]
		if val, ok := vars[name]; ok {
			collectRefs(val, seen)
			continue
		}
		seen[strings.SplitN(name, ".", 2)[0]] = true
	}
}
