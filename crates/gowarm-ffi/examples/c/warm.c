/*
 * warm: warm the Go caches for one module through libgowarm.
 *
 *   cc -I crates/gowarm-ffi/include warm.c target/debug/libgowarm_ffi.a -lpthread -ldl -lm -o warm
 *   ./warm gowarm.toml ./program
 *
 * Prints the Report JSON on stdout, progress and log lines on stderr, and exits with the
 * gowarm_status the warm returned (0: warm).
 */
#include <stdio.h>
#include <stdlib.h>

#include "gowarm.h"

static const char *phase_name(int32_t phase) {
    return phase == GOWARM_PHASE_MODULES ? "modules" : "entries";
}

/* Called from gowarm's worker threads, one call at a time, while the warm runs. */
static void on_progress(void *user_data, int32_t phase, uint64_t done, uint64_t total,
                        uint64_t bytes) {
    FILE *out = user_data;
    fprintf(out, "progress %s: %llu/%llu, %llu bytes\n", phase_name(phase),
            (unsigned long long)done, (unsigned long long)total, (unsigned long long)bytes);
}

/* Called from any thread, possibly at once; stdio's own locking keeps lines whole. */
static void on_log(void *user_data, int32_t level, const char *message) {
    (void)user_data;
    fprintf(stderr, "log %d: %s\n", (int)level, message);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s GOWARM_TOML MODULE_DIR\n", argv[0]);
        return 2;
    }
    fprintf(stderr, "libgowarm %s\n", gowarm_version());
    if (gowarm_set_log_callback(on_log, NULL) != GOWARM_OK) {
        fprintf(stderr, "log callback already set\n");
    }

    gowarm_engine *engine = NULL;
    char *err = NULL;
    int32_t status = gowarm_engine_new_from_file(argv[1], &engine, &err);
    if (status != GOWARM_OK) {
        fprintf(stderr, "gowarm: %s\n", err ? err : "(no message)");
        gowarm_string_free(err); /* the caller frees every string gowarm returns */
        return status;
    }

    char *report = NULL;
    status = gowarm_warm_module_with_progress(engine, argv[2], on_progress, stderr, &report);
    /* report is JSON whatever the status: the Report, or {"error": "..."}. */
    printf("%s\n", report);
    gowarm_string_free(report);
    gowarm_engine_free(engine);
    return status;
}
