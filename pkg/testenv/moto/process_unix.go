//go:build unix

package moto

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own: moto_server may be a
// wrapper script (pyenv, pipx) whose Python child must die with it.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills cmd's whole process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
