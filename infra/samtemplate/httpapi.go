package samtemplate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation/serverless"
)

// HTTPRoute is one route of an HTTP API, declared as an HttpApi event of a
// serverless function.
type HTTPRoute struct {
	// Method is upper case, "ANY" for every method.
	Method string
	// Path is the route's path template, e.g. /api/conversations/{peerId}/messages
	// or /api/files/{proxy+}; "$default" for the catch-all route.
	Path              string
	FunctionLogicalID string
	CodeURI           string
}

// RouteKey returns the route key API Gateway puts in events: "GET /path" or "$default".
func (r HTTPRoute) RouteKey() string {
	if r.Path == "$default" {
		return "$default"
	}
	return r.Method + " " + r.Path
}

// HTTPRoutes returns every HttpApi event of the template's functions, sorted
// by path then method.
func (t *Template) HTTPRoutes() ([]HTTPRoute, error) {
	var out []HTTPRoute
	for id, fn := range t.cf.GetAllServerlessFunctionResources() {
		for name, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			method, p := httpEventRoute(ev.Properties)
			uri, err := t.codeURI(id)
			if err != nil {
				return nil, fmt.Errorf("HttpApi event %s: %w", name, err)
			}
			out = append(out, HTTPRoute{Method: method, Path: p, FunctionLogicalID: id, CodeURI: uri})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out, nil
}

// httpEventRoute reads Method and Path of an HttpApi event. goformation
// guesses the event's property type from its shape, so an HttpApi event
// without ApiId may land in ApiEvent: both are looked at. An event without
// Path and Method is the API's catch-all route, as in SAM.
func httpEventRoute(props *serverless.Function_Properties) (method, path string) {
	var m, p *string
	switch {
	case props == nil:
	case props.HttpApiEvent != nil:
		m, p = props.HttpApiEvent.Method, props.HttpApiEvent.Path
	case props.ApiEvent != nil:
		m, p = &props.ApiEvent.Method, &props.ApiEvent.Path
	}
	method, path = "ANY", "$default"
	if m != nil && *m != "" {
		method = strings.ToUpper(*m)
	}
	if p != nil && *p != "" {
		path = *p
	}
	return method, path
}
