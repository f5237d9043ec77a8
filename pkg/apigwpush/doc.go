// Package apigwpush provides the chat Pusher port over the API Gateway
// Management API, with the unmodified AWS SDK client. The same adapter
// pushes through AWS and through the local gateway, which serves the same
// API; a GoneException (HTTP 410) becomes chat.ErrGone.
package apigwpush
