// Command httpapi is the Lambda function that serves what template.yaml routes
// to functions/httpapi/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdafiles"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdasecret"
)

func main() { lambdaapp.Main("httpapi", lambdasecret.Tokens(), lambdafiles.Files()) }
