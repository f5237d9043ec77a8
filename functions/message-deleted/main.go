// Command message-deleted is the Lambda function that serves what template.yaml routes
// to functions/message-deleted/. Wiring only: the handler lives in pkg/app and pkg/edge.
package main

import (
	"github.com/minichatbar/minichat/pkg/lambdaapp"
	"github.com/minichatbar/minichat/pkg/lambdaapp/lambdafiles"
)

func main() { lambdaapp.Main("message-deleted", lambdafiles.Files()) }
