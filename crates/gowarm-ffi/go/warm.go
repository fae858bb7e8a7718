package gowarm

/*
#include <stdlib.h>
#include "gowarm.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Outcome is how a warm ended.
type Outcome string

// The outcomes of a warm.
const (
	OutcomeWarm            Outcome = "warm"
	OutcomeIncomplete      Outcome = "incomplete"
	OutcomeProfileMismatch Outcome = "profile_mismatch"
	// OutcomeStopped: cancelled or past its deadline; what was installed is whole.
	OutcomeStopped Outcome = "stopped"
)

// Counts are the figures for one kind of item (modules or build-cache entries).
type Counts struct {
	Needed          uint64 `json:"needed"`
	AlreadyWarm     uint64 `json:"already_warm"`
	Installed       uint64 `json:"installed"`
	Failed          uint64 `json:"failed"`
	OptionalMissing uint64 `json:"optional_missing"`
	// Stopped items were not done because the warm was stopped.
	Stopped uint64 `json:"stopped"`
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
	// Dir is the module directory warmed ("" for WarmSets).
	Dir        string  `json:"dir"`
	Outcome    Outcome `json:"outcome"`
	DurationMS uint64  `json:"duration_ms"`
	PlanMS     uint64  `json:"plan_ms"`
	Modules    Counts  `json:"modules"`
	Entries    Counts  `json:"entries"`
	// WarmSets are the warm sets whose build-cache entries were taken.
	WarmSets       []string               `json:"warm_sets"`
	BytesInstalled uint64                 `json:"bytes_installed"`
	Sources        map[string]SourceStats `json:"sources"`
	Failures       []Failure              `json:"failures"`
	ProfileDiffs   []ProfileDiff          `json:"profile_diffs"`
	Warnings       []string               `json:"warnings"`
}

// FetchKind is what the Git cache had to do for a checkout.
type FetchKind string

// The kinds of fetch of a checkout.
const (
	// FetchClone: the repository was not cached and was cloned.
	FetchClone FetchKind = "clone"
	// FetchFetch: the cached repository was brought up to date from the remote.
	FetchFetch FetchKind = "fetch"
	// FetchReused: nothing was asked of the remote (the commit was cached).
	FetchReused FetchKind = "reused"
)

// Checkout is a Git revision checked out by WarmGit, ready for the job's build.
type Checkout struct {
	// Dir is the module directory (Root plus the subdir): the job builds here.
	Dir string `json:"dir"`
	// Root is the checkout of the whole commit, at a path stable per repository and
	// commit (so build-cache keys repeat across jobs).
	Root string `json:"root"`
	// Commit is the full commit id the revision resolved to.
	Commit string    `json:"commit"`
	Fetch  FetchKind `json:"fetch"`
	// ReceivedBytes were received from the remote by this call.
	ReceivedBytes uint64 `json:"received_bytes"`
	// CheckedOut: this call wrote the tree (false: an earlier or concurrent call had).
	CheckedOut bool   `json:"checked_out"`
	FetchMS    uint64 `json:"fetch_ms"`
	CheckoutMS uint64 `json:"checkout_ms"`
	DurationMS uint64 `json:"duration_ms"`
}

// WarmOptions are the optional parts of a warm ([Engine.WarmModuleWith]). The zero value
// is what [Engine.WarmModule] does.
type WarmOptions struct {
	// Sets names the warm sets whose build-cache entries to take; nil: the sets chosen
	// from the program's go.mod. Names may not be empty or contain a comma.
	Sets []string
	// Progress, when not nil, is called as the warm advances: for each phase once when it
	// begins (Done 0), once per finished item and once when it ends. It is called from the
	// engine's threads, never two calls at once, never after the warm method returns; it
	// must return quickly (the engine's workers wait for it) and must not call the Engine.
	// A panic in it is recovered, stops further progress calls, and is raised again in
	// the goroutine that called the warm method once the warm has ended.
	Progress func(Progress)
}

// WarmModule warms the caches for the Go module in dir from the configured sources.
//
// It returns a nil error only for OutcomeWarm. For GOWARM_INCOMPLETE,
// GOWARM_PROFILE_MISMATCH and GOWARM_STOPPED it returns the Report together with an *Error
// of that status (a stopped one wraps ctx.Err()); for other failures a zero Report and an
// *Error. See the package documentation for how ctx stops it.
func (e *Engine) WarmModule(ctx context.Context, dir string) (Report, error) {
	return e.WarmModuleWith(ctx, dir, WarmOptions{})
}

// WarmModuleWith is [Engine.WarmModule] with options (gowarm_warm).
func (e *Engine) WarmModuleWith(ctx context.Context, dir string, opts WarmOptions) (Report, error) {
	if dir == "" {
		return Report{}, &Error{Status: StatusInvalidArgument, Message: "module directory is empty"}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	status, text, cause, err := e.warm(ctx, opts, func(h *C.gowarm_engine, o *C.gowarm_warm_options, out **C.char) C.int32_t {
		return C.gowarm_warm(h, cdir, o, out)
	})
	if err != nil {
		return Report{}, err
	}
	var r Report
	if err := decodeReport(status, text, &r); err != nil {
		return Report{}, err
	}
	return r, outcomeError(status, r, cause)
}

// WarmSets warms the named warm sets of the warm cache (their modules and build-cache
// entries) with no program: what a pod does before it knows its job. A name the warm
// cache does not have is an *Error that lists the names it has. Results and ctx as for
// [Engine.WarmModule].
func (e *Engine) WarmSets(ctx context.Context, names ...string) (Report, error) {
	if len(names) == 0 {
		return Report{}, &Error{Status: StatusInvalidArgument, Message: "WarmSets needs at least one warm set name"}
	}
	status, text, cause, err := e.warm(ctx, WarmOptions{Sets: names}, func(h *C.gowarm_engine, o *C.gowarm_warm_options, out **C.char) C.int32_t {
		return C.gowarm_warm(h, nil, o, out)
	})
	if err != nil {
		return Report{}, err
	}
	var r Report
	if err := decodeReport(status, text, &r); err != nil {
		return Report{}, err
	}
	return r, outcomeError(status, r, cause)
}

// WarmGit checks revision rev (a branch, tag or commit id) of the Git repository url out
// into the engine's Git cache ([git] in the configuration) and warms the module in subdir
// of it ("" for the repository root); the job then builds in Checkout.Dir.
//
// The checkout is at a path stable per repository and commit: a commit already checked
// out is reused (Checkout.Fetch "reused" when rev is a commit id the cache has). A
// revision that does not exist, a remote that does not answer within [git] timeout_secs
// or a checkout without go.mod is an *Error of StatusError and a zero Checkout and Report.
// Otherwise results as for [Engine.WarmModule], with the Checkout. ctx stops the warm,
// not the checkout (see the package documentation).
func (e *Engine) WarmGit(ctx context.Context, url, rev, subdir string) (Checkout, Report, error) {
	if url == "" || rev == "" {
		return Checkout{}, Report{}, &Error{Status: StatusInvalidArgument, Message: "WarmGit needs a repository URL and a revision"}
	}
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	crev := C.CString(rev)
	defer C.free(unsafe.Pointer(crev))
	csub := cstring(subdir)
	defer C.free(unsafe.Pointer(csub))
	status, text, cause, err := e.warm(ctx, WarmOptions{}, func(h *C.gowarm_engine, o *C.gowarm_warm_options, out **C.char) C.int32_t {
		return C.gowarm_warm_git(h, curl, crev, csub, o, out)
	})
	if err != nil {
		return Checkout{}, Report{}, err
	}
	var body struct {
		Checkout Checkout `json:"checkout"`
		Report   Report   `json:"report"`
	}
	if err := decode(status, text, "checkout and Report", &body); err != nil {
		return Checkout{}, Report{}, err
	}
	return body.Checkout, body.Report, outcomeError(status, body.Report, cause)
}

// warm runs one gowarm_warm-like function with options made from ctx and opts: the
// deadline as timeout_ms, ctx.Done() wired to a cancellation handle, progress through a
// cgo.Handle. cause is the context error to wrap if the engine stopped the warm.
func (e *Engine) warm(ctx context.Context, opts WarmOptions,
	fn func(h *C.gowarm_engine, o *C.gowarm_warm_options, out **C.char) C.int32_t) (status Status, text []byte, cause error, err error) {
	var o C.gowarm_warm_options
	if opts.Sets != nil {
		if len(opts.Sets) == 0 {
			return 0, nil, nil, &Error{Status: StatusInvalidArgument, Message: "WarmOptions.Sets is empty; leave it nil to choose the warm sets from go.mod"}
		}
		for _, name := range opts.Sets {
			if strings.TrimSpace(name) == "" || strings.Contains(name, ",") {
				return 0, nil, nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("bad warm set name %q: names are not empty and have no comma", name)}
			}
		}
		o.sets = C.CString(strings.Join(opts.Sets, ","))
		defer C.free(unsafe.Pointer(o.sets))
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, nil, err
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, nil, nil, context.DeadlineExceeded
		}
		// Rounded up, so the engine never stops before ctx's deadline.
		o.timeout_ms = C.uint64_t((left + time.Millisecond - 1) / time.Millisecond)
	}
	if done := ctx.Done(); done != nil {
		handle := C.gowarm_cancel_new()
		o.cancel = handle
		finished := make(chan struct{})
		watcher := make(chan struct{})
		go func() {
			defer close(watcher)
			select {
			case <-done:
				C.gowarm_cancel_trigger(handle)
			case <-finished:
			}
		}()
		// Runs after the call: the watcher has exited before the handle is freed.
		defer func() {
			close(finished)
			<-watcher
			C.gowarm_cancel_free(handle)
		}()
	}
	if opts.Progress != nil {
		// Deferred calls run last-in first-out, all after the engine call: release (which
		// re-raises a panic of the callback) first, then the cancellation handle's clean-up.
		defer attachProgress(&o, opts.Progress)()
	}
	status, text, err = e.call(ctx, func(h *C.gowarm_engine, out **C.char) C.int32_t {
		return fn(h, &o, out)
	})
	if err == nil && status == StatusStopped {
		cause = ctx.Err()
		if cause == nil && hasDeadline {
			// The engine's timeout (ctx's deadline) fired before Go's timer marked ctx
			// done; the cancellation handle is only triggered once ctx is done.
			cause = context.DeadlineExceeded
		}
	}
	return status, text, cause, err
}

// decodeReport decodes the Report JSON of a warm status, or returns the failure.
func decodeReport(status Status, text []byte, r *Report) error {
	return decode(status, text, "Report", r)
}

// decode decodes the JSON of a call that returned a warm status into v; other statuses
// are failures with `{"error": "..."}`.
func decode(status Status, text []byte, what string, v any) error {
	switch status {
	case StatusOK, StatusIncomplete, StatusProfileMismatch, StatusStopped:
	default:
		return failure(status, text)
	}
	if err := json.Unmarshal(text, v); err != nil {
		return &Error{Status: StatusError, Message: fmt.Sprintf("decoding the %s JSON: %v", what, err)}
	}
	return nil
}

// outcomeError is the error for a warm that returned a Report: nil when it ended warm.
func outcomeError(status Status, r Report, cause error) error {
	if status == StatusOK {
		return nil
	}
	return &Error{Status: status, Message: summary(r, cause), cause: cause}
}

// summary says why a warm that returned a Report did not end warm.
func summary(r Report, cause error) string {
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
	case OutcomeStopped:
		why := "stopped"
		if cause != nil {
			why = cause.Error()
		}
		return fmt.Sprintf("warm stopped (%s): %d modules and %d build-cache entries not done, %d and %d installed",
			why, r.Modules.Stopped, r.Entries.Stopped, r.Modules.Installed, r.Entries.Installed)
	}
	return fmt.Sprintf("warm ended %q", r.Outcome)
}
