package moto

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own: moto_server may be a
// wrapper script (pyenv, pipx) whose Python child must die with it. The
// kernel kills it too if the test binary dies without its cleanups (a
// panic, a timeout), which would otherwise leave moto_server running.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills cmd's whole process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
