package main

import (
	"fmt"
	"io"

	"github.com/lxmount/lxmount/supervisor"
)

func detachCommand() *command {
	c := &command{
		name:    "detach",
		summary: "unmount a container's virtual files and close its FUSE instance",
		usage:   "<pid|id>",
		help: `Detaches a container, named by any of its processes' PIDs or by the id
'lxmount status' shows. Inside the container the host's files show again.

EXAMPLE:
  lxmount detach 4242
  lxmount detach web-1`,
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"expects exactly one <pid|id>"}
		}
		res, err := supervisor.NewClient(g.socket).Detach(pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "detached %s\n", res.ID)
		return nil
	}
	return c
}
