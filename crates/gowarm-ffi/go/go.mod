module github.com/gowarm/gowarm/crates/gowarm-ffi/go

go 1.22
