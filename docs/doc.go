// Package docs holds the protocol documents and checks that they agree with the code.
//
// protocol.md is the developer's guide to protocol v1 as built, asyncapi.yaml
// describes the WebSocket API and openapi.yaml the HTTP API. The package has
// no code of its own: its tests fail when the documents and pkg/protocol,
// pkg/edge or template.yaml drift apart, when the real handlers (over an
// embedded S3 for files) answer anything the documents do not describe, and
// when the walkthrough's curl upload, run with bash, curl and jq, does not
// upload a file that then sends.
package docs
