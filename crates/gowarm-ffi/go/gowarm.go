// Package gowarm is the Go API of the gowarm engine, over its C ABI (libgowarm_ffi, see
// docs/c-abi.md) through cgo.
//
// An [Engine] is opened from gowarm.toml text ([Open]) or a file ([OpenFile]), used by any
// number of goroutines at once, and closed with [Engine.Close]. [Engine.Detect] reports what
// is cold for a Go module directory; [Engine.WarmModule] fills the caches from the
// configured sources and returns the [Report].
//
// # Building
//
// The package links the static library statically: it needs libgowarm_ffi.a (built by
// `cargo build -p gowarm-ffi --release`, in target/release/) and a C compiler. The header
// comes from ../include; the library directory is the caller's to supply:
//
//	CGO_ENABLED=1 CGO_LDFLAGS="-L/path/to/target/release" go build ./...
//
// # Cancellation
//
// The C ABI has no cancellation yet. Every method checks ctx.Err() before it calls the
// engine and returns that error without calling it; a call that has started is NOT
// interrupted by cancelling ctx or by its deadline, and runs to completion (blocking the
// calling goroutine's OS thread) before the method returns. Callers that need a bound must
// enforce it around the call and accept that the engine keeps working in the background.
package gowarm

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo LDFLAGS: -l:libgowarm_ffi.a -lpthread -ldl -lm
#include <stdlib.h>
#include "gowarm.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Status is what a call of the C ABI returned (enum gowarm_status).
type Status int32

// The statuses of the C ABI; the values match the gowarm CLI's exit codes.
const (
	StatusOK              Status = C.GOWARM_OK
	StatusError           Status = C.GOWARM_ERROR
	StatusInvalidArgument Status = C.GOWARM_INVALID_ARGUMENT
	StatusCold            Status = C.GOWARM_COLD
	StatusIncomplete      Status = C.GOWARM_INCOMPLETE
	StatusProfileMismatch Status = C.GOWARM_PROFILE_MISMATCH
	StatusPanic           Status = C.GOWARM_PANIC
	StatusAlreadySet      Status = C.GOWARM_ALREADY_SET
)

// String names the status as the header does.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "GOWARM_OK"
	case StatusError:
		return "GOWARM_ERROR"
	case StatusInvalidArgument:
		return "GOWARM_INVALID_ARGUMENT"
	case StatusCold:
		return "GOWARM_COLD"
	case StatusIncomplete:
		return "GOWARM_INCOMPLETE"
	case StatusProfileMismatch:
		return "GOWARM_PROFILE_MISMATCH"
	case StatusPanic:
		return "GOWARM_PANIC"
	case StatusAlreadySet:
		return "GOWARM_ALREADY_SET"
	}
	return fmt.Sprintf("gowarm status %d", int32(s))
}

// Error is a call that did not succeed: the engine's status and its message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "gowarm: " + e.Status.String()
	}
	return "gowarm: " + e.Message + " (" + e.Status.String() + ")"
}

// ErrClosed is returned by the methods of an Engine that was closed.
var ErrClosed = errors.New("gowarm: engine is closed")

// Version is the version of the linked libgowarm_ffi, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.gowarm_version())
}

// Engine is an open gowarm engine. Its methods may be called from many goroutines at once.
type Engine struct {
	// mu is held for reading by every call and for writing by Close, so the handle is
	// never freed while a call uses it (the ABI forbids that race).
	mu     sync.RWMutex
	handle *C.gowarm_engine
}

// Open creates an engine from gowarm.toml text. GOWARM_* environment overrides are not
// applied: the text is the whole configuration.
func Open(configTOML string) (*Engine, error) {
	text := C.CString(configTOML)
	defer C.free(unsafe.Pointer(text))
	return open(func(out **C.gowarm_engine, msg **C.char) C.int32_t {
		return C.gowarm_engine_new_from_toml(text, out, msg)
	})
}

// OpenFile creates an engine from a configuration file, as `gowarm --config path` does;
// GOWARM_* environment variables of this process then override it.
func OpenFile(path string) (*Engine, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	return open(func(out **C.gowarm_engine, msg **C.char) C.int32_t {
		return C.gowarm_engine_new_from_file(p, out, msg)
	})
}

func open(create func(out **C.gowarm_engine, msg **C.char) C.int32_t) (*Engine, error) {
	var handle *C.gowarm_engine
	var msg *C.char
	status := Status(create(&handle, &msg))
	message := take(msg)
	if status != StatusOK {
		if handle != nil {
			C.gowarm_engine_free(handle)
		}
		return nil, &Error{Status: status, Message: message}
	}
	if handle == nil {
		return nil, &Error{Status: StatusError, Message: "engine constructor returned no handle"}
	}
	return &Engine{handle: handle}, nil
}

// Close frees the engine, after waiting for calls in progress. Closing again is a no-op.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.handle != nil {
		C.gowarm_engine_free(e.handle)
		e.handle = nil
	}
	return nil
}

// take copies a string gowarm returned and frees it; "" for NULL.
func take(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.gowarm_string_free(s)
	return C.GoString(s)
}

// call runs one JSON-returning ABI function on the live handle.
func (e *Engine) call(ctx context.Context, dir string,
	fn func(h *C.gowarm_engine, dir *C.char, out **C.char) C.int32_t) (Status, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.handle == nil {
		return 0, nil, ErrClosed
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var out *C.char
	status := Status(fn(e.handle, cdir, &out))
	return status, []byte(take(out)), nil
}

// failure is the error for a status with `{"error": "..."}` JSON.
func failure(status Status, text []byte) *Error {
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(text, &body); err != nil || body.Error == "" {
		return &Error{Status: status, Message: string(text)}
	}
	return &Error{Status: status, Message: body.Error}
}

// ModuleVersion is a Go module at a version.
type ModuleVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// String is path@version.
func (m ModuleVersion) String() string { return m.Path + "@" + m.Version }

// ModuleItem is one module a request needs and what of it is cold.
type ModuleItem struct {
	Module ModuleVersion `json:"module"`
	// Need is "tree" (a module whose packages are built), "go_mod" (its .mod only) or
	// "graph_go_mod" (an optional go.sum graph entry).
	Need      string `json:"need"`
	GoModCold bool   `json:"gomod_cold"`
	TreeCold  bool   `json:"tree_cold"`
	// Source is the first source that says it has the module ("" when none could tell).
	Source string `json:"source"`
}

// Cold reports whether anything of the module must be fetched.
func (m ModuleItem) Cold() bool { return m.GoModCold || m.TreeCold }

// Plan is what Detect found for one module directory (the engine's Plan JSON, reduced to
// what a runner needs; RawJSON holds all of it).
type Plan struct {
	// Dir is the module directory and Module its module path.
	Dir    string
	Module string
	// IsWarm: nothing required is cold (the call returned GOWARM_OK, not GOWARM_COLD).
	IsWarm bool
	// Modules is every needed module; ColdModules those with something cold (including
	// optional go.sum graph entries, which do not make the plan cold by themselves).
	Modules     []ModuleItem
	ColdModules []ModuleItem
	// ColdEntries build-cache entries (ColdEntryBytes bytes) are missing; EntriesSkipped
	// says why they will not be copied, if they will not.
	ColdEntries    int
	ColdEntryBytes uint64
	EntriesSkipped string
	GoModCache     string
	GoCache        string
	Warnings       []string
	// RawJSON is the Plan as the engine returned it.
	RawJSON []byte
}

type planJSON struct {
	Analysis struct {
		Dir    string `json:"dir"`
		Module string `json:"module"`
	} `json:"analysis"`
	GoModCache string       `json:"gomodcache"`
	GoCache    string       `json:"gocache"`
	Modules    []ModuleItem `json:"modules"`
	Entries    struct {
		Cold      []json.RawMessage `json:"cold"`
		ColdBytes uint64            `json:"cold_bytes"`
		Skipped   *string           `json:"skipped"`
	} `json:"entries"`
	Warnings []string `json:"warnings"`
}

// Detect reports what is cold for the Go module in dir and which source would supply it.
// A cold module is not an error: see Plan.IsWarm. ctx is checked before the call only
// (see the package documentation).
func (e *Engine) Detect(ctx context.Context, dir string) (Plan, error) {
	status, text, err := e.call(ctx, dir, func(h *C.gowarm_engine, d *C.char, out **C.char) C.int32_t {
		return C.gowarm_detect(h, d, out)
	})
	if err != nil {
		return Plan{}, err
	}
	if status != StatusOK && status != StatusCold {
		return Plan{}, failure(status, text)
	}
	var p planJSON
	if err := json.Unmarshal(text, &p); err != nil {
		return Plan{}, &Error{Status: StatusError, Message: fmt.Sprintf("decoding the Plan JSON: %v", err)}
	}
	plan := Plan{
		Dir:            p.Analysis.Dir,
		Module:         p.Analysis.Module,
		IsWarm:         status == StatusOK,
		Modules:        p.Modules,
		ColdEntries:    len(p.Entries.Cold),
		ColdEntryBytes: p.Entries.ColdBytes,
		GoModCache:     p.GoModCache,
		GoCache:        p.GoCache,
		Warnings:       p.Warnings,
		RawJSON:        text,
	}
	if p.Entries.Skipped != nil {
		plan.EntriesSkipped = *p.Entries.Skipped
	}
	for _, m := range p.Modules {
		if m.Cold() {
			plan.ColdModules = append(plan.ColdModules, m)
		}
	}
	return plan, nil
}

// Outcome is how a warm ended.
type Outcome string

// The outcomes of a warm.
const (
	OutcomeWarm            Outcome = "warm"
	OutcomeIncomplete      Outcome = "incomplete"
	OutcomeProfileMismatch Outcome = "profile_mismatch"
)

// Counts are the figures for one kind of item (modules or build-cache entries).
type Counts struct {
	Needed          uint64 `json:"needed"`
	AlreadyWarm     uint64 `json:"already_warm"`
	Installed       uint64 `json:"installed"`
	Failed          uint64 `json:"failed"`
	OptionalMissing uint64 `json:"optional_missing"`
}

// SourceStats are the figures of one source.
type SourceStats struct {
	Items    uint64 `json:"items"`
	Bytes    uint64 `json:"bytes"`
	Misses   uint64 `json:"misses"`
	Errors   uint64 `json:"errors"`
	Rejected uint64 `json:"rejected"`
	BusyMS   uint64 `json:"busy_ms"`
}

// Failure is one item that went wrong at one source ("" Source: no source could supply it).
type Failure struct {
	Item   string `json:"item"`
	Source string `json:"source"`
	Error  string `json:"error"`
}

// ProfileDiff is one field in which the warm cache's BuildProfile differs from this
// environment's. Severity is "blocking" or "warning".
type ProfileDiff struct {
	Field    string `json:"field"`
	Baked    string `json:"baked"`
	Runtime  string `json:"runtime"`
	Severity string `json:"severity"`
	Fix      string `json:"fix"`
}

// Report is what a warm did (the engine's Report JSON).
type Report struct {
	Dir            string                 `json:"dir"`
	Outcome        Outcome                `json:"outcome"`
	DurationMS     uint64                 `json:"duration_ms"`
	PlanMS         uint64                 `json:"plan_ms"`
	Modules        Counts                 `json:"modules"`
	Entries        Counts                 `json:"entries"`
	BytesInstalled uint64                 `json:"bytes_installed"`
	Sources        map[string]SourceStats `json:"sources"`
	Failures       []Failure              `json:"failures"`
	ProfileDiffs   []ProfileDiff          `json:"profile_diffs"`
	Warnings       []string               `json:"warnings"`
}

// WarmModule warms the caches for the Go module in dir from the configured sources.
//
// It returns a nil error only for OutcomeWarm. For GOWARM_INCOMPLETE and
// GOWARM_PROFILE_MISMATCH it returns the Report together with an *Error of that status;
// for other failures a zero Report and an *Error. ctx is checked before the call only (see
// the package documentation).
func (e *Engine) WarmModule(ctx context.Context, dir string) (Report, error) {
	status, text, err := e.call(ctx, dir, func(h *C.gowarm_engine, d *C.char, out **C.char) C.int32_t {
		return C.gowarm_warm_module(h, d, out)
	})
	if err != nil {
		return Report{}, err
	}
	switch status {
	case StatusOK, StatusIncomplete, StatusProfileMismatch:
	default:
		return Report{}, failure(status, text)
	}
	var r Report
	if err := json.Unmarshal(text, &r); err != nil {
		return Report{}, &Error{Status: StatusError, Message: fmt.Sprintf("decoding the Report JSON: %v", err)}
	}
	if status == StatusOK {
		return r, nil
	}
	return r, &Error{Status: status, Message: summary(r)}
}

// summary says why a warm that returned a Report did not end warm.
func summary(r Report) string {
	switch r.Outcome {
	case OutcomeIncomplete:
		msg := fmt.Sprintf("warm incomplete: %d modules and %d build-cache entries failed",
			r.Modules.Failed, r.Entries.Failed)
		if len(r.Failures) > 0 {
			f := r.Failures[len(r.Failures)-1]
			msg += fmt.Sprintf(" (e.g. %s: %s)", f.Item, f.Error)
		}
		return msg
	case OutcomeProfileMismatch:
		msg := "modules warm; build-cache entries skipped: the warm cache's BuildProfile cannot hit here"
		for _, d := range r.ProfileDiffs {
			if d.Severity == "blocking" {
				msg += fmt.Sprintf(" (%s: warm cache %q, here %q)", d.Field, d.Baked, d.Runtime)
				break
			}
		}
		return msg
	}
	return fmt.Sprintf("warm ended %q", r.Outcome)
}
