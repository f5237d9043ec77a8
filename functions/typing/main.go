// Command typing is the Lambda function that serves what template.yaml routes
// to functions/typing/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import "github.com/minichatbar/minichat/pkg/lambdaapp"

func main() { lambdaapp.Main("typing") }
