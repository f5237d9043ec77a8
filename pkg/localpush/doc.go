// Package localpush provides GatewayPusher, the chat.Pusher adapter of the
// local gateway in the same process: a push is a function call instead of
// an HTTP request to the gateway's Management API, which the SDK adapter
// (package apigwpush) still uses against AWS and outside tools use
// locally. Both pass the one Pusher conformance suite.
package localpush
