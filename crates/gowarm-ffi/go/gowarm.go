// Package gowarm is the Go API of the gowarm engine, over its C ABI (libgowarm_ffi, see
// docs/c-abi.md) through cgo.
//
// An [Engine] is opened from gowarm.toml text ([Open]) or a file ([OpenFile]), used by any
// number of goroutines at once, and closed with [Engine.Close]. [Engine.Detect] reports what
// is cold for a Go module directory; [Engine.WarmModule] fills the caches from the
// configured sources and returns the [Report]; [Engine.WarmModuleWith] does the same with
// [WarmOptions] (warm sets, progress); [Engine.WarmSets] warms named warm sets without a
// program; [Engine.WarmGit] checks a Git revision out into the engine's Git cache and warms
// the module there.
//
// # Building
//
// The package links the static library statically: it needs libgowarm_ffi.a (built by
// `cargo build -p gowarm-ffi --release`, in target/release/) and a C compiler. The header
// comes from ../include; the library directory is the caller's to supply:
//
//	CGO_ENABLED=1 CGO_LDFLAGS="-L/path/to/target/release" go build ./...
//
// The library uses the system's OpenSSL and zlib (libgit2's HTTPS transport): the binary
// links libssl, libcrypto and libz dynamically, so the image it runs in needs them.
//
// # Contexts
//
// The warm methods (WarmModule, WarmModuleWith, WarmSets, WarmGit) honour ctx:
//
//   - ctx already done: the method returns ctx.Err() and a zero result without calling the
//     engine.
//   - ctx has a deadline: the engine gets the time remaining as its timeout
//     (gowarm_warm_options.timeout_ms), so it stops at the deadline on its own.
//   - ctx.Done() closes during the call: a goroutine triggers the call's cancellation handle
//     (gowarm_cancel_trigger). Items not started are skipped, items waiting on a source are
//     abandoned, and an install under way finishes (the caches never hold half an item), so
//     the method returns promptly: at the latest when what cannot be interrupted ends (the
//     installs under way, planning, which runs `go env`, and for WarmGit the checkout).
//   - A warm the engine stopped returns the partial Report (Outcome "stopped", the items
//     not done counted in Counts.Stopped) and an *Error of StatusStopped that wraps
//     ctx.Err(): errors.Is(err, context.Canceled) or errors.Is(err,
//     context.DeadlineExceeded) says why. (If the engine's timeout fires an instant before
//     Go marks ctx done, the error still wraps context.DeadlineExceeded.)
//   - A warm that finished before ctx ended, or had nothing left to do when it did, returns
//     the engine's result unchanged: cancellation never turns a done warm into an error.
//
// The goroutine and the handle live only as long as the call: both are gone when the
// method returns. Detect has no cancellation in the C ABI: it checks ctx.Err() before it
// calls the engine, and a Detect that has started runs to its end.
package gowarm

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo LDFLAGS: -l:libgowarm_ffi.a -lssl -lcrypto -lz -lpthread -ldl -lm
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
	StatusStopped         Status = C.GOWARM_STOPPED
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
	case StatusStopped:
		return "GOWARM_STOPPED"
	}
	return fmt.Sprintf("gowarm status %d", int32(s))
}

// Error is a call that did not succeed: the engine's status and its message.
//
// An Error of StatusStopped wraps the context error that stopped the warm (see the package
// documentation): errors.Is(err, context.Canceled) and errors.Is(err,
// context.DeadlineExceeded) see through it.
type Error struct {
	Status  Status
	Message string
	// cause is ctx.Err() for StatusStopped, nil otherwise.
	cause error
}

// Unwrap returns the context error that stopped a warm (nil for other errors).
func (e *Error) Unwrap() error { return e.cause }

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

// call runs one JSON-returning ABI function on the live handle, after checking ctx.
func (e *Engine) call(ctx context.Context, fn func(h *C.gowarm_engine, out **C.char) C.int32_t) (Status, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.handle == nil {
		return 0, nil, ErrClosed
	}
	var out *C.char
	status := Status(fn(e.handle, &out))
	return status, []byte(take(out)), nil
}

// cstring is s as a C string for the duration of a call (free it with C.free); NULL for "".
func cstring(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
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
// A cold module is not an error: see Plan.IsWarm. ctx is checked before the call only: the
// C ABI cannot interrupt a detect (see the package documentation).
func (e *Engine) Detect(ctx context.Context, dir string) (Plan, error) {
	cdir := cstring(dir)
	defer C.free(unsafe.Pointer(cdir))
	status, text, err := e.call(ctx, func(h *C.gowarm_engine, out **C.char) C.int32_t {
		return C.gowarm_detect(h, cdir, out)
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
