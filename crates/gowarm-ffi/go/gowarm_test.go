package gowarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Rust driver (crates/gowarm-ffi/tests/go_package.rs) sets these; run the tests with
// `cargo test -p gowarm-ffi --test go_package`.
const (
	envConfig  = "GOWARM_TEST_CONFIG"  // gowarm.toml text: isolated cold caches, a warm-cache source
	envProgram = "GOWARM_TEST_PROGRAM" // the example program's module directory
	envGo      = "GOWARM_TEST_GO"      // the go binary
	// envGoEnv is a JSON object: the environment of isolated go commands, without the
	// per-pod HOME, GOPATH, GOMODCACHE, GOCACHE and GOFLAGS (see newPod).
	envGoEnv = "GOWARM_TEST_GOENV"
	envProxy = "GOWARM_TEST_PROXY" // file:// GOPROXY serving the example program's modules
	// A real SDK program (aws-sdk-go services and godo) and the warm cache baked for it
	// with GOFLAGS=-trimpath: a pod at any path gets build-cache hits with -trimpath.
	envSDKProgram = "GOWARM_TEST_SDK_PROGRAM"
	envSDKWarm    = "GOWARM_TEST_SDK_WARM"
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

// pod is a fresh set of Go caches (a cold pod) with the environment its go commands see.
type pod struct {
	root string
	env  map[string]string
}

// newPod makes a cold pod under t.TempDir() whose go commands run with GOFLAGS=goflags.
func newPod(t *testing.T, goflags string) *pod {
	t.Helper()
	var base map[string]string
	if err := json.Unmarshal([]byte(required(t, envGoEnv)), &base); err != nil {
		t.Fatalf("%s is not a JSON object of strings: %v", envGoEnv, err)
	}
	root := t.TempDir()
	// Runs before TempDir's removal (clean-ups run last first): module trees are read-only.
	t.Cleanup(func() { makeWritable(root) })
	p := &pod{root: root, env: base}
	home := filepath.Join(root, "gopath", "home")
	p.env["GOPATH"] = filepath.Join(root, "gopath")
	p.env["GOMODCACHE"] = filepath.Join(root, "gomodcache")
	p.env["GOCACHE"] = filepath.Join(root, "gocache")
	p.env["HOME"] = home
	p.env["GOFLAGS"] = goflags
	// go1.25 writes telemetry counters under HOME unless this file says off.
	telemetry := filepath.Join(home, ".config", "go", "telemetry")
	if err := os.MkdirAll(telemetry, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(telemetry, "mode"), []byte("off"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// quote is s as a TOML basic string (JSON's escapes are a subset of TOML's).
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// dirSource, proxySource: bodies of a [[source]] table. gitSection: a [git] table.
func dirSource(path string) string  { return "kind = \"dir\"\npath = " + quote(path) }
func proxySource(url string) string { return "kind = \"goproxy\"\nurl = " + quote(url) }
func gitSection(dir string) string  { return "[git]\ndir = " + quote(dir) + "\n" }

func with(env map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for key, val := range env {
		out[key] = val
	}
	out[k] = v
	return out
}

// config is gowarm.toml for this pod: the test's go with exactly the pod's environment,
// extra (whole tables, e.g. gitSection) and one [[source]] per body in sources.
func (p *pod) config(t *testing.T, extra string, sources ...string) string {
	t.Helper()
	keys := make([]string, 0, len(p.env))
	for k := range p.env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, quote(k)+" = "+quote(p.env[k]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[go]\nbinary = %s\nenv = { %s }\n\n%s", quote(required(t, envGo)), strings.Join(pairs, ", "), extra)
	for _, s := range sources {
		fmt.Fprintf(&b, "\n[[source]]\n%s\n", s)
	}
	return b.String()
}

// openEngine opens an engine from toml and closes it when the test ends.
func openEngine(t *testing.T, toml string) *Engine {
	t.Helper()
	engine, err := Open(toml)
	if err != nil {
		t.Fatalf("Open: %v\n%s", err, toml)
	}
	t.Cleanup(func() { engine.Close() })
	return engine
}

// build runs `go build -x` of the module in dir offline (GOPROXY=off, -mod=readonly) in
// the pod and returns how many packages it compiled.
func (p *pod) build(t *testing.T, dir string) int {
	t.Helper()
	flags := strings.TrimSpace("-mod=readonly " + p.env["GOFLAGS"])
	cmd := exec.Command(required(t, envGo), "build", "-x", "-o", filepath.Join(t.TempDir(), "program"), ".")
	cmd.Dir = dir
	for k, v := range with(with(p.env, "GOFLAGS", flags), "GOPROXY", "off") {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, stderr.String())
	}
	n := 0
	for _, line := range strings.Split(stderr.String(), "\n") {
		if isCompile(line) {
			n++
			if n <= 5 {
				t.Logf("compiled: %.200s", line)
			}
		}
	}
	return n
}

// isCompile reports whether a `go build -x` line runs the compiler (skipping VAR=value
// prefixes, as go build -x writes for link).
func isCompile(line string) bool {
	for _, word := range strings.Fields(line) {
		if i := strings.IndexByte(word, '='); i > 0 && !strings.ContainsAny(word[:i], "/\\") {
			continue
		}
		return filepath.Base(word) == "compile"
	}
	return false
}

// makeWritable gives the owner write permission on every directory under root, so the
// tree can be removed.
func makeWritable(root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o200 == 0 {
				_ = os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// stallingProxy is a GOPROXY that accepts connections and never answers. accepted is
// closed when the first connection arrives.
func stallingProxy(t *testing.T) (url string, accepted <-chan struct{}, conns func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	first := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			if len(held) == 1 {
				close(first)
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String(), first, func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
}

// settledGoroutines waits up to 2 s for the goroutine count to drop to at most n.
func settledGoroutines(n int) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := runtime.NumGoroutine()
		if got <= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func asError(t *testing.T, err error, status Status) *Error {
	t.Helper()
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Status != status {
		t.Fatalf("want *Error with %v, got %T %v", status, err, err)
	}
	return gerr
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
		t.Fatalf("cold plan without cold modules or module path: %s", plan.RawJSON)
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
	if len(report.Sources) == 0 || len(report.WarmSets) == 0 {
		t.Fatalf("report names no source or warm set: %+v", report)
	}
	t.Logf("warm: %d modules, %d entries installed, %d bytes in %d ms (warm sets %v)",
		report.Modules.Installed, report.Entries.Installed, report.BytesInstalled, report.DurationMS, report.WarmSets)

	plan, err = engine.Detect(ctx, program)
	if err != nil {
		t.Fatalf("Detect (warm): %v", err)
	}
	if !plan.IsWarm {
		t.Fatalf("Detect after WarmModule is not warm: %s", plan.RawJSON)
	}

	// Eight goroutines at once, each with a cancellable context (so each call has its own
	// cancellation handle and watcher goroutine, none of which may outlive the call).
	before := runtime.NumGoroutine()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	reports := make([]Report, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			reports[i], errs[i] = engine.WarmModule(cctx, program)
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
	if got := settledGoroutines(before); got > before {
		t.Errorf("%d goroutines after the concurrent warms, %d before", got, before)
	}
}

func TestSDKProgramWarmsWithProgressAndBuildsWithZeroCompiles(t *testing.T) {
	program := required(t, envSDKProgram)
	p := newPod(t, "-trimpath")
	engine := openEngine(t, p.config(t, "", dirSource(required(t, envSDKWarm))))
	ctx := context.Background()

	plan, err := engine.Detect(ctx, program)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if plan.IsWarm || plan.ColdEntries == 0 || plan.EntriesSkipped != "" {
		t.Fatalf("a cold pod with -trimpath: want cold modules and entries to copy, got warm %v, "+
			"%d entries cold, skipped %q", plan.IsWarm, plan.ColdEntries, plan.EntriesSkipped)
	}

	var (
		mu       sync.Mutex
		events   []Progress
		inside   atomic.Int32
		overlaps atomic.Int32
		returned atomic.Bool
		late     atomic.Int32
	)
	report, err := engine.WarmModuleWith(ctx, program, WarmOptions{Progress: func(pr Progress) {
		if inside.Add(1) != 1 {
			overlaps.Add(1)
		}
		if returned.Load() {
			late.Add(1)
		}
		mu.Lock()
		events = append(events, pr)
		mu.Unlock()
		inside.Add(-1)
	}})
	returned.Store(true)
	if err != nil {
		t.Fatalf("WarmModuleWith: %v", err)
	}
	if report.Outcome != OutcomeWarm || report.Modules.Installed == 0 || report.Entries.Installed == 0 ||
		report.Modules.Failed+report.Entries.Failed != 0 {
		t.Fatalf("report: %+v", report)
	}
	if report.Entries.Installed+report.Entries.AlreadyWarm < uint64(plan.ColdEntries) {
		t.Fatalf("%d entries installed, %d were cold", report.Entries.Installed, plan.ColdEntries)
	}
	t.Logf("SDK warm: %d modules, %d entries, %d bytes in %d ms; %d progress reports",
		report.Modules.Installed, report.Entries.Installed, report.BytesInstalled, report.DurationMS, len(events))

	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d progress calls overlapped another", n)
	}
	time.Sleep(50 * time.Millisecond)
	if n := late.Load(); n != 0 {
		t.Errorf("%d progress calls after WarmModuleWith returned", n)
	}
	mu.Lock()
	checkProgress(t, events, report)
	mu.Unlock()

	plan, err = engine.Detect(ctx, program)
	if err != nil || !plan.IsWarm {
		t.Fatalf("Detect after the warm: %v %s", err, plan.RawJSON)
	}
	if n := p.build(t, program); n != 0 {
		t.Fatalf("go build after the warm compiled %d packages, want 0 (100%% hits)", n)
	}
}

// checkProgress checks the per-phase contract of progress reports against the Report.
func checkProgress(t *testing.T, events []Progress, report Report) {
	t.Helper()
	byPhase := map[Phase][]Progress{}
	for _, e := range events {
		byPhase[e.Phase] = append(byPhase[e.Phase], e)
	}
	var bytes uint64
	for _, phase := range []Phase{PhaseModules, PhaseEntries} {
		evs := byPhase[phase]
		if len(evs) < 2 {
			t.Errorf("phase %v: %d progress reports, want begin, items and end", phase, len(evs))
			continue
		}
		if evs[0].Done != 0 || evs[0].Total == 0 || evs[0].Bytes != 0 {
			t.Errorf("phase %v begins with %+v", phase, evs[0])
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].Done < evs[i-1].Done || evs[i].Bytes < evs[i-1].Bytes || evs[i].Total != evs[0].Total {
				t.Errorf("phase %v went back: %+v after %+v", phase, evs[i], evs[i-1])
				break
			}
		}
		last := evs[len(evs)-1]
		if last.Done != last.Total {
			t.Errorf("phase %v ends at %+v", phase, last)
		}
		bytes += last.Bytes
	}
	if entries := byPhase[PhaseEntries]; len(entries) > 0 && entries[0].Total != report.Entries.Installed {
		t.Errorf("entries phase had %d items, the report installed %d", entries[0].Total, report.Entries.Installed)
	}
	if bytes == 0 || bytes > report.BytesInstalled {
		t.Errorf("progress bytes %d, the report installed %d", bytes, report.BytesInstalled)
	}
}

func TestWarmSetsWarmsTheSDKSetAndTheProgramBuildsWithZeroCompiles(t *testing.T) {
	program := required(t, envSDKProgram)
	p := newPod(t, "-trimpath")
	engine := openEngine(t, p.config(t, "", dirSource(required(t, envSDKWarm))))
	report, err := engine.WarmSets(context.Background(), "all")
	if err != nil {
		t.Fatalf("WarmSets: %v (report %+v)", err, report)
	}
	if report.Outcome != OutcomeWarm || report.Dir != "" || report.Modules.Installed == 0 || report.Entries.Installed == 0 {
		t.Fatalf("report: %+v", report)
	}
	if len(report.WarmSets) != 1 || report.WarmSets[0] != "all" {
		t.Fatalf("report.WarmSets = %q, want [all]", report.WarmSets)
	}
	t.Logf("warm set all: %d modules, %d entries, %d bytes in %d ms",
		report.Modules.Installed, report.Entries.Installed, report.BytesInstalled, report.DurationMS)
	if n := p.build(t, program); n != 0 {
		t.Fatalf("go build after WarmSets compiled %d packages, want 0", n)
	}
}

func TestWarmSetsUnknownNameListsTheSetsTheWarmCacheHas(t *testing.T) {
	p := newPod(t, "-trimpath")
	engine := openEngine(t, p.config(t, "", dirSource(required(t, envSDKWarm))))
	ctx := context.Background()
	report, err := engine.WarmSets(ctx, "nosuchset")
	gerr := asError(t, err, StatusError)
	t.Logf("WarmSets(nosuchset): %v", err)
	if !strings.Contains(gerr.Message, `"nosuchset"`) || !strings.Contains(gerr.Message, "it has: all") {
		t.Fatalf("the error names neither the set asked for nor those there are: %v", err)
	}
	if report.Outcome != "" {
		t.Fatalf("a failed WarmSets returned a report: %+v", report)
	}
	if _, err := engine.WarmSets(ctx); !strings.Contains(fmt.Sprint(asError(t, err, StatusInvalidArgument)), "at least one") {
		t.Fatalf("WarmSets(): %v", err)
	}
	for _, sets := range [][]string{{}, {"aws,gcp"}, {" "}} {
		_, err := engine.WarmModuleWith(ctx, required(t, envProgram), WarmOptions{Sets: sets})
		asError(t, err, StatusInvalidArgument)
	}
}

func TestCancelStopsAWarmWaitingOnAStallingSource(t *testing.T) {
	url, accepted, conns := stallingProxy(t)
	p := newPod(t, "")
	engine := openEngine(t, p.config(t, "", proxySource(url)))
	program := required(t, envProgram)

	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelledAt := make(chan time.Time, 1)
	go func() {
		select {
		case <-accepted:
			// The warm is now waiting on the source.
			time.Sleep(200 * time.Millisecond)
		case <-time.After(60 * time.Second):
		}
		cancelledAt <- time.Now()
		cancel()
	}()
	report, err := engine.WarmModule(ctx, program)
	returned := time.Now()
	at := <-cancelledAt

	if conns() == 0 {
		t.Fatalf("the warm never connected to the stalling source (err %v, report %+v)", err, report)
	}
	if d := returned.Sub(at); d > 5*time.Second {
		t.Fatalf("WarmModule returned %v after the cancel", d)
	}
	t.Logf("returned %v after the cancel: %v", returned.Sub(at).Round(time.Millisecond), err)
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want an error that is context.Canceled, got %v", err)
	}
	asError(t, err, StatusStopped)
	if report.Outcome != OutcomeStopped || report.Modules.Stopped == 0 || report.Modules.Installed != 0 {
		t.Fatalf("report of the stopped warm: %+v", report)
	}
	if got := settledGoroutines(before); got > before {
		t.Fatalf("%d goroutines after the cancelled warm, %d before", got, before)
	}
	// The engine stays usable, and the pod is still cold.
	plan, err := engine.Detect(context.Background(), program)
	if err != nil || plan.IsWarm {
		t.Fatalf("Detect after the stopped warm: %v, warm %v", err, plan.IsWarm)
	}
}

func TestDeadlineStopsAWarmWaitingOnAStallingSource(t *testing.T) {
	url, _, _ := stallingProxy(t)
	p := newPod(t, "")
	engine := openEngine(t, p.config(t, "", proxySource(url)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	report, err := engine.WarmModule(ctx, required(t, envProgram))
	elapsed := time.Since(start)
	t.Logf("returned after %v: %v", elapsed.Round(time.Millisecond), err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want an error that is context.DeadlineExceeded, got %v", err)
	}
	asError(t, err, StatusStopped)
	if report.Outcome != OutcomeStopped || report.Modules.Stopped == 0 {
		t.Fatalf("report of the stopped warm: %+v", report)
	}
	if elapsed < 900*time.Millisecond || elapsed > 6*time.Second {
		t.Fatalf("a warm with a 1 s deadline returned after %v", elapsed)
	}
}

func TestWarmGitClonesThenReusesTheStablePath(t *testing.T) {
	program := required(t, envProgram)
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	if err := copyTree(program, filepath.Join(repo, "iac")); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "program")
	commit := git("rev-parse", "HEAD")
	url := "file://" + repo

	gitCache := filepath.Join(tmp, "git-cache")
	p := newPod(t, "")
	engine := openEngine(t, p.config(t, gitSection(gitCache), proxySource(required(t, envProxy))))
	ctx := context.Background()

	co, report, err := engine.WarmGit(ctx, url, commit, "iac")
	if err != nil {
		t.Fatalf("WarmGit: %v", err)
	}
	t.Logf("first WarmGit: %+v", co)
	if co.Fetch != FetchClone || co.Commit != commit || !co.CheckedOut ||
		co.Dir != filepath.Join(co.Root, "iac") || !strings.HasPrefix(co.Root, gitCache+string(filepath.Separator)) {
		t.Fatalf("first checkout: %+v", co)
	}
	if _, err := os.Stat(filepath.Join(co.Dir, "go.mod")); err != nil {
		t.Fatalf("checkout without go.mod: %v", err)
	}
	if report.Outcome != OutcomeWarm || report.Modules.Installed == 0 || report.Dir != co.Dir {
		t.Fatalf("first report: %+v", report)
	}

	again, report, err := engine.WarmGit(ctx, url, commit, "iac")
	if err != nil {
		t.Fatalf("WarmGit again: %v", err)
	}
	if again.Fetch != FetchReused || again.Dir != co.Dir || again.CheckedOut || again.ReceivedBytes != 0 {
		t.Fatalf("second checkout of the same commit: %+v (first %+v)", again, co)
	}
	if report.Outcome != OutcomeWarm || report.Modules.Installed != 0 {
		t.Fatalf("second report: %+v", report)
	}

	// A branch is asked of the remote, and resolves to the same commit and path.
	branch, _, err := engine.WarmGit(ctx, url, "main", "iac")
	if err != nil {
		t.Fatalf("WarmGit main: %v", err)
	}
	if branch.Fetch != FetchFetch || branch.Commit != commit || branch.Dir != co.Dir {
		t.Fatalf("checkout of main: %+v (first %+v)", branch, co)
	}

	bad, report, err := engine.WarmGit(ctx, url, "nope", "iac")
	gerr := asError(t, err, StatusError)
	t.Logf("WarmGit(nope): %v", err)
	if !strings.Contains(gerr.Message, "nope") || bad.Dir != "" || report.Outcome != "" {
		t.Fatalf("a bad revision: %v, %+v, %+v", err, bad, report)
	}
	_, _, err = engine.WarmGit(ctx, url, commit, "")
	if gerr := asError(t, err, StatusError); !strings.Contains(gerr.Message, "go.mod") {
		t.Fatalf("the repository root has no go.mod: %v", err)
	}
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func TestProgressPanicIsRaisedInTheCallerAfterTheWarm(t *testing.T) {
	p := newPod(t, "")
	engine := openEngine(t, p.config(t, "", proxySource(required(t, envProxy))))
	program := required(t, envProgram)
	var calls atomic.Int32
	recovered, err := func() (v any, err error) {
		defer func() { v = recover() }()
		_, err = engine.WarmModuleWith(context.Background(), program, WarmOptions{Progress: func(Progress) {
			calls.Add(1)
			panic("boom")
		}})
		return nil, err
	}()
	if recovered != "boom" {
		t.Fatalf("WarmModuleWith returned (%v) and raised %v, want the callback's panic", err, recovered)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the callback ran %d times; after its panic it must not be called again", n)
	}
	// The warm itself ran to its end.
	plan, err := engine.Detect(context.Background(), program)
	if err != nil || !plan.IsWarm {
		t.Fatalf("Detect after the warm whose callback panicked: %v %s", err, plan.RawJSON)
	}
}

func TestOpenBadTOMLNamesTheKey(t *testing.T) {
	required(t, envConfig)
	engine, err := Open("[go]\nbinaryy = \"/usr/bin/go\"\n")
	if err == nil {
		engine.Close()
		t.Fatal("Open accepted an unknown key")
	}
	gerr := asError(t, err, StatusError)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := engine.WarmModule(ctx, program); !errors.Is(err, ErrClosed) {
		t.Fatalf("WarmModule after Close: want ErrClosed, got %v", err)
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
	if _, err := engine.WarmSets(ctx, "all"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WarmSets with a canceled context: want context.Canceled, got %v", err)
	}
	if _, _, err := engine.WarmGit(ctx, "file:///nonexistent", "main", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("WarmGit with a canceled context: want context.Canceled, got %v", err)
	}
	if _, err := engine.Detect(ctx, "/nonexistent"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Detect with a canceled context: want context.Canceled, got %v", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := engine.WarmModule(expired, "/nonexistent"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WarmModule past its deadline: want context.DeadlineExceeded, got %v", err)
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
