package sources

// renderState is the little mutable state a container's renderers keep
// between reads, guarded by Container.mu.
type renderState struct {
	stat statState // /proc/stat: last idle values handed out, so they never go backwards
	load loadState // /proc/loadavg: the exponentially decayed averages
}
