package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/nriplugin"
	"github.com/lxmount/lxmount/supervisor"
)

// startNRI runs the NRI plugin when the configuration asks for it
// (nri = true), until ctx ends; the function it returns waits for the
// plugin to stop, so that no attach starts after it. The plugin retries
// in the background while the runtime has no NRI socket.
func startNRI(ctx context.Context, stateDir string, d configs.Daemon, sup *supervisor.Supervisor, log *slog.Logger) (wait func()) {
	if !d.NRI {
		return func() {}
	}
	p := nriplugin.New(sup, nriplugin.Config{
		Socket:      d.NRISocket,
		HookTimeout: d.HookTimeout,
		Refuse:      d.HookFailure == configs.HookFailureRefuse,
		ReadyFile:   filepath.Join(stateDir, nriplugin.ReadyFile),
		Log:         log,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() { <-done }
}
