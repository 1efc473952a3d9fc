package discovery

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	// Fields after the command name: 3 state, 4 ppid, ..., 22 starttime.
	const tail = " S 1200 1234 1234 0 -1 4194560 225 0 0 0 0 0 0 0 20 0 1 0 106237 2605056 200 18446744073709551615"
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", line: "1234 (sleep)" + tail + "\n", want: procStat{PPID: 1200, Start: 106237}},
		{name: "command name with spaces and parentheses", line: "1234 (a) (b c)" + tail + "\n", want: procStat{PPID: 1200, Start: 106237}},
		{name: "command name with a newline", line: "1234 (a\nb)" + tail + "\n", want: procStat{PPID: 1200, Start: 106237}},
		{name: "runc's init names itself runc:[2:INIT]", line: "1234 (runc:[2:INIT])" + tail, want: procStat{PPID: 1200, Start: 106237}},
		{name: "no closing parenthesis", line: "1234 (sleep S 1 2", wantErr: true},
		{name: "truncated before starttime", line: "1234 (sleep) S 1200 1234", wantErr: true},
		{name: "ppid not a number", line: "1234 (sleep) S x" + strings.Repeat(" 0", 20), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(strings.NewReader(tt.line))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseStat(%q) = %+v, want an error", tt.line, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestParseNSpid(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    []int
		wantErr bool
	}{
		{name: "host process", status: "Name:\tbash\nNSpid:\t1056\nNSgid:\t1056\n", want: []int{1056}},
		{name: "init of a pid namespace", status: "Name:\tsleep\nNSpid:\t16632\t1\n", want: []int{16632, 1}},
		{name: "nested twice", status: "NSpid:\t710\t3\t1\n", want: []int{710, 3, 1}},
		{name: "kernel before 4.1 has no NSpid", status: "Name:\tbash\nPid:\t1056\n", want: nil},
		{name: "not a number", status: "NSpid:\t12\tx\n", wantErr: true},
		{name: "empty", status: "NSpid:\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNSpid(strings.NewReader(tt.status))
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseNSpid = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseNSLink(t *testing.T) {
	tests := []struct {
		kind, link string
		want       uint64
		wantErr    bool
	}{
		{kind: "mnt", link: "mnt:[4026531841]", want: 4026531841},
		{kind: "pid", link: "pid:[4026531836]", want: 4026531836},
		{kind: "pid", link: "mnt:[4026531841]", wantErr: true},
		{kind: "mnt", link: "mnt:[]", wantErr: true},
		{kind: "mnt", link: "mnt:[4026531841", wantErr: true},
		{kind: "mnt", link: "/proc/1/ns/mnt", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.link, func(t *testing.T) {
			got, err := parseNSLink(tt.kind, tt.link)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseNSLink(%q, %q) = %d, %v; want %d (error %v)", tt.kind, tt.link, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
