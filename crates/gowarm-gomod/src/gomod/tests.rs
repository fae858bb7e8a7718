use super::*;

fn p(text: &str) -> Result<GoMod, GoModError> {
    parse(Path::new("go.mod"), text)
}

fn err(text: &str) -> GoModError {
    match p(text) {
        Ok(m) => panic!("expected an error for {text:?}, parsed {m:?}"),
        Err(e) => e,
    }
}

fn realworld(name: &str) -> (PathBuf, String) {
    let path = gowarm_testkit::realworld_file(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (path, text)
}

#[test]
fn parses_realworld_planton_go_mod() {
    let (path, text) = realworld("planton-monorepo.go.mod");
    let m = parse(&path, &text).unwrap();
    // Counts cross-checked with `go mod edit -json` (go1.25.5).
    assert_eq!(
        m.module.as_deref(),
        Some("github.com/plantonhq/project-planton")
    );
    assert_eq!(m.go.as_deref(), Some("1.25.0"));
    assert_eq!(m.toolchain, None);
    assert_eq!(m.require.len(), 165);
    assert_eq!(m.require.iter().filter(|r| r.indirect).count(), 115);
    assert_eq!(m.replace.len(), 1);
    let first = &m.require[0];
    assert_eq!(
        (
            first.path.as_str(),
            first.version.as_str(),
            first.indirect,
            first.line
        ),
        (
            "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go",
            "v1.36.10-20251209175733-2a1774d88802.1",
            false,
            6
        )
    );
    let last = m.require.last().unwrap();
    assert_eq!(last.path, "sigs.k8s.io/structured-merge-diff/v4");
    assert!(last.indirect);
    let r = &m.replace[0];
    assert_eq!(
        r.old_path,
        "github.com/plantonhq/project-planton/app/backend"
    );
    assert_eq!(r.old_version, None);
    assert_eq!(r.new, ReplaceTarget::Local("./app/backend".into()));
    assert_eq!(r.line, 176);
    assert!(m
        .require
        .iter()
        .any(|r| r.path == "github.com/Masterminds/sprig" && r.version == "v2.15.0+incompatible"));
    assert_eq!(
        m.resolve("github.com/plantonhq/project-planton/app/backend", "v0.0.0"),
        Resolved::Local("./app/backend".into())
    );
}

#[test]
fn every_directive_and_form() {
    let text = concat!(
        "// Package comment.\r\n",
        "module \"example.com/m\"\r\n",
        "\r\n",
        "go 1.22.1\r\n",
        "toolchain go1.22.3\r\n",
        "godebug default=go1.21\r\n",
        "godebug (\r\n",
        "\tpanicnil=1\r\n",
        ")\r\n",
        "require example.com/a v1.0.0\r\n",
        "require (\r\n",
        "\texample.com/b v1.2.3 // indirect\r\n",
        "\t\"example.com/c\" v0.1.0 // indirect; via b\r\n",
        "\texample.com/d v2.0.0+incompatible // indirectly\r\n",
        "\n",
        "\t// a comment line inside the block\r\n",
        "\texample.com/e/v3 v3.0.0-20240101000000-abcdefabcdef\r\n",
        ")\r\n",
        "exclude example.com/a v0.9.0\r\n",
        "exclude (\r\n",
        "\texample.com/b v1.2.2\r\n",
        ")\r\n",
        "replace example.com/a => example.com/fork v1.0.1\r\n",
        "replace (\r\n",
        "\texample.com/a v1.0.0 => ../a-local\r\n",
        "\texample.com/b v1.2.3 => example.com/b2 v1.2.4\r\n",
        ")\r\n",
        "// Published by mistake.\r\n",
        "retract v0.5.0\r\n",
        "retract (\r\n",
        "\t[v0.1.0, v0.2.0] // broken builds\r\n",
        "\tv0.3.0\r\n",
        ")\r\n",
        "tool example.com/m/cmd/gen\r\n",
        "ignore ./node_modules\r\n",
        "require ()\r\n",
    );
    let m = p(text).unwrap();
    assert_eq!(m.module.as_deref(), Some("example.com/m"));
    assert_eq!(m.go.as_deref(), Some("1.22.1"));
    assert_eq!(m.toolchain.as_deref(), Some("go1.22.3"));
    let debug: Vec<_> = m
        .godebug
        .iter()
        .map(|g| (g.key.as_str(), g.value.as_str(), g.line))
        .collect();
    assert_eq!(debug, [("default", "go1.21", 6), ("panicnil", "1", 8)]);
    let req: Vec<_> = m
        .require
        .iter()
        .map(|r| (r.path.as_str(), r.version.as_str(), r.indirect, r.line))
        .collect();
    assert_eq!(
        req,
        [
            ("example.com/a", "v1.0.0", false, 10),
            ("example.com/b", "v1.2.3", true, 12),
            ("example.com/c", "v0.1.0", true, 13),
            ("example.com/d", "v2.0.0+incompatible", false, 14),
            (
                "example.com/e/v3",
                "v3.0.0-20240101000000-abcdefabcdef",
                false,
                17
            ),
        ]
    );
    assert_eq!(
        m.exclude,
        [
            ModuleVersion::new("example.com/a", "v0.9.0"),
            ModuleVersion::new("example.com/b", "v1.2.2")
        ]
    );
    assert_eq!(m.replace.len(), 3);
    assert_eq!(m.replace[1].old_version.as_deref(), Some("v1.0.0"));
    assert_eq!(m.replace[1].line, 25);
    let retract: Vec<_> = m
        .retract
        .iter()
        .map(|r| {
            (
                r.low.as_str(),
                r.high.as_str(),
                r.rationale.as_str(),
                r.line,
            )
        })
        .collect();
    assert_eq!(
        retract,
        [
            ("v0.5.0", "v0.5.0", "Published by mistake.", 29),
            ("v0.1.0", "v0.2.0", "broken builds", 31),
            ("v0.3.0", "v0.3.0", "", 32),
        ]
    );
    assert_eq!(m.tool, ["example.com/m/cmd/gen"]);
    assert_eq!(m.ignore, ["./node_modules"]);

    // Version-specific replacement wins; path-wide covers the rest; others pass through.
    assert_eq!(
        m.resolve("example.com/a", "v1.0.0"),
        Resolved::Local("../a-local".into())
    );
    assert_eq!(
        m.resolve("example.com/a", "v1.1.0"),
        Resolved::Module(ModuleVersion::new("example.com/fork", "v1.0.1"))
    );
    assert_eq!(
        m.resolve("example.com/b", "v1.2.3"),
        Resolved::Module(ModuleVersion::new("example.com/b2", "v1.2.4"))
    );
    assert_eq!(
        m.resolve("example.com/b", "v1.2.2"),
        Resolved::Module(ModuleVersion::new("example.com/b", "v1.2.2"))
    );
}

#[test]
fn quoted_strings_use_go_escapes() {
    let m =
        p("module \"example.com/\\x6dod\\u0065\"\nrequire \"example.com/a\" \"v1.0.0\"\n").unwrap();
    assert_eq!(m.module.as_deref(), Some("example.com/mode"));
    assert_eq!(m.require[0].version, "v1.0.0");
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(p("").unwrap(), GoMod::default());
    assert_eq!(p("// nothing here\n\n   \n").unwrap(), GoMod::default());
}

/// Each malformed input, the line Go reports, and a fragment of the message.
#[test]
fn malformed_files_name_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "module m\nfrobnicate x\n",
            2,
            "unknown directive: frobnicate",
        ),
        (
            "module m\n\nrequire example.com/a\n",
            3,
            "usage: require module/path v1.2.3",
        ),
        (
            "module m\nrequire example.com/a v1.0.0 extra\n",
            2,
            "usage: require",
        ),
        ("module m\nexclude example.com/a\n", 2, "usage: exclude"),
        (
            "module m\nrequire (\n\texample.com/a v1.0.0\n",
            2,
            "unterminated block started at line 2",
        ),
        (
            "module m\nrequire \"example.com/a v1.0.0\n",
            2,
            "unexpected newline in string",
        ),
        ("module `example.com/m`\n", 1, "invalid quoted string"),
        (
            "module m\nrequire ex\"ample.com/a v1.0.0\n",
            2,
            "unquoted string cannot contain quote",
        ),
        (
            "module m\nrequire \"example.com/\\q\" v1.0.0\n",
            2,
            "invalid quoted string",
        ),
        (
            "module m\n\n\nrequire example.com/a master\n",
            4,
            "must be of the form v1.2.3",
        ),
        ("module m\nrequire example.com/a v1.2\n", 2, "not canonical"),
        (
            "module m\nrequire example.com/a v2.0.0\n",
            2,
            "should be v0 or v1, not v2",
        ),
        (
            "module m\nrequire example.com/a/v1 v1.0.0\n",
            2,
            "invalid module path",
        ),
        ("module m\ngo 1.21\ngo 1.22\n", 3, "repeated go statement"),
        ("module m\ngo 1.21.x\n", 2, "invalid go version '1.21.x'"),
        (
            "module m\ngo\n",
            2,
            "go directive expects exactly one argument",
        ),
        ("module m\ntoolchain 1.21\n", 2, "invalid toolchain version"),
        ("module a\nmodule b\n", 2, "repeated module statement"),
        ("module a b\n", 1, "usage: module module/path"),
        ("module m\ngo (\n\t1.21\n)\n", 2, "unknown block type: go"),
        (
            "module m\nrequire x (\n)\n",
            2,
            "unknown block type: require x",
        ),
        (
            "module m\nrequire (\n) x\n",
            3,
            "expected newline after closing paren",
        ),
        ("module m\n/* c */\n", 2, "must use // comments"),
        (
            "module m\nreplace example.com/a => example.com/b\n",
            2,
            "must be directory path",
        ),
        (
            "module m\nreplace example.com/a => example.com/b@v1.0.0\n",
            2,
            "'path version', not 'path@version'",
        ),
        (
            "module m\nreplace example.com/a v1.0.0 =>\n",
            2,
            "usage: replace",
        ),
        (
            "module m\nreplace example.com/a => ./dir v1.0.0\n",
            2,
            "cannot have version",
        ),
        (
            "module m\nreplace example.com/a => ../x\n\nreplace example.com/a => ../y\n",
            4,
            "conflicting replacements for example.com/a: ../x (line 2) and ../y",
        ),
        (
            "module m\nretract [v1.0.0 v1.1.0]\n",
            2,
            "expected ',' after version",
        ),
        (
            "module m\nretract [v1.0.0, v1.1.0\n",
            2,
            "expected ']' after version",
        ),
        (
            "module m\nretract v1.0.0 v1.1.0\n",
            2,
            "unexpected token after version",
        ),
        ("module m\nretract\n", 2, "expected '[' or version"),
        ("go 1.21\nretract v1.0.0\n", 2, "no module directive found"),
        ("module m\ngodebug foo\n", 2, "usage: godebug key=value"),
        (
            "module m\ntool a b\n",
            2,
            "tool directive expects exactly one argument",
        ),
        (
            "module m\nignore\n",
            2,
            "ignore directive expects exactly one argument",
        ),
        (
            "module m\r\nrequire (\r\n\texample.com/a\r\n)\r\n",
            3,
            "usage: require",
        ),
    ];
    for &(text, line, want) in cases {
        let e = err(text);
        assert_eq!(e.line, line, "line for {text:?}: {e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("go.mod:{line}")),
            "message for {text:?} should start with file:line: {msg}"
        );
        assert!(
            msg.contains(want),
            "message for {text:?} should contain {want:?}: {msg}"
        );
    }
}

#[test]
fn syntax_errors_carry_columns() {
    let e = err("module m\nrequire x\u{1}\n");
    assert_eq!((e.line, e.column), (2, Some(10)));
    assert!(
        e.to_string().starts_with("go.mod:2:10: syntax error"),
        "{e}"
    );
}

#[test]
fn identical_duplicate_replacements_are_fine() {
    let m = p("module m\nreplace example.com/a => ../x\nreplace example.com/a => ../x\n").unwrap();
    assert_eq!(m.replace.len(), 2);
}

#[test]
fn lax_parse_skips_what_dependencies_may_not_use() {
    let text = "module example.com/dep\ngo 1.21-pre\nfuture directive\nreplace example.com/a => ../x\nrequire example.com/a v1.2\nretract [bogus\n";
    assert!(p(text).is_err());
    let m = parse_lax(Path::new("dep/go.mod"), text).unwrap();
    assert_eq!(m.go.as_deref(), Some("1.21"));
    assert!(m.replace.is_empty());
    assert!(m.retract.is_empty());
    assert_eq!(m.require[0].version, "v1.2.0");
}

#[test]
fn go_version_formats() {
    for v in ["1.21", "1.21.0", "1.21rc1", "1.21.3rc2", "2.0", "1.100"] {
        assert!(is_go_version(v), "{v}");
    }
    for v in [
        "1", "01.2", "1.02", "1.2.03", "1.21.x", "1.21-rc1", "v1.21", "1.21rc", "1.21RC1",
    ] {
        assert!(!is_go_version(v), "{v}");
    }
    assert_eq!(lax_go_version("v1.21-pre").as_deref(), Some("1.21"));
    assert_eq!(lax_go_version("1.21"), None);
}

#[test]
fn indirect_comment_forms() {
    assert!(is_indirect(Some("// indirect")));
    assert!(is_indirect(Some("//indirect")));
    assert!(is_indirect(Some("// indirect; needed by x")));
    assert!(!is_indirect(Some("// indirect;")));
    assert!(!is_indirect(Some("// indirectly")));
    assert!(!is_indirect(Some("// not indirect")));
    assert!(!is_indirect(None));
    // Go trims the "//" once.
    assert!(!is_indirect(Some("////indirect")));
}
