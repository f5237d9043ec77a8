// Package templategen writes the parts of template.yaml that follow from
// the rest of the repository, so that nobody keeps them in step by hand:
// each function's IAM Policies, from its permission list
// (functions/<dir>/permissions.yaml, package permissions); a log group, an
// errors alarm and a throttles alarm per function; and the dashboard, which
// charts every function and shows every alarm.
//
// Generated parts sit between marker comments,
//
//	# BEGIN GENERATED: <name>
//	...
//	# END GENERATED: <name>
//
// and everything outside them is left byte for byte as it was. Generate is
// idempotent; `go generate ./infra` runs it on the repository's template,
// and the infra tests fail while the template differs from its output.
// A function without a Policies region gets one after its CodeUri.
package templategen
