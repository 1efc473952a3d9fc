// Package oci reads what an OCI runtime hands lxmount and edits the one
// thing lxmount changes in a bundle: the container state a runtime hook
// reads on stdin (runtime-spec runtime.md, "State"), the parts of a
// bundle's config.json lxmount needs (root.path, annotations, mounts), and
// the createRuntime hook entry `lxmount-runc` adds to config.json.
//
// config.json is edited as JSON objects whose unknown members are kept
// byte for byte: lxmount never drops or reorders what a runtime, Docker or
// Kubernetes put there. It does not validate a spec; the runtime does.
package oci
