package nriplugin

import (
	"context"
	"fmt"
	"log/slog"

	nrilog "github.com/containerd/nri/pkg/log"
)

// nriLogger hands the NRI stub's messages to slog. The stub narrates each
// connection (created, registering, configuring, started) at info level:
// that goes to debug, the plugin logs what matters itself.
type nriLogger struct{ log *slog.Logger }

var _ nrilog.Logger = nriLogger{}

func (l nriLogger) Debugf(ctx context.Context, format string, args ...any) {
	l.log.DebugContext(ctx, "nri: "+fmt.Sprintf(format, args...))
}

func (l nriLogger) Infof(ctx context.Context, format string, args ...any) {
	l.log.DebugContext(ctx, "nri: "+fmt.Sprintf(format, args...))
}

func (l nriLogger) Warnf(ctx context.Context, format string, args ...any) {
	l.log.WarnContext(ctx, "nri: "+fmt.Sprintf(format, args...))
}

func (l nriLogger) Errorf(ctx context.Context, format string, args ...any) {
	l.log.ErrorContext(ctx, "nri: "+fmt.Sprintf(format, args...))
}
