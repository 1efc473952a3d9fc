package sources

// renderState is the little mutable state a container's renderers keep
// between reads (guarded by Container.mu). Fields are added by the
// renderers that need them.
type renderState struct{}
