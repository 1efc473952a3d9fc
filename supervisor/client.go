package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// ErrNoDaemon: nothing answers on the control socket.
var ErrNoDaemon = errors.New("no daemon answers")

// ErrPermission: the control socket refused the caller (it admits root
// only). A daemon may well be running: it is never started then.
var ErrPermission = errors.New("permission denied")

// Client talks to a daemon's control API.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// Ping reports whether a daemon answers.
func (c *Client) Ping() error {
	return c.PingContext(context.Background())
}

// PingContext is Ping bounded by ctx.
func (c *Client) PingContext(ctx context.Context) error {
	var st Status
	return c.callContext(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Status fetches the daemon's state.
func (c *Client) Status() (Status, error) {
	var st Status
	err := c.call(http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Attach asks the daemon to attach the container of pid.
func (c *Client) Attach(pid int, policy string) (AttachResult, error) {
	var res AttachResult
	err := c.call(http.MethodPost, "/v1/attach", Attach{PID: pid, Policy: policy}, &res)
	return res, err
}

// AttachRequest sends req; ctx bounds the whole call (an OCI hook's
// deadline).
func (c *Client) AttachRequest(ctx context.Context, req Attach) (AttachResult, error) {
	var res AttachResult
	err := c.callContext(ctx, http.MethodPost, "/v1/attach", req, &res)
	return res, err
}

// Detach asks the daemon to detach a container by PID or id.
func (c *Client) Detach(target string) (DetachResult, error) {
	var res DetachResult
	err := c.call(http.MethodPost, "/v1/detach", Detach{Target: target}, &res)
	return res, err
}

// Reconcile asks the daemon to reconcile now.
func (c *Client) Reconcile(dryRun bool) (ReconcileResult, error) {
	var res ReconcileResult
	err := c.call(http.MethodPost, "/v1/reconcile", Reconcile{DryRun: dryRun}, &res)
	return res, err
}

func (c *Client) call(method, path string, in, out any) error {
	return c.callContext(context.Background(), method, path, in, out)
}

func (c *Client) callContext(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lxmount"+path, &body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return fmt.Errorf("%s %s on %s: no answer in time: %w", method, path, c.socket, ctx.Err())
	}
	if err != nil && refused(err) {
		return fmt.Errorf("%w on %s: run as root (the control socket admits root only)", ErrPermission, c.socket)
	}
	if err != nil {
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			why := err.Error()
			if errors.As(err, &oe) && oe.Err != nil {
				why = oe.Err.Error()
			}
			return fmt.Errorf("%w on %s (%s): start one with `lxmount daemon`, or give --socket", ErrNoDaemon, c.socket, why)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return &APIError{Status: resp.StatusCode, Message: resp.Status}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// refused reports whether err says the socket refused this process: the
// socket's mode (EACCES, EPERM), or, for a caller that is not root, a
// daemon that closed the connection unanswered (its SO_PEERCRED check).
func refused(err error) bool {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return true
	}
	return os.Geteuid() != 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
}

// APIError is a failed call's answer.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }
