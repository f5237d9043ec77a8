// Package docs holds the protocol documents and checks that they agree with the code.
//
// protocol.md is the developer's guide to protocol v1.1 as built, asyncapi.yaml
// describes the WebSocket API and openapi.yaml the HTTP API; data-model.md is
// the DynamoDB layout. The package has no code of its own. Its tests, one file
// per concern, fail when the documents and pkg/protocol, pkg/edge or
// template.yaml drift apart (documents_test.go, served_test.go), when a schema
// or example is invalid (schema_test.go), when the real handlers (over an
// embedded S3 for files) answer anything the documents do not describe
// (wire_test.go, http_test.go, files_test.go, limits_test.go, on the harness
// of harness_test.go), when the worked paging example is not what is served
// (paging_test.go), and when the walkthrough's curl upload, run with bash,
// curl and jq, does not upload a file that then sends (shell_test.go).
package docs
