// Package localgw emulates Amazon API Gateway on one machine: a WebSocket API
// and an HTTP API whose routes come from a SAM template (see
// infra/samtemplate), each route invoking a lambda.Handler in process with the
// same JSON event API Gateway would send to the deployed function.
//
// The WebSocket side follows API Gateway's behaviour: $connect (after an
// optional REQUEST authorizer) decides the handshake, messages are routed by
// the route selection expression with $default as fallback, $disconnect runs
// once per connection, and the quotas (frame 32 KB, message 128 KB, idle
// 10 min, connection 2 h, integration 29 s) apply. The Management API is
// served at {WebSocketPath}/@connections/{connectionId}, so the unmodified
// aws-sdk-go-v2 apigatewaymanagementapi client, given the endpoint
// http://host{WebSocketPath}, pushes through the gateway and gets a
// GoneException for connections that are gone.
//
// The package knows templates, events and sockets, never what the functions do.
package localgw
