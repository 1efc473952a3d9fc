package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lxmount/lxmount/vfs"
)

// serveTrivialMain is `lxmount-bench serve-trivial -dir D name=path...`:
// it mounts a vfs.Server on D whose entries render a constant: the content
// path had when the server started. Same FUSE loop and options as the
// daemon's, nothing to compute: the ceiling of any FUSE design. It prints
// "ready" once mounted and serves until SIGTERM or SIGINT.
func serveTrivialMain(args []string) error {
	fs := flag.NewFlagSet("serve-trivial", flag.ContinueOnError)
	dir := fs.String("dir", "", "mountpoint (an empty directory)")
	readers := fs.Int("readers", 0, "vfs.Options.Readers (0: the default)")
	ticker := fs.Duration("ticker", 0, "keep a runtime ticker of this period pending, as the daemon does (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() == 0 {
		return errors.New("need -dir and name=path arguments")
	}
	var entries []vfs.Entry
	for _, a := range fs.Args() {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("bad argument %q, want name=path", a)
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		entries = append(entries, vfs.Entry{Name: name, Render: func(b *bytes.Buffer) error {
			b.Write(content)
			return nil
		}})
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	s, err := vfs.Mount(*dir, entries, vfs.Options{Name: "lxmount-bench-trivial", Readers: *readers})
	if err != nil {
		return err
	}
	if *ticker > 0 {
		// A goroutine must wait on the channel: an unwatched ticker
		// keeps no runtime timer pending.
		t := time.NewTicker(*ticker)
		defer t.Stop()
		go func() {
			for range t.C {
			}
		}()
	}
	fmt.Println("ready")
	select {
	case <-sigs:
	case <-s.Done():
	}
	return s.Close()
}
