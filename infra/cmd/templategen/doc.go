// Command templategen rewrites the generated regions of template.yaml
// (package infra/templategen) from the rest of the repository: each
// function's Policies from its functions/<dir>/permissions.yaml, a log group
// and two alarms per function, and the dashboard. `go generate ./infra` runs
// it from infra/, hence the default paths (-template ../template.yaml,
// -functions ../functions).
package main
