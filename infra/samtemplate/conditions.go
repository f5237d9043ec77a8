package samtemplate

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// processorOptions keeps intrinsics encoded (cloudformation.EncoderIntrinsics)
// with three exceptions, all taken as a deployment with default parameters
// would: a Ref to a template parameter becomes the parameter's default,
// Fn::If picks its branch by evaluating the condition, and Fn::Split yields
// a list. Without the last two a conditional property of a typed resource
// (CorsConfiguration: !If [...]) or a split list (AllowedOrigins: !Split
// [...]) would fail to unmarshal.
func processorOptions() *intrinsics.ProcessorOptions {
	h := maps.Clone(cloudformation.EncoderIntrinsics)
	h["Ref"] = refParameterDefault
	h["Fn::If"] = ifWithDefaults
	h["Fn::Split"] = splitWithDefaults
	return &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: h}
}

func refParameterDefault(name string, input any, template any) any {
	if id, ok := input.(string); ok {
		if v, ok := parameterDefault(id, template); ok {
			return v
		}
	}
	return cloudformation.EncoderIntrinsics["Ref"](name, input, template)
}

// parameterDefault returns the Default of a template parameter in the form a
// Ref to it yields: a list for list types, a number for Number (so that it
// fits integer properties such as a log group's RetentionInDays), a string
// otherwise.
func parameterDefault(id string, template any) (any, bool) {
	root, _ := template.(map[string]any)
	params, _ := root["Parameters"].(map[string]any)
	p, _ := params[id].(map[string]any)
	def, ok := p["Default"]
	if !ok {
		return nil, false
	}
	s := fmt.Sprint(def)
	typ, _ := p["Type"].(string)
	if typ == "Number" {
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return n, true
		}
	}
	if strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
		if s == "" {
			return []any{}, true
		}
		var out []any
		for _, e := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(e))
		}
		return out, true
	}
	return s, true
}

// splitWithDefaults splits a literal source (a parameter's default, say).
// A source only known once deployed (a !Sub of a resource's attribute)
// yields a list of one element, the encoded call, so that a list property
// stays a list either way; literal() tells such elements apart.
func splitWithDefaults(name string, input any, template any) any {
	if args, ok := input.([]any); ok && len(args) == 2 {
		sep, okSep := args[0].(string)
		src, okSrc := args[1].(string)
		if okSep && okSrc && sep != "" && decodeIntrinsic(src) == nil {
			var out []any
			for _, e := range strings.Split(src, sep) {
				out = append(out, e)
			}
			return out
		}
	}
	return []any{cloudformation.EncoderIntrinsics[name](name, input, template)}
}

// ifWithDefaults returns the branch of an Fn::If chosen by its condition;
// nil (the property is dropped) when the branch is AWS::NoValue or the
// condition cannot be evaluated from parameter defaults.
func ifWithDefaults(_ string, input any, template any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		return nil
	}
	name, _ := args[0].(string)
	cond, ok := evalCondition(name, template, 0)
	if !ok {
		return nil
	}
	branch := args[2]
	if cond {
		branch = args[1]
	}
	if s, ok := branch.(string); ok {
		if obj := decodeIntrinsic(s); obj != nil && obj["Ref"] == "AWS::NoValue" {
			return nil
		}
	}
	return branch
}

// evalCondition evaluates a condition expression of the raw template
// (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, a condition's name) with
// parameter defaults.
func evalCondition(expr any, template any, depth int) (value, ok bool) {
	if depth > 32 {
		return false, false
	}
	switch e := expr.(type) {
	case bool:
		return e, true
	case string:
		// goformation turns a nested !Condition into the bare condition name.
		return evalConditionFn("Condition", e, template, depth)
	case map[string]any:
		if len(e) != 1 {
			return false, false
		}
		for fn, arg := range e {
			return evalConditionFn(fn, arg, template, depth)
		}
	}
	return false, false
}

func evalConditionFn(fn string, arg any, template any, depth int) (value, ok bool) {
	if fn == "Condition" {
		name, _ := arg.(string)
		root, _ := template.(map[string]any)
		conds, _ := root["Conditions"].(map[string]any)
		c, found := conds[name]
		if !found {
			return false, false
		}
		return evalCondition(c, template, depth+1)
	}
	args, _ := arg.([]any)
	switch fn {
	case "Fn::Equals":
		if len(args) != 2 {
			return false, false
		}
		a, okA := evalValue(args[0], template)
		b, okB := evalValue(args[1], template)
		return a == b, okA && okB
	case "Fn::Not":
		if len(args) != 1 {
			return false, false
		}
		v, ok := evalCondition(args[0], template, depth+1)
		return !v, ok
	case "Fn::And", "Fn::Or":
		and := fn == "Fn::And"
		for _, a := range args {
			v, ok := evalCondition(a, template, depth+1)
			if !ok {
				return false, false
			}
			if v != and {
				return v, true
			}
		}
		return and, len(args) > 0
	}
	return false, false
}

func evalValue(v any, template any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64, bool:
		return fmt.Sprint(x), true
	case map[string]any:
		if id, ok := x["Ref"].(string); ok && len(x) == 1 {
			if def, ok := parameterDefault(id, template); ok {
				return fmt.Sprint(def), true
			}
		}
	}
	return "", false
}
