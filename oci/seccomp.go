package oci

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
)

// NotifyAction is the seccomp action that hands a call to the listener.
const NotifyAction = "SCMP_ACT_NOTIFY"

// seccompRule is one entry of linux.seccomp.syscalls (runtime-spec
// config-linux.md, "Seccomp"); members other than names and action are
// kept as they were.
type seccompRule map[string]json.RawMessage

func (r seccompRule) names() []string {
	var n []string
	_ = json.Unmarshal(r["names"], &n)
	return n
}

func (r seccompRule) action() string {
	var a string
	_ = json.Unmarshal(r["action"], &a)
	return a
}

// allows reports whether an action lets a call run.
func allows(action string) bool { return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG" }

// nativeArchitectures are the seccomp architectures of a minimal profile:
// the native ABI and the others the kernel runs on it, so that the
// filter does not refuse their calls (libseccomp kills a call of an
// architecture the filter lacks).
func nativeArchitectures() []string {
	switch runtime.GOARCH {
	case "amd64":
		return []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}
	case "arm64":
		return []string{"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}
	}
	return nil
}

// AddSeccompNotify returns config.json data whose seccomp profile hands
// the calls named to the listener at listenerPath (SCMP_ACT_NOTIFY), and
// whether that changed anything.
//
// A profile that exists (Docker's and Podman's defaults) is kept: each
// name it allows is taken out of the rules that allow it and put in one
// notify rule appended at the end; a name the profile refuses stays
// refused. A profile with another listener is left alone (one listener
// per container), as is one that allows none of the names. With no
// profile a minimal one is added that allows everything else. Every
// other member of the document is kept as it was.
func AddSeccompNotify(data []byte, listenerPath string, names []string) ([]byte, bool, error) {
	doc, linux, err := linuxSection(data)
	if err != nil {
		return nil, false, err
	}
	var prof map[string]json.RawMessage
	if raw, ok := linux["seccomp"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &prof); err != nil {
			return nil, false, fmt.Errorf("config.json linux.seccomp: %w", err)
		}
	}
	if prof == nil {
		prof = map[string]json.RawMessage{}
		prof["defaultAction"] = mustJSON("SCMP_ACT_ALLOW")
		if a := nativeArchitectures(); a != nil {
			prof["architectures"] = mustJSON(a)
		}
	}
	var lp string
	_ = json.Unmarshal(prof["listenerPath"], &lp)
	if lp != "" && lp != listenerPath {
		return data, false, nil
	}
	var def string
	_ = json.Unmarshal(prof["defaultAction"], &def)
	var rules []seccompRule
	if raw, ok := prof["syscalls"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &rules); err != nil {
			return nil, false, fmt.Errorf("config.json linux.seccomp.syscalls: %w", err)
		}
	}
	var notify []string
	for _, name := range names {
		if profileAllows(def, rules, name) {
			notify = append(notify, name)
		}
	}
	if len(notify) == 0 {
		return data, false, nil
	}
	kept := rules[:0]
	for _, r := range rules {
		n := r.names()
		left := slices.DeleteFunc(slices.Clone(n), func(s string) bool { return slices.Contains(notify, s) })
		switch {
		case len(left) == len(n):
			kept = append(kept, r)
		case len(left) > 0:
			r["names"] = mustJSON(left)
			kept = append(kept, r)
		}
	}
	kept = append(kept, seccompRule{"names": mustJSON(notify), "action": mustJSON(NotifyAction)})
	prof["syscalls"] = mustJSON(kept)
	prof["listenerPath"] = mustJSON(listenerPath)
	linux["seccomp"] = mustJSON(prof)
	return finish(data, doc, linux)
}

// profileAllows reports whether a profile lets calls of name run: a rule
// naming it allows it without argument conditions (or is lxmount's notify
// rule), or no rule names it and the default allows it.
func profileAllows(def string, rules []seccompRule, name string) bool {
	mentioned := false
	for _, r := range rules {
		if !slices.Contains(r.names(), name) {
			continue
		}
		mentioned = true
		if _, hasArgs := r["args"]; r.action() == NotifyAction || allows(r.action()) && !hasArgs {
			return true
		}
	}
	return !mentioned && allows(def)
}

// AddTimeNamespace returns config.json data whose container gets a new
// time namespace with the given CLOCK_BOOTTIME offset (linux.timeOffsets
// "boottime", runtime-spec config-linux.md), and whether that changed
// anything. A config that already has a time namespace is left alone.
func AddTimeNamespace(data []byte, boottimeSecs int64) ([]byte, bool, error) {
	doc, linux, err := linuxSection(data)
	if err != nil {
		return nil, false, err
	}
	var nss []map[string]json.RawMessage
	if raw, ok := linux["namespaces"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &nss); err != nil {
			return nil, false, fmt.Errorf("config.json linux.namespaces: %w", err)
		}
	}
	for _, ns := range nss {
		var t string
		_ = json.Unmarshal(ns["type"], &t)
		if t == "time" {
			return data, false, nil
		}
	}
	nss = append(nss, map[string]json.RawMessage{"type": mustJSON("time")})
	linux["namespaces"] = mustJSON(nss)
	offs := map[string]json.RawMessage{}
	if raw, ok := linux["timeOffsets"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &offs); err != nil {
			return nil, false, fmt.Errorf("config.json linux.timeOffsets: %w", err)
		}
	}
	offs["boottime"] = mustJSON(map[string]int64{"secs": boottimeSecs, "nanosecs": 0})
	linux["timeOffsets"] = mustJSON(offs)
	return finish(data, doc, linux)
}

// linuxSection decodes data and its linux member (empty when absent).
func linuxSection(data []byte) (doc, linux map[string]json.RawMessage, err error) {
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if doc == nil {
		return nil, nil, fmt.Errorf("config.json: not a JSON object")
	}
	linux = map[string]json.RawMessage{}
	if raw, ok := doc["linux"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &linux); err != nil {
			return nil, nil, fmt.Errorf("config.json linux: %w", err)
		}
	}
	return doc, linux, nil
}

// finish puts linux back into doc and encodes it, reporting a change
// when the linux member differs from data's.
func finish(data []byte, doc, linux map[string]json.RawMessage) ([]byte, bool, error) {
	before := compact(doc["linux"])
	doc["linux"] = mustJSON(linux)
	if string(before) == string(compact(doc["linux"])) {
		return data, false, nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only values of this file, which always encode
	}
	return b
}
