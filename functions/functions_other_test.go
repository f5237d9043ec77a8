//go:build !linux

package functions

import (
	"os"
	"testing"
)

// TestBootstrapsUnderEmulator needs the AWS Lambda Runtime Interface
// Emulator, which runs on Linux only.
func TestBootstrapsUnderEmulator(t *testing.T) {
	if os.Getenv("CI") == "true" {
		t.Fatal("the Lambda packaging test runs aws-lambda-rie, which supports Linux only: run CI on Linux")
	}
	t.Skip("aws-lambda-rie supports Linux only")
}
