package main

import (
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runMain(args)
	case "read":
		err = readMain(args)
	case "soak":
		err = soakMain(args)
	case "serve-trivial":
		err = serveTrivialMain(args)
	default:
		err = fmt.Errorf("unknown command %q (run, read, soak, serve-trivial)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lxmount-bench "+cmd+":", err)
		os.Exit(1)
	}
}
