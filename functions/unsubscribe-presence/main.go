// Command unsubscribe-presence is the Lambda function that serves what template.yaml routes
// to functions/unsubscribe-presence/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import "github.com/minichatbar/minichat/pkg/lambdaapp"

func main() { lambdaapp.Main("unsubscribe-presence") }
