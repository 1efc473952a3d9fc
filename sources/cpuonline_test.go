package sources

import "testing"

func TestCPUOnline(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"one CPU", 1, "0\n"},
		{"two CPUs", 2, "0-1\n"},
		{"many CPUs", 128, "0-127\n"},
		{"zero counts as one", 0, "0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(CPUOnline(tt.n)); got != tt.want {
				t.Errorf("CPUOnline(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}
