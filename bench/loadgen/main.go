// Command loadgen is minichat's load generator and benchmark harness.
//
//	go run ./bench/loadgen bench [flags]   # make bench: minichat serve against Socket.IO 4.8, side by side
//	go run ./bench/loadgen soak [flags]    # make soak: a bounded mixed load against minichat, with resource samples
//
// It starts every server it measures itself, as a child process on a free
// loopback port, stops each by its own pid, and sends traffic to loopback
// only. Every client stops by itself: each scenario is bounded in time and
// in count. `loadgen bench -h` and `loadgen soak -h` list the flags.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  loadgen bench [flags]   minichat serve against the Socket.IO peer (make bench)
  loadgen soak [flags]    bounded mixed load against minichat with resource samples (make soak)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bench":
		err = benchMain(os.Args[2:])
	case "soak":
		err = soakMain(os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
