package sources

import "errors"

// errNotImplemented marks a renderer that is not written yet.
var errNotImplemented = errors.New("not implemented")
