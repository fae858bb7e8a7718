//! `gowarm-cacheprog`: the GOCACHEPROG server `gowarm bake` runs `go build` with, storing
//! entries in a GOCACHE in Go's own layout and recording which ones the build used.
//! A thin host over [`gowarm::record::cacheprog_main`]; stdout is the protocol.

fn main() -> std::process::ExitCode {
    gowarm::record::cacheprog_main(std::env::args_os().skip(1))
}
