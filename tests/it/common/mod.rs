//! Test harness: real temporary git repositories and the built binary.
#![allow(dead_code)]

pub mod agent_server;
pub mod browser;
pub mod fake_llm;
mod project;
pub mod slurm_cluster;

pub use project::{Project, SCORE_EVAL, SpecYaml};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_optimize");

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

/// Environment every git and optimize command of a test gets: no user or
/// system git config, so machine settings cannot change the outcome.
pub fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("OPTIMIZE_FAULT")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
}

impl TestRepo {
    /// An empty repository with one commit of `files`.
    pub fn new(files: &[(&str, &str)]) -> TestRepo {
        TestRepo::with_dir(tempfile::tempdir().expect("tempdir"), files)
    }

    /// [`TestRepo::new`] in a temporary directory under `parent`.
    pub fn new_in(parent: &Path, files: &[(&str, &str)]) -> TestRepo {
        TestRepo::with_dir(tempfile::tempdir_in(parent).expect("tempdir"), files)
    }

    fn with_dir(dir: tempfile::TempDir, files: &[(&str, &str)]) -> TestRepo {
        let repo = TestRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        for (path, content) in files {
            repo.write(path, content);
        }
        repo.commit_all("initial");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ]);
    }

    pub fn git(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        cmd.args(args).current_dir(self.path());
        isolate(&mut cmd, self.path());
        let out = cmd.output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.path()).stdin(Stdio::null());
        isolate(&mut cmd, self.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run optimize"))
    }

    /// [`TestRepo::run`] with a model key in the environment (specs whose
    /// hypotheses come from the model, the default, need one to be valid).
    pub fn run_with_key(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        cmd.env("OPENAI_API_KEY", "sk-test-key");
        Run::from(cmd.output().expect("run optimize"))
    }

    /// Everything a run must leave as it found it in the user's checkout.
    pub fn user_state(&self) -> UserState {
        UserState {
            head: self.git(&["rev-parse", "HEAD"]),
            branch: self.git(&["symbolic-ref", "HEAD"]),
            status: self.git(&["status", "--porcelain", "--untracked-files=all"]),
            worktrees: self.git(&["worktree", "list", "--porcelain"]),
            index: std::fs::read(self.path().join(".git/index")).unwrap_or_default(),
        }
    }

    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.path().join(".optimize").join(name)
    }
}

#[derive(Debug, PartialEq)]
pub struct UserState {
    pub head: String,
    pub branch: String,
    pub status: String,
    pub worktrees: String,
    pub index: Vec<u8>,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A stdout line whose whitespace-separated words start with `words`.
    #[track_caller]
    pub fn stdout_row(&self, words: &[&str]) -> &Run {
        let found = self.stdout.lines().any(|l| {
            l.split_whitespace()
                .take(words.len())
                .eq(words.iter().copied())
        });
        assert!(found, "stdout has no row {words:?}:\n{}", self.stdout);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// A spec with a hard primary `score`, gate `ok == 1`, the given command.
pub fn hard_spec(name: &str, command: &str, extra: &str) -> String {
    format!(
        r#"name: {name}
description: test spec
metric:
  primary:
    type: hard
    name: score
    direction: maximize
  degenerate_gates:
    - name: ok
      check: "== 1"
  diagnostics:
    - name: size
measurement:
  command: "{command}"
  timeout_seconds: 20
scope:
  mutable: ["src/"]
  immutable: ["eval.sh"]
{extra}"#
    )
}

/// Pids of processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && pid != std::process::id() {
                // Zombies have an empty cmdline, so anything here is alive.
                pids.push(pid);
            }
        }
    }
    pids
}

/// Pids of live processes whose working directory is inside `dir`.
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cwd) = std::fs::read_link(entry.path().join("cwd"))
            && cwd.starts_with(&dir)
            && pid != std::process::id()
        {
            pids.push(pid);
        }
    }
    pids
}

/// The experiment log of a run, parsed as plain YAML.
pub fn log_yaml(repo: &Path, name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(
        repo.join(".optimize")
            .join(name)
            .join("experiment-log.yaml"),
    )
    .unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `(hypothesis, outcome)` of every experiment, in iteration order.
pub fn outcomes(log: &serde_yaml::Value) -> Vec<(String, String)> {
    log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["hypothesis"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The error_message of the i-th experiment of a log.
pub fn error_message(log: &serde_yaml::Value, i: usize) -> String {
    log["experiments"][i]["error_message"]
        .as_str()
        .unwrap_or_else(|| panic!("experiment {i} has no error_message"))
        .to_string()
}

/// Checks a log against the seed schema file itself: required top-level
/// fields, each entry's required children, the outcome enum, and the types
/// of the optional children it declares. Extra fields are allowed.
pub fn assert_follows_seed_schema(log: &serde_yaml::Value) {
    let schema_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/schemas/seed-experiment-log-schema.yaml"
    ))
    .unwrap();
    let schema: serde_yaml::Value = serde_yaml::from_str(&schema_text).unwrap();
    let type_ok = |ty: &str, v: &serde_yaml::Value| match ty {
        "string" | "enum" => v.is_string(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "boolean" => v.is_bool(),
        "object" => v.is_mapping(),
        "array" => v.is_sequence(),
        _ => true,
    };
    for (key, def) in schema["structure"].as_mapping().unwrap() {
        let key = key.as_str().unwrap();
        if def["required"].as_bool() == Some(true) {
            let v = &log[key];
            assert!(!v.is_null(), "log lacks required {key}");
            assert!(
                type_ok(def["type"].as_str().unwrap(), v),
                "{key} has the wrong type: {v:?}"
            );
        }
    }
    let entry = &schema["experiment_entry"];
    let outcomes: Vec<&str> = entry["required_children"]["outcome"]["values"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 9, "the seed schema has nine outcomes");
    for e in log["experiments"].as_sequence().unwrap() {
        for (key, def) in entry["required_children"].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            assert!(!e[key].is_null(), "entry lacks {key}: {e:?}");
            assert!(
                type_ok(def["type"].as_str().unwrap(), &e[key]),
                "entry {key} has the wrong type: {e:?}"
            );
        }
        assert!(
            outcomes.contains(&e["outcome"].as_str().unwrap()),
            "outcome outside the seed schema: {e:?}"
        );
        for (key, def) in entry["optional_children"].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            if !e[key].is_null() {
                assert!(
                    type_ok(def["type"].as_str().unwrap(), &e[key]),
                    "entry {key} has the wrong type: {e:?}"
                );
            }
        }
    }
    for h in log["hypothesis_backlog"].as_sequence().unwrap() {
        for key in [
            "description",
            "category",
            "priority",
            "dep_status",
            "required_deps",
        ] {
            assert!(!h[key].is_null(), "backlog item lacks {key}: {h:?}");
        }
    }
}

/// Runs the built binary in `dir` (a repository made by the test).
pub fn optimize_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    isolate(&mut cmd, dir);
    Run::from(cmd.output().unwrap())
}

/// A fresh copy of the bundled demo project: (its temporary home, the repo).
pub fn new_demo() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    optimize::demo::create(&dir).unwrap();
    (home, dir)
}
