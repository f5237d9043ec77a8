package localgw

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// authorizer is a Lambda REQUEST authorizer attached to $connect.
type authorizer struct {
	function
	identitySources []string
}

// authorizerRequest is the event a WebSocket REQUEST authorizer receives. It
// has the fields of events.APIGatewayCustomAuthorizerRequestTypeRequest that
// API Gateway sends for WebSocket APIs, with the connection's requestContext.
type authorizerRequest struct {
	Type                            string                                        `json:"type"`
	MethodArn                       string                                        `json:"methodArn"`
	Headers                         map[string]string                             `json:"headers"`
	MultiValueHeaders               map[string][]string                           `json:"multiValueHeaders"`
	QueryStringParameters           map[string]string                             `json:"queryStringParameters,omitempty"`
	MultiValueQueryStringParameters map[string][]string                           `json:"multiValueQueryStringParameters,omitempty"`
	StageVariables                  map[string]string                             `json:"stageVariables,omitempty"`
	RequestContext                  events.APIGatewayWebsocketProxyRequestContext `json:"requestContext"`
}

// authorizerResponse is events.APIGatewayCustomAuthorizerResponse read
// leniently: IAM allows Action and Resource as a string or a list.
type authorizerResponse struct {
	PrincipalID    string `json:"principalId"`
	PolicyDocument struct {
		Statement []struct {
			Effect   string      `json:"Effect"`
			Action   stringOrSet `json:"Action"`
			Resource stringOrSet `json:"Resource"`
		} `json:"Statement"`
	} `json:"policyDocument"`
	Context map[string]any `json:"context"`
}

type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("localgw: policy element is neither a string nor a list: %w", err)
	}
	*s = many
	return nil
}

// authorize runs the $connect authorizer as API Gateway does. It returns the
// requestContext.authorizer of the connection's events, or the HTTP status
// and message that refuse the handshake.
func (g *Gateway) authorize(a *authorizer, c *connection, r *http.Request) (map[string]any, int, string) {
	for _, src := range a.identitySources {
		if !identityPresent(src, r) {
			return nil, http.StatusUnauthorized, "Unauthorized"
		}
	}
	headers, multiHeaders := handshakeHeaders(r)
	query, multiQuery := queryParameters(r.URL.Query())
	methodArn := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/$connect", g.cfg.Region, g.cfg.AccountID, g.cfg.APIID, g.cfg.Stage)
	out, err := g.invoke(a.function, authorizerRequest{
		Type:                            "REQUEST",
		MethodArn:                       methodArn,
		Headers:                         headers,
		MultiValueHeaders:               multiHeaders,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		RequestContext:                  g.requestContext(c, "$connect", "CONNECT", c.connectedAt),
	})
	if err != nil {
		// An authorizer signals a bad token by failing with exactly "Unauthorized".
		if err.Error() == "Unauthorized" {
			return nil, http.StatusUnauthorized, "Unauthorized"
		}
		g.log.Error("localgw: authorizer failed", "function", a.logicalID, "connectionId", c.id, "err", err)
		return nil, http.StatusInternalServerError, "Internal server error"
	}
	var resp authorizerResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		g.log.Error("localgw: authorizer returned no policy", "function", a.logicalID, "err", err)
		return nil, http.StatusInternalServerError, "Internal server error"
	}
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke", true) || !matchesAny(st.Resource, methodArn, false) {
			continue
		}
		if strings.EqualFold(st.Effect, "Deny") {
			return nil, http.StatusForbidden, "Forbidden"
		}
		allowed = allowed || strings.EqualFold(st.Effect, "Allow")
	}
	if !allowed {
		return nil, http.StatusForbidden, "Forbidden"
	}
	ctx := make(map[string]any, len(resp.Context)+1)
	for k, v := range resp.Context {
		ctx[k] = v
	}
	ctx["principalId"] = resp.PrincipalID
	return ctx, 0, ""
}

// identityPresent tells whether an identity source such as
// "route.request.querystring.token" or "route.request.header.Auth" is present.
func identityPresent(src string, r *http.Request) bool {
	switch {
	case strings.HasPrefix(src, "route.request.querystring."):
		return r.URL.Query().Get(strings.TrimPrefix(src, "route.request.querystring.")) != ""
	case strings.HasPrefix(src, "route.request.header."):
		return r.Header.Get(strings.TrimPrefix(src, "route.request.header.")) != ""
	}
	return true
}

// matchesAny matches value against IAM patterns, where '*' and '?' are
// wildcards.
func matchesAny(patterns []string, value string, foldCase bool) bool {
	if foldCase {
		value = strings.ToLower(value)
	}
	for _, p := range patterns {
		if foldCase {
			p = strings.ToLower(p)
		}
		if globMatch(p, value) {
			return true
		}
	}
	return false
}

// globMatch reports whether value matches pattern, where '*' matches any
// run of bytes and '?' any one byte.
func globMatch(pattern, value string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			mark++
			p, v = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
