package seccompagent

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/sources"
)

// Field mapping with values 1…N: a wrong mapping shows at once.
func TestSysinfoOf(t *testing.T) {
	host := unix.Sysinfo_t{Uptime: 1000, Loads: [3]uint64{1, 2, 3}, Totalram: 4, Freeram: 5, Sharedram: 6, Bufferram: 7,
		Totalswap: 8, Freeswap: 9, Procs: 10, Totalhigh: 11, Freehigh: 12, Unit: 1}
	v := sources.Sysinfo{MemKnown: true, TotalRAM: 104, FreeRAM: 105, SharedRAM: 106, BufferRAM: 107,
		SwapKnown: true, TotalSwap: 108, FreeSwap: 109, UptimeKnown: true, Uptime: 1500 * time.Millisecond,
		LoadKnown: true, Loads: sources.LoadAverage{2048, 1024, 0}, ProcsKnown: true, Procs: 110}
	got := sysinfoOf(host, v)
	want := unix.Sysinfo_t{Uptime: 2, Loads: [3]uint64{65536, 32768, 0}, Totalram: 104, Freeram: 105, Sharedram: 106, Bufferram: 107,
		Totalswap: 108, Freeswap: 109, Procs: 110, Unit: 1}
	if got != want {
		t.Errorf("sysinfoOf = %+v\nwant %+v", got, want)
	}
	if got := sysinfoOf(host, sources.Sysinfo{}); got != host {
		t.Errorf("nothing known: %+v, want the host's %+v", got, host)
	}
	if sysinfoSize != 112 {
		t.Errorf("sizeof(struct sysinfo) = %d, want 112 on 64-bit", sysinfoSize)
	}
}

func TestNotifBytes(t *testing.T) {
	n := notif{ID: 1, PID: 2, Flags: 3, Nr: 4, Arch: 5, IP: 6, Args: [6]uint64{7, 8, 9, 10, 11, 12}}
	b := n.bytes()
	got, err := notifFrom(b[:])
	if err != nil || got != n {
		t.Errorf("round trip %+v, %v; want %+v", got, err, n)
	}
}

func TestParseProcessState(t *testing.T) {
	// As runc 1.1.5 sends it.
	msg := `{"ociVersion":"1.0.2-dev","fds":["seccompFd"],"pid":4242,"metadata":"","state":{"ociVersion":"1.0.2-dev","id":"web","status":"creating","pid":4242,"bundle":"/b"}}`
	ps, idx, err := ParseProcessState([]byte(msg), 1)
	if err != nil || idx != 0 || ps.State.ID != "web" || ps.State.PID != 4242 {
		t.Errorf("got %+v, %d, %v", ps, idx, err)
	}
	if _, _, err := ParseProcessState([]byte(msg), 0); err == nil {
		t.Errorf("no fd received: no error")
	}
	if _, _, err := ParseProcessState([]byte(`{"fds":["other"],"state":{"pid":1}}`), 1); err == nil {
		t.Errorf("no seccompFd: no error")
	}
}
