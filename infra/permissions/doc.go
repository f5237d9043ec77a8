// Package permissions reads the permission lists kept next to each Lambda
// function (functions/<dir>/permissions.yaml): the exact IAM actions the
// function's code calls, grouped by the kind of resource they act on (the
// chat table, its indexes, the files bucket and its objects, the WebSocket
// stage's connections, the JWT secret, the web client's bucket).
//
// The lists are the source of truth for the functions' IAM policies:
// `go generate ./infra` writes each function's Policies in template.yaml
// from its list (infra/templategen), and the infra tests fail when the
// template grants a function anything else. Kinds holds, for each kind,
// the one resource expression of template.yaml its actions apply to, so
// that a list names no ARN and cannot grant a wildcard resource.
package permissions
