//! Writing, tidying and building small Go programs (Targets) against a test proxy.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gowarm_gomod::ModuleVersion;

use crate::corpus::Corpus;
use crate::error::{Result, TestkitError};
use crate::go::{count_compiles, run, GoDirs, GoEnv};

/// The go line of generated programs.
pub const PROGRAM_GO_VERSION: &str = "1.22";

/// Import path of godo, the DigitalOcean SDK in the Debian corpus.
pub const GODO_IMPORT: &str = "github.com/digitalocean/godo";

/// aws-sdk-go v1 service packages present in Debian's tree, roughly by how often
/// infrastructure programs use them (ec2 first; it is also the largest package).
pub const AWS_SERVICE_IMPORTS: [&str; 30] = [
    "github.com/aws/aws-sdk-go/service/ec2",
    "github.com/aws/aws-sdk-go/service/s3",
    "github.com/aws/aws-sdk-go/service/iam",
    "github.com/aws/aws-sdk-go/service/rds",
    "github.com/aws/aws-sdk-go/service/lambda",
    "github.com/aws/aws-sdk-go/service/dynamodb",
    "github.com/aws/aws-sdk-go/service/eks",
    "github.com/aws/aws-sdk-go/service/ecs",
    "github.com/aws/aws-sdk-go/service/ecr",
    "github.com/aws/aws-sdk-go/service/sqs",
    "github.com/aws/aws-sdk-go/service/sns",
    "github.com/aws/aws-sdk-go/service/cloudformation",
    "github.com/aws/aws-sdk-go/service/cloudwatch",
    "github.com/aws/aws-sdk-go/service/cloudwatchlogs",
    "github.com/aws/aws-sdk-go/service/route53",
    "github.com/aws/aws-sdk-go/service/elbv2",
    "github.com/aws/aws-sdk-go/service/autoscaling",
    "github.com/aws/aws-sdk-go/service/kms",
    "github.com/aws/aws-sdk-go/service/secretsmanager",
    "github.com/aws/aws-sdk-go/service/ssm",
    "github.com/aws/aws-sdk-go/service/sts",
    "github.com/aws/aws-sdk-go/service/apigateway",
    "github.com/aws/aws-sdk-go/service/cloudfront",
    "github.com/aws/aws-sdk-go/service/elasticache",
    "github.com/aws/aws-sdk-go/service/kinesis",
    "github.com/aws/aws-sdk-go/service/sfn",
    "github.com/aws/aws-sdk-go/service/glue",
    "github.com/aws/aws-sdk-go/service/redshift",
    "github.com/aws/aws-sdk-go/service/efs",
    "github.com/aws/aws-sdk-go/service/acm",
];

/// Three of the smallest services (sts, sqs, sns): a real aws-sdk-go program whose cold
/// build takes seconds, not minutes, for tests that only need "some real SDK code".
pub const AWS_SMALL_SERVICE_IMPORTS: [&str; 3] = [
    "github.com/aws/aws-sdk-go/service/sts",
    "github.com/aws/aws-sdk-go/service/sqs",
    "github.com/aws/aws-sdk-go/service/sns",
];

/// google.golang.org/api packages the Debian corpus is known to build: four service clients
/// (compute/v1 is by far the largest) and the `option` package every caller needs.
pub const GOOGLE_API_IMPORTS: [&str; 5] = [
    "google.golang.org/api/compute/v1",
    "google.golang.org/api/storage/v1",
    "google.golang.org/api/dns/v1",
    "google.golang.org/api/container/v1",
    "google.golang.org/api/option",
];

/// The warm sets the corpus provides programs for, in [`warm_set_programs`] order.
pub const WARM_SETS: [&str; 3] = ["aws", "google", "digitalocean"];

/// One small target program of a warm set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSetProgram {
    /// Short name, unique across sets; also its directory name.
    pub name: &'static str,
    /// The packages its main.go imports (and so compiles and links).
    pub imports: Vec<&'static str>,
}

/// A warm set and its target programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSetPrograms {
    /// The set's name, one of [`WARM_SETS`].
    pub set: &'static str,
    /// Two or three programs, each linking a different set of packages.
    pub programs: Vec<WarmSetProgram>,
}

/// Directories of one warm set's written and tidied programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenWarmSet {
    /// The set's name, one of [`WARM_SETS`].
    pub set: &'static str,
    /// One directory per program, in [`WarmSetPrograms::programs`] order.
    pub dirs: Vec<PathBuf>,
}

const AWS_SESSION: &str = "github.com/aws/aws-sdk-go/aws/session";

/// The target programs of every warm set (`aws`, `google`, `digitalocean`), over the Debian
/// corpus: per set, two or three small programs importing distinct SDK packages.
pub fn warm_set_programs() -> Vec<WarmSetPrograms> {
    let program = |name, imports: &[&'static str]| WarmSetProgram {
        name,
        imports: imports.to_vec(),
    };
    vec![
        WarmSetPrograms {
            set: "aws",
            programs: vec![
                program(
                    "aws-s3-ec2-iam",
                    &[
                        AWS_SESSION,
                        "github.com/aws/aws-sdk-go/service/s3",
                        "github.com/aws/aws-sdk-go/service/ec2",
                        "github.com/aws/aws-sdk-go/service/iam",
                    ],
                ),
                program(
                    "aws-sts-dynamodb",
                    &[
                        AWS_SESSION,
                        "github.com/aws/aws-sdk-go/service/sts",
                        "github.com/aws/aws-sdk-go/service/dynamodb",
                    ],
                ),
            ],
        },
        WarmSetPrograms {
            set: "google",
            programs: vec![
                program(
                    "google-compute",
                    &[
                        "google.golang.org/api/compute/v1",
                        "google.golang.org/api/option",
                    ],
                ),
                program(
                    "google-storage-dns",
                    &[
                        "google.golang.org/api/storage/v1",
                        "google.golang.org/api/dns/v1",
                        "google.golang.org/api/option",
                    ],
                ),
            ],
        },
        WarmSetPrograms {
            set: "digitalocean",
            programs: vec![
                program("godo-basic", &[GODO_IMPORT]),
                program(
                    "godo-oauth2",
                    &[
                        GODO_IMPORT,
                        "github.com/digitalocean/godo/util",
                        "golang.org/x/oauth2",
                        "golang.org/x/oauth2/clientcredentials",
                    ],
                ),
            ],
        },
    ]
}

/// The programs of warm set `set` (one of [`WARM_SETS`]), if it exists.
pub fn warm_set(set: &str) -> Option<WarmSetPrograms> {
    warm_set_programs().into_iter().find(|s| s.set == set)
}

impl WarmSetProgram {
    /// Its module path: `example.com/warm/<name>`.
    pub fn module(&self) -> String {
        format!("example.com/warm/{}", self.name)
    }

    /// The corpus modules providing its imports, each once: what its go.mod requires.
    pub fn requires(&self, corpus: &Corpus) -> Result<Vec<ModuleVersion>> {
        let mut out: Vec<ModuleVersion> = Vec::new();
        for i in &self.imports {
            let m = corpus
                .module_providing(i)
                .ok_or_else(|| TestkitError::BadData {
                    path: PathBuf::from(crate::DEBIAN_GOCODE).join(i),
                    message: format!("program {}: no corpus module provides {i}", self.name),
                })?;
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        Ok(out)
    }

    /// Writes the program in `dir` ([`write_program`]) and tidies it against the corpus
    /// proxy at `proxy_url` ([`tidy`]), so it builds offline from there.
    pub fn write(
        &self,
        dir: &Path,
        corpus: &Corpus,
        proxy_url: &str,
        dirs: impl AsRef<GoDirs>,
    ) -> Result<()> {
        write_program(dir, &self.module(), &self.requires(corpus)?, &self.imports)?;
        tidy(dir, proxy_url, dirs)
    }
}

impl WarmSetPrograms {
    /// Writes and tidies every program under `<root>/<set>/<name>`; returns the directories
    /// in [`WarmSetPrograms::programs`] order.
    pub fn write(
        &self,
        root: &Path,
        corpus: &Corpus,
        proxy_url: &str,
        dirs: impl AsRef<GoDirs>,
    ) -> Result<WrittenWarmSet> {
        let mut out = Vec::new();
        for p in &self.programs {
            let dir = root.join(self.set).join(p.name);
            p.write(&dir, corpus, proxy_url, dirs.as_ref())?;
            out.push(dir);
        }
        Ok(WrittenWarmSet {
            set: self.set,
            dirs: out,
        })
    }
}

/// Writes and tidies the programs of every warm set under `<root>/<set>/<name>` against the
/// corpus proxy at `proxy_url`; returns their directories grouped by set.
pub fn write_warm_set_programs(
    root: &Path,
    corpus: &Corpus,
    proxy_url: &str,
    dirs: impl AsRef<GoDirs>,
) -> Result<Vec<WrittenWarmSet>> {
    warm_set_programs()
        .iter()
        .map(|s| s.write(root, corpus, proxy_url, dirs.as_ref()))
        .collect()
}

/// The first `n` of [`AWS_SERVICE_IMPORTS`]. Panics if `n` exceeds 30.
pub fn aws_program_imports(n: usize) -> Vec<&'static str> {
    assert!(
        n <= AWS_SERVICE_IMPORTS.len(),
        "aws_program_imports({n}): only {} services are listed",
        AWS_SERVICE_IMPORTS.len()
    );
    AWS_SERVICE_IMPORTS[..n].to_vec()
}

/// Writes a Go program in `dir`: a go.mod for `module_path` requiring `requires`, and a
/// main.go importing each of `imports` (for its side effects: the packages are compiled and
/// linked) and printing how many it links. Run [`tidy`] next to write go.sum.
pub fn write_program(
    dir: &Path,
    module_path: &str,
    requires: &[ModuleVersion],
    imports: &[&str],
) -> Result<()> {
    fs::create_dir_all(dir).map_err(TestkitError::io("create directory", dir))?;
    let mut gomod = format!("module {module_path}\n\ngo {PROGRAM_GO_VERSION}\n");
    if !requires.is_empty() {
        gomod.push_str("\nrequire (\n");
        for m in requires {
            gomod.push_str(&format!("\t{} {}\n", m.path, m.version));
        }
        gomod.push_str(")\n");
    }
    let mut main = String::from(
        "// Code generated by gowarm-testkit. A program that links the packages below.\n\n\
         package main\n\nimport (\n\t\"fmt\"\n",
    );
    if !imports.is_empty() {
        main.push('\n');
        for i in imports {
            main.push_str(&format!("\t_ {i:?}\n"));
        }
    }
    main.push_str(&format!(
        ")\n\nfunc main() {{\n\tfmt.Println(\"gowarm test program linking {} packages\")\n}}\n",
        imports.len()
    ));
    let gomod_path = dir.join("go.mod");
    fs::write(&gomod_path, gomod).map_err(TestkitError::io("write", &gomod_path))?;
    let main_path = dir.join("main.go");
    fs::write(&main_path, main).map_err(TestkitError::io("write", &main_path))?;
    Ok(())
}

/// Runs `go mod tidy` in `dir` against the proxy at `proxy_url` (GOFLAGS=-mod=mod), writing
/// go.sum, then checks with `go list -deps` that every package the build needs resolves.
///
/// Tidy runs with `-e`: it looks at every build tag and at the tests of dependencies, and the
/// Debian trees import modules Debian does not ship there (appengine behind the `appengine`
/// tag in x/oauth2, testify in godo's tests). The `go list` check then catches what would
/// really break a build.
pub fn tidy(dir: &Path, proxy_url: &str, dirs: impl AsRef<GoDirs>) -> Result<()> {
    let env = GoEnv::new(dirs).goproxy(proxy_url).goflags("-mod=mod");
    run(env.command(["mod", "tidy", "-e"]).current_dir(dir))?;
    let check = GoEnv::new(env.dirs.clone()).goproxy(proxy_url);
    run(check
        .command(["list", "-deps", "-f", "{{.ImportPath}}", "."])
        .current_dir(dir))?;
    Ok(())
}

/// What one `go build -x` did.
#[derive(Debug, Clone)]
pub struct BuildRun {
    /// Compiler runs (0 for a build served entirely from GOCACHE).
    pub compiles: usize,
    /// Wall-clock time of the `go build`.
    pub elapsed: Duration,
    /// The binary written.
    pub binary: PathBuf,
    /// Everything `go build -x` printed on stderr.
    pub stderr: String,
}

/// Runs `go build -x -o <binary> .` in `dir` with `env` and counts the compiles.
pub fn go_build(dir: &Path, env: &GoEnv, binary: &Path) -> Result<BuildRun> {
    let started = Instant::now();
    let mut binary_arg = std::ffi::OsString::from(binary);
    // `-o` of a relative path would be resolved against `dir`.
    if binary.is_relative() {
        binary_arg = std::env::current_dir()
            .map_err(TestkitError::io("resolve", binary))?
            .join(binary)
            .into_os_string();
    }
    let out = run(env
        .command([
            std::ffi::OsStr::new("build"),
            std::ffi::OsStr::new("-x"),
            std::ffi::OsStr::new("-o"),
            &binary_arg,
            std::ffi::OsStr::new("."),
        ])
        .current_dir(dir))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok(BuildRun {
        compiles: count_compiles(&stderr),
        elapsed: started.elapsed(),
        binary: PathBuf::from(binary_arg),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_go_mod_and_main() {
        let dir = tempfile::tempdir().unwrap();
        write_program(
            dir.path(),
            "example.com/prog",
            &[ModuleVersion::new("github.com/aws/aws-sdk-go", "v1.44.133")],
            &["github.com/aws/aws-sdk-go/service/sts"],
        )
        .unwrap();
        let gomod = fs::read_to_string(dir.path().join("go.mod")).unwrap();
        assert_eq!(
            gomod,
            "module example.com/prog\n\ngo 1.22\n\nrequire (\n\tgithub.com/aws/aws-sdk-go v1.44.133\n)\n"
        );
        let main = fs::read_to_string(dir.path().join("main.go")).unwrap();
        assert!(
            main.contains("\t_ \"github.com/aws/aws-sdk-go/service/sts\"\n"),
            "{main}"
        );
        assert!(main.contains("func main()"), "{main}");
    }

    #[test]
    fn aws_imports_prefix() {
        assert_eq!(aws_program_imports(2), AWS_SERVICE_IMPORTS[..2].to_vec());
        assert_eq!(aws_program_imports(30).len(), 30);
    }

    #[test]
    #[should_panic(expected = "only 30 services")]
    fn aws_imports_bounded() {
        aws_program_imports(31);
    }

    #[test]
    fn warm_sets_have_two_or_three_distinct_programs() {
        let sets = warm_set_programs();
        let names: Vec<&str> = sets.iter().map(|s| s.set).collect();
        assert_eq!(names, WARM_SETS);
        let mut programs = std::collections::BTreeSet::new();
        for s in &sets {
            assert!((2..=3).contains(&s.programs.len()), "{}", s.set);
            let mut import_sets = std::collections::BTreeSet::new();
            for p in &s.programs {
                assert!(programs.insert(p.name), "{} twice", p.name);
                assert!(!p.imports.is_empty(), "{}", p.name);
                let mut imports = p.imports.clone();
                imports.sort_unstable();
                assert!(import_sets.insert(imports), "{} repeats a program", p.name);
            }
            assert_eq!(warm_set(s.set).as_ref(), Some(s));
        }
        assert_eq!(warm_set("azure"), None);
        assert_eq!(
            sets[0].programs[0].module(),
            "example.com/warm/aws-s3-ec2-iam"
        );
    }

    #[test]
    fn services_exist_in_debian_tree() {
        let warm_imports: Vec<&str> = warm_set_programs()
            .into_iter()
            .flat_map(|s| s.programs)
            .flat_map(|p| p.imports)
            .collect();
        for i in AWS_SERVICE_IMPORTS
            .iter()
            .chain(&AWS_SMALL_SERVICE_IMPORTS)
            .chain(&GOOGLE_API_IMPORTS)
            .chain(&warm_imports)
        {
            let dir = Path::new(crate::DEBIAN_GOCODE).join(i);
            assert!(dir.is_dir(), "{} is missing", dir.display());
            let has_go = fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".go"));
            assert!(has_go, "{} has no Go files", dir.display());
        }
    }
}
