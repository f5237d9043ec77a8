package main

import (
	"strings"
	"testing"
)

// `minichat serve -h` lists every limit variable, and a bad value refuses
// to start with a message naming the variable.
func TestServeLimitsFromEnvironment(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"serve", "-h"}, &out); err != nil {
		t.Fatalf("serve -h: %v", err)
	}
	for _, name := range []string{
		"MINICHAT_SEND_RATE", "MINICHAT_SEND_BURST", "MINICHAT_REGISTERS_PER_IP",
		"MINICHAT_LOGIN_FAILS_PER_USER", "MINICHAT_LOGIN_FAILS_PER_IP",
		"MINICHAT_AVATAR_RATE", "MINICHAT_AVATAR_BURST", "MINICHAT_FANOUT",
		"MINICHAT_TYPING_RATE", "MINICHAT_TYPING_BURST", "MINICHAT_FRAME_CONCURRENCY",
	} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("serve -h does not list %s", name)
		}
	}
	for _, name := range []string{"MINICHAT_SEND_BURST", "MINICHAT_FRAME_CONCURRENCY"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "lots")
			err := run([]string{"serve", "-addr", "127.0.0.1:0", "-data", t.TempDir()}, &out)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("serve with %s=lots: %v", name, err)
			}
		})
	}
}

func TestDebugServer(t *testing.T) {
	stop, err := serveDebug("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := serveDebug("not an address"); err == nil || !strings.Contains(err.Error(), envDebugAddr) {
		t.Fatalf("bad address: %v", err)
	}
}
