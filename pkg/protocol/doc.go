// Package protocol holds the wire types of minichat's protocol v1 (see
// docs/protocol.md): the actions clients send, the frames the server pushes,
// the HTTP bodies, and the error codes. It is the only code the server and the
// Go client share.
package protocol
