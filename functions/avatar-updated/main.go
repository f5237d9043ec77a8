// Command avatar-updated is the Lambda function that serves what template.yaml routes
// to functions/avatar-updated/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdafiles"
)

func main() { lambdaapp.Main("avatar-updated", lambdafiles.Files()) }
