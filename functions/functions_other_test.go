//go:build !linux

package functions

import (
	"testing"

	"github.com/minichatbar/minichat/pkg/testenv"
)

// TestBootstrapsUnderEmulator needs the AWS Lambda Runtime Interface
// Emulator, which runs on Linux only.
func TestBootstrapsUnderEmulator(t *testing.T) {
	testenv.Missing(t, testenv.TierRIE, "aws-lambda-rie for this OS", "run this tier on Linux: the emulator supports Linux only")
}
