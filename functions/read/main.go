// Command read is the Lambda function that serves what template.yaml routes
// to functions/read/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import "github.com/minichatbar/minichat/pkg/lambdaapp"

func main() { lambdaapp.Main("read") }
