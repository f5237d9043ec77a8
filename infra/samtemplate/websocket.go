package samtemplate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoWebSocketAPI is returned when the template declares no
// AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET, or more than one.
var ErrNoWebSocketAPI = errors.New("samtemplate: template must declare exactly one WebSocket API")

// WebSocketAPI is the template's WebSocket API with its routes resolved down
// to the functions that serve them.
type WebSocketAPI struct {
	LogicalID string
	// RouteSelectionExpression is e.g. "$request.body.action".
	RouteSelectionExpression string
	// StageName is the name of the API's AWS::ApiGatewayV2::Stage, "" if none.
	StageName string
	// Routes are sorted by route key.
	Routes []WSRoute
}

// WSRoute is one route of the WebSocket API.
type WSRoute struct {
	// RouteKey is "$connect", "$disconnect", "$default" or a custom key.
	RouteKey string
	// FunctionLogicalID is the AWS::Serverless::Function the route's
	// integration invokes.
	FunctionLogicalID string
	// CodeURI is that function's normalised source directory.
	CodeURI string
	// Authorizer is the REQUEST authorizer attached to the route, nil if none
	// (API Gateway only allows one on $connect).
	Authorizer *Authorizer
}

// Authorizer is a Lambda REQUEST authorizer of the WebSocket API.
type Authorizer struct {
	LogicalID         string
	Name              string
	FunctionLogicalID string
	CodeURI           string
	// IdentitySources are e.g. "route.request.querystring.token" or
	// "route.request.header.Auth": API Gateway refuses the connection with 401,
	// without invoking the authorizer, when one of them is missing.
	IdentitySources []string
}

// WebSocketRoutes returns the routes of the template's WebSocket API.
func (t *Template) WebSocketRoutes() ([]WSRoute, error) {
	api, err := t.WebSocketAPI()
	if err != nil {
		return nil, err
	}
	return api.Routes, nil
}

// WebSocketAPI resolves the template's one WebSocket API: each
// AWS::ApiGatewayV2::Route of it is followed through its Target
// ("integrations/${Integration}") to the AWS::ApiGatewayV2::Integration and
// from its IntegrationUri to the function it invokes.
func (t *Template) WebSocketAPI() (*WebSocketAPI, error) {
	var api *WebSocketAPI
	for id, a := range t.cf.GetAllApiGatewayV2ApiResources() {
		if a.ProtocolType == nil || !strings.EqualFold(*a.ProtocolType, "WEBSOCKET") {
			continue
		}
		if api != nil {
			return nil, fmt.Errorf("%w: found %s and %s", ErrNoWebSocketAPI, api.LogicalID, id)
		}
		api = &WebSocketAPI{LogicalID: id, RouteSelectionExpression: literal(a.RouteSelectionExpression)}
	}
	if api == nil {
		return nil, ErrNoWebSocketAPI
	}
	for _, s := range t.cf.GetAllApiGatewayV2StageResources() {
		if refersTo(s.ApiId, api.LogicalID) {
			api.StageName = s.StageName
		}
	}
	for id, r := range t.cf.GetAllApiGatewayV2RouteResources() {
		if !refersTo(r.ApiId, api.LogicalID) {
			continue
		}
		route, err := t.wsRoute(id, r.RouteKey, r.Target, r.AuthorizationType, r.AuthorizerId)
		if err != nil {
			return nil, err
		}
		api.Routes = append(api.Routes, route)
	}
	sort.Slice(api.Routes, func(i, j int) bool { return api.Routes[i].RouteKey < api.Routes[j].RouteKey })
	return api, nil
}

// refersTo tells whether a property value refers to the resource logicalID.
func refersTo(v string, logicalID string) bool {
	for _, id := range refs(v) {
		if id == logicalID {
			return true
		}
	}
	return false
}

func (t *Template) wsRoute(id, key string, target, authType, authorizerID *string) (WSRoute, error) {
	route := WSRoute{RouteKey: key}
	integrations := t.cf.GetAllApiGatewayV2IntegrationResources()
	var integrationID string
	for _, ref := range refs(target) {
		if _, ok := integrations[ref]; ok {
			integrationID = ref
		}
	}
	if integrationID == "" {
		return route, fmt.Errorf("%w: route %s (%s) targets no integration", ErrUnresolved, id, key)
	}
	fnID, ok := t.functionIn(integrations[integrationID].IntegrationUri)
	if !ok {
		return route, fmt.Errorf("%w: integration %s of route %s invokes no function of the template", ErrUnresolved, integrationID, key)
	}
	uri, err := t.codeURI(fnID)
	if err != nil {
		return route, fmt.Errorf("route %s: %w", key, err)
	}
	route.FunctionLogicalID, route.CodeURI = fnID, uri
	if authType == nil || !strings.EqualFold(*authType, "CUSTOM") {
		return route, nil
	}
	auth, err := t.authorizer(authorizerID)
	if err != nil {
		return route, fmt.Errorf("route %s: %w", key, err)
	}
	route.Authorizer = auth
	return route, nil
}

func (t *Template) authorizer(ref *string) (*Authorizer, error) {
	authorizers := t.cf.GetAllApiGatewayV2AuthorizerResources()
	for _, id := range refs(ref) {
		a, ok := authorizers[id]
		if !ok {
			continue
		}
		if !strings.EqualFold(a.AuthorizerType, "REQUEST") {
			return nil, fmt.Errorf("%w: authorizer %s has type %s, want REQUEST", ErrUnresolved, id, a.AuthorizerType)
		}
		fnID, ok := t.functionIn(a.AuthorizerUri)
		if !ok {
			return nil, fmt.Errorf("%w: authorizer %s invokes no function of the template", ErrUnresolved, id)
		}
		uri, err := t.codeURI(fnID)
		if err != nil {
			return nil, fmt.Errorf("authorizer %s: %w", id, err)
		}
		return &Authorizer{
			LogicalID:         id,
			Name:              a.Name,
			FunctionLogicalID: fnID,
			CodeURI:           uri,
			IdentitySources:   append([]string(nil), a.IdentitySource...),
		}, nil
	}
	return nil, fmt.Errorf("%w: CUSTOM authorization without an AWS::ApiGatewayV2::Authorizer", ErrUnresolved)
}
