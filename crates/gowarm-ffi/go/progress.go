package gowarm

/*
#include <stdlib.h>
#include "gowarm.h"

// The exported Go function below (cgo writes its definition).
extern void gowarmProgress(void *user_data, int32_t phase, uint64_t done, uint64_t total, uint64_t bytes);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Phase is the part of a warm a Progress reports on (enum gowarm_phase).
type Phase int32

// The phases of a warm; both run at the same time.
const (
	// PhaseModules: module .mod files and trees.
	PhaseModules Phase = C.GOWARM_PHASE_MODULES
	// PhaseEntries: build-cache entries.
	PhaseEntries Phase = C.GOWARM_PHASE_ENTRIES
)

// String is "modules" or "entries".
func (p Phase) String() string {
	switch p {
	case PhaseModules:
		return "modules"
	case PhaseEntries:
		return "entries"
	}
	return fmt.Sprintf("gowarm phase %d", int32(p))
}

// Progress is one report of a warm's progress: in Phase, Done of Total items are finished,
// with Bytes bytes installed so far. For one phase Done and Bytes never decrease.
type Progress struct {
	Phase Phase
	Done  uint64
	Total uint64
	Bytes uint64
}

// progressSink is what the C callback's user_data leads to (through a cgo.Handle).
type progressSink struct {
	fn func(Progress)
	mu sync.Mutex
	// panicked holds the first panic of fn; later reports are dropped.
	panicked any
	failed   bool
}

func (s *progressSink) report(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			s.failed, s.panicked = true, v
		}
	}()
	s.fn(p)
}

// attachProgress points o's progress callback at fn and returns the release to call after
// the engine call: it frees what the callback needed and re-raises a panic of fn.
//
// user_data is C memory holding the cgo.Handle: a Go pointer may not be stored in the
// options (Go memory passed to C must not contain Go pointers), nor a handle's integer be
// disguised as a pointer.
func attachProgress(o *C.gowarm_warm_options, fn func(Progress)) (release func()) {
	sink := &progressSink{fn: fn}
	handle := cgo.NewHandle(sink)
	slot := (*C.uintptr_t)(C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0)))))
	*slot = C.uintptr_t(handle)
	o.progress = C.gowarm_progress_fn(C.gowarmProgress)
	o.progress_user_data = unsafe.Pointer(slot)
	return func() {
		// The engine never calls progress after the warm call returns.
		handle.Delete()
		C.free(unsafe.Pointer(slot))
		sink.mu.Lock()
		v, failed := sink.panicked, sink.failed
		sink.mu.Unlock()
		if failed {
			panic(v)
		}
	}
}

//export gowarmProgress
func gowarmProgress(userData unsafe.Pointer, phase C.int32_t, done, total, bytes C.uint64_t) {
	sink := cgo.Handle(*(*C.uintptr_t)(userData)).Value().(*progressSink)
	sink.report(Progress{Phase: Phase(phase), Done: uint64(done), Total: uint64(total), Bytes: uint64(bytes)})
}
