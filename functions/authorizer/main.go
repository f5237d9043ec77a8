// Command authorizer is the Lambda function that serves what template.yaml routes
// to functions/authorizer/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdasecret"
)

func main() { lambdaapp.Main("authorizer", lambdasecret.Tokens()) }
