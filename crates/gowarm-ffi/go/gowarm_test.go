package gowarm

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// The Rust driver (crates/gowarm-ffi/tests/go_package.rs) sets these; run the tests with
// `cargo test -p gowarm-ffi --test go_package`.
const (
	envConfig  = "GOWARM_TEST_CONFIG"  // gowarm.toml text: isolated cold caches, a warm-cache source
	envProgram = "GOWARM_TEST_PROGRAM" // the example program's module directory
)

func required(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: these tests need the fixture the Rust driver builds; run "+
			"`cargo test -p gowarm-ffi --test go_package` instead of `go test` directly", name)
	}
	return v
}

func TestDetectWarmDetectConcurrentWarm(t *testing.T) {
	config := required(t, envConfig)
	program := required(t, envProgram)
	engine, err := Open(config)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer engine.Close()
	ctx := context.Background()

	plan, err := engine.Detect(ctx, program)
	if err != nil {
		t.Fatalf("Detect (cold): %v", err)
	}
	if plan.IsWarm {
		t.Fatalf("Detect on fresh caches says warm: %s", plan.RawJSON)
	}
	if len(plan.ColdModules) == 0 || plan.Module == "" {
		t.Fatalf("cold plan without cold modules or module path: %+v", plan)
	}
	t.Logf("cold: module %s, %d of %d modules cold, %d entries cold",
		plan.Module, len(plan.ColdModules), len(plan.Modules), plan.ColdEntries)

	report, err := engine.WarmModule(ctx, program)
	if err != nil {
		t.Fatalf("WarmModule: %v (report %+v)", err, report)
	}
	if report.Outcome != OutcomeWarm || report.Modules.Installed == 0 || report.BytesInstalled == 0 {
		t.Fatalf("WarmModule report: %+v", report)
	}
	if len(report.Sources) == 0 {
		t.Fatalf("report names no source: %+v", report)
	}
	t.Logf("warm: %d modules, %d entries installed, %d bytes in %d ms",
		report.Modules.Installed, report.Entries.Installed, report.BytesInstalled, report.DurationMS)

	plan, err = engine.Detect(ctx, program)
	if err != nil {
		t.Fatalf("Detect (warm): %v", err)
	}
	if !plan.IsWarm {
		t.Fatalf("Detect after WarmModule is not warm: %s", plan.RawJSON)
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	reports := make([]Report, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			reports[i], errs[i] = engine.WarmModule(ctx, program)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent WarmModule %d: %v", i, err)
		} else if reports[i].Outcome != OutcomeWarm {
			t.Errorf("concurrent WarmModule %d: outcome %q", i, reports[i].Outcome)
		}
	}
}

func TestOpenBadTOMLNamesTheKey(t *testing.T) {
	required(t, envConfig)
	engine, err := Open("[go]\nbinaryy = \"/usr/bin/go\"\n")
	if err == nil {
		engine.Close()
		t.Fatal("Open accepted an unknown key")
	}
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Status != StatusError {
		t.Fatalf("want *Error with GOWARM_ERROR, got %T %v", err, err)
	}
	t.Logf("Open with a bad key: %v", err)
	if !strings.Contains(gerr.Message, "binaryy") {
		t.Fatalf("error does not name the bad key: %v", err)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	config := required(t, envConfig)
	program := required(t, envProgram)
	engine, err := Open(config)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := engine.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := engine.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := engine.Detect(context.Background(), program); !errors.Is(err, ErrClosed) {
		t.Fatalf("Detect after Close: want ErrClosed, got %v", err)
	}
}

func TestCanceledContextIsNotCalled(t *testing.T) {
	config := required(t, envConfig)
	engine, err := Open(config)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer engine.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := engine.WarmModule(ctx, "/nonexistent"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WarmModule with a canceled context: want context.Canceled, got %v", err)
	}
}

func TestDetectOfADirectoryWithoutGoModIsAnError(t *testing.T) {
	config := required(t, envConfig)
	engine, err := Open(config)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer engine.Close()
	_, err = engine.Detect(context.Background(), t.TempDir())
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Status != StatusError || !strings.Contains(gerr.Message, "go.mod") {
		t.Fatalf("want *Error about go.mod, got %v", err)
	}
	if v := Version(); v == "" {
		t.Fatal("Version is empty")
	}
}
