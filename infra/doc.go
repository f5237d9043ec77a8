// Package infra is the code that reads and checks template.yaml, the AWS SAM
// template that defines minichat's cloud resources. Its tests lint the template
// and hold it to the repository: every route reaches exactly one function and
// every function one directory under functions/ that `sam build` can build.
// Subpackages read the template and provision from it (tables, buckets, the
// local gateway's routes). templategen writes the parts of the template that
// follow from the repository (each function's IAM policies, from
// functions/<dir>/permissions.yaml; its log group and alarms; the
// dashboard): run `go generate ./infra` after changing a list or adding a
// function.
package infra

//go:generate go run ./cmd/templategen
