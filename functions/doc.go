// Package functions holds the Lambda functions of template.yaml, one
// directory each (functions/<dir>/main.go, wiring only). This package itself
// has no code: its tests build every function's bootstrap for the host and
// run it under the AWS Lambda Runtime Interface Emulator (aws-lambda-rie,
// installed by `make tools`) against moto_server, with events of the shapes
// of aws-lambda-go's fixtures. With -update-benchmarks they also measure the
// `make build` binary sizes and the emulator's Init Duration into
// docs/benchmarks.md.
package functions
