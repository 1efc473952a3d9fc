package supervisor

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// FuzzControlRequests: the control API's request bodies (attach, detach,
// reconcile) as the handlers decode them. A body is accepted, and then
// its re-encoding is accepted and encodes the same (a fixed point), or
// refused with 400 and an Error body; never a panic.
func FuzzControlRequests(f *testing.F) {
	for _, s := range []string{
		`{"pid": 42}`, `{"pid": 42, "policy": "web"}`, `{"target": "web-1"}`, `{"dry_run": true}`,
		`{"pid": 7, "oci": {"id": "c", "bundle": "/b", "rootfs": "/b/rootfs", "annotations": {"a": "b"}, "deadline": "2026-01-02T03:04:05.123+01:00"}}`,
		`{"pid": 1e3}`, `{"pid": -1}`, `{"bogus": 1}`, `{"pid": 1}{"pid": 2}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRequest[Attach](t, b)
		checkRequest[Detach](t, b)
		checkRequest[Reconcile](t, b)
	})
}

// checkRequest decodes b into a T as the handlers do and checks the
// outcome (FuzzControlRequests).
func checkRequest[T any](t *testing.T, b []byte) {
	t.Helper()
	var v T
	w := httptest.NewRecorder()
	if !readJSON(w, httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(b)), &v) {
		var e Error
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("%q refused with %d %q", b, w.Code, w.Body.String())
		}
		return
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return // e.g. a deadline past year 9999: decodable, not encodable
	}
	var again T
	if !readJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(enc)), &again) {
		t.Fatalf("%q: its encoding %s is refused", b, enc)
	}
	if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
		t.Fatalf("%q: encodes as %s, then as %s", b, enc, enc2)
	}
}

// FuzzDecodeState: a state file a previous daemon left, whatever a crash
// or a disk made of it. Accepted, it re-encodes to a state file that
// decodes to the same; refused, it is an error, never a panic.
func FuzzDecodeState(f *testing.F) {
	st := Status{Containers: []ContainerInfo{{ID: "web-1", InitPID: 42, InitStart: 7, MountNS: 9, Policy: "default",
		Files: []string{"meminfo"}, Targets: []string{"/proc/meminfo"}, CgroupDirs: map[string]string{"memory": "/sys/fs/cgroup/memory/web-1"}}}}
	good, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"daemon": {}, "containers": null}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		enc, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return // a time past year 9999
		}
		again, err := decodeState(enc)
		if err != nil {
			t.Fatalf("%q: re-encoded state %s refused: %v", b, enc, err)
		}
		if enc2, _ := json.MarshalIndent(again, "", "  "); !bytes.Equal(enc, enc2) {
			t.Fatalf("%q: encodes as %s, then as %s", b, enc, enc2)
		}
	})
}

// FuzzLxmountMountinfo: rediscovery's look at a container's mountinfo.
// It never panics, and finds an lxmount mount only where one is written.
func FuzzLxmountMountinfo(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "shared", "fixtures", "cgroup2-debian-6.1", "proc", "self", "mountinfo")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("22 1 0:21 / / rw - overlay overlay rw\n30 22 0:50 / /proc/meminfo ro,nosuid - fuse.lxmount lxmount-web rw,user_id=0\n"))
	f.Add([]byte("30 22 0:50 / /proc/meminfo ro - fuse.lxmount\n"))
	f.Add([]byte("30 22 0:50 / /a\\040b ro shared:1 - fuse.lxmount x rw\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		has, _ := hasLxmountMount(bytes.NewReader(b))
		if has && !bytes.Contains(b, []byte(lxmountFSType)) {
			t.Fatalf("%q: an lxmount mount found where none is written", b)
		}
	})
}
