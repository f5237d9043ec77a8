// Package edge adapts API Gateway's Lambda events to the chat service: the
// WebSocket route handlers (events.APIGatewayWebsocketProxyRequest) and the
// HTTP API handler (events.APIGatewayV2HTTPRequest). The Lambda functions
// and the local gateway run exactly these handlers.
//
// It is also where domain errors become protocol codes: the text of an
// error reaches a client only when the domain marked it safe to show.
package edge
