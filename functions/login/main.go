// Command login is the Lambda function that serves what template.yaml routes
// to functions/login/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdasecret"
)

func main() { lambdaapp.Main("login", lambdasecret.Tokens()) }
