package main

import (
	"fmt"
	"io"
	"runtime"
)

func versionCommand() *command {
	c := &command{
		name:    "version",
		summary: "print the version",
		usage:   "",
		help: `Prints lxmount's version and the Go version it was built with.

EXAMPLE:
  lxmount version`,
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		if _, _, err := parseFlags(c, args); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lxmount %s (%s)\n", version, runtime.Version())
		return nil
	}
	return c
}
