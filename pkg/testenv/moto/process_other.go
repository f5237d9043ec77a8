//go:build !linux

package moto

import "os/exec"

// ownGroup leaves cmd as it is: without process groups only the server
// itself can be stopped.
func ownGroup(*exec.Cmd) {}

// killGroup kills cmd.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
