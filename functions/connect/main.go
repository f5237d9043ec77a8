// Command connect is the Lambda function that serves what template.yaml routes
// to functions/connect/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdasecret"
)

func main() { lambdaapp.Main("connect", lambdasecret.Tokens()) }
