package localgw

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/minichatbar/minichat/infra/samtemplate"
)

// segment kinds, in increasing order of specificity.
const (
	segGreedy = iota // {proxy+}: the rest of the path
	segParam         // {name}: one segment
	segLiteral
)

type segment struct {
	kind int
	text string // literal text or parameter name
}

// httpRoute is an HTTP API route compiled for matching.
type httpRoute struct {
	method   string // upper case, "ANY" for all
	routeKey string
	catchAll bool // the $default route
	segments []segment
	fn       function
}

func newHTTPRoute(r samtemplate.HTTPRoute, fn function) httpRoute {
	route := httpRoute{method: r.Method, routeKey: r.RouteKey(), catchAll: r.Path == "$default", fn: fn}
	if route.catchAll {
		return route
	}
	for _, s := range strings.Split(strings.Trim(r.Path, "/"), "/") {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
			route.segments = append(route.segments, segment{kind: segGreedy, text: s[1 : len(s)-2]})
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			route.segments = append(route.segments, segment{kind: segParam, text: s[1 : len(s)-1]})
		default:
			route.segments = append(route.segments, segment{kind: segLiteral, text: s})
		}
	}
	return route
}

// match returns the path parameters when route matches the request path
// (given as escaped segments).
func (route httpRoute) match(method string, parts []string) (map[string]string, bool) {
	if route.method != "ANY" && route.method != method {
		return nil, false
	}
	if route.catchAll {
		return nil, true
	}
	params := map[string]string{}
	for i, s := range route.segments {
		if s.kind == segGreedy {
			if i >= len(parts) {
				return nil, false
			}
			rest, err := url.PathUnescape(strings.Join(parts[i:], "/"))
			if err != nil {
				return nil, false
			}
			params[s.text] = rest
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		part, err := url.PathUnescape(parts[i])
		if err != nil {
			return nil, false
		}
		switch s.kind {
		case segLiteral:
			if part != s.text {
				return nil, false
			}
		case segParam:
			if part == "" {
				return nil, false
			}
			params[s.text] = part
		}
	}
	if len(parts) != len(route.segments) {
		return nil, false
	}
	return params, true
}

// moreSpecific orders matching routes as API Gateway does: literal segments
// before parameters before greedy ones, left to right, then a named method
// before ANY, and the $default route last.
func (route httpRoute) moreSpecific(other httpRoute) bool {
	if route.catchAll != other.catchAll {
		return other.catchAll
	}
	for i := 0; i < len(route.segments) && i < len(other.segments); i++ {
		if a, b := route.segments[i].kind, other.segments[i].kind; a != b {
			return a > b
		}
	}
	if len(route.segments) != len(other.segments) {
		return len(route.segments) > len(other.segments)
	}
	return route.method != "ANY" && other.method == "ANY"
}

// serveHTTPAPI serves r if it matches an HTTP API route.
func (g *Gateway) serveHTTPAPI(w http.ResponseWriter, r *http.Request) bool {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	var best *httpRoute
	var params map[string]string
	for i := range g.http {
		p, ok := g.http[i].match(r.Method, parts)
		if ok && (best == nil || g.http[i].moreSpecific(*best)) {
			best, params = &g.http[i], p
		}
	}
	if best == nil {
		return false
	}
	if !g.track() {
		writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
		return true
	}
	defer g.active.Done()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.limits.HTTPBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return true
		}
		writeMessage(w, http.StatusBadRequest, "Bad Request")
		return true
	}
	out, err := g.invoke(best.fn, g.httpEvent(r, *best, params, body))
	if err != nil {
		g.log.Error("localgw: HTTP route failed", "route", best.routeKey, "function", best.fn.logicalID, "err", err)
		if errors.Is(err, ErrIntegrationTimeout) {
			writeMessage(w, http.StatusServiceUnavailable, "Service Unavailable")
			return true
		}
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return true
	}
	writeHTTPResponse(w, out, func(err error) {
		g.log.Error("localgw: HTTP route returned an invalid response", "route", best.routeKey, "err", err)
	})
	return true
}

// httpEvent builds the payload format 2.0 event of an HTTP API request.
func (g *Gateway) httpEvent(r *http.Request, route httpRoute, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	domain := g.cfg.DomainName
	if domain == "" {
		domain = r.Host
	}
	host := domain
	if h, _, err := net.SplitHostPort(domain); err == nil {
		host = h
	}
	id := newID()
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       route.routeKey,
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.routeKey,
			AccountID:    g.cfg.AccountID,
			Stage:        "$default",
			RequestID:    id,
			APIID:        g.cfg.APIID,
			DomainName:   domain,
			DomainPrefix: strings.SplitN(host, ".", 2)[0],
			Time:         now.UTC().Format(requestTimeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r),
				UserAgent: r.UserAgent(),
			},
		},
	}
	// Cookies travel in their own field, as API Gateway moves them there.
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	ev.Headers["x-forwarded-for"] = sourceIP(r)
	ev.Headers["x-forwarded-proto"] = "http"
	if len(params) > 0 {
		ev.PathParameters = params
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if isTextBody(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

// isTextBody tells whether API Gateway would pass a body as text rather than
// base64.
func isTextBody(contentType string, body []byte) bool {
	if contentType == "" {
		return utf8.Valid(body)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded":
		return utf8.Valid(body)
	}
	return false
}

// writeHTTPResponse writes a payload format 2.0 response. As on API Gateway,
// output that is not an object with a statusCode is itself the body of a 200
// JSON response.
func writeHTTPResponse(w http.ResponseWriter, out []byte, invalid func(error)) {
	var probe map[string]json.RawMessage
	if json.Unmarshal(out, &probe) != nil || probe["statusCode"] == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		if err == nil {
			err = errors.New("statusCode out of range")
		}
		invalid(err)
		writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			invalid(err)
			writeMessage(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		body = b
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
