//! Nothing outside `.optimize/`, the tool's branches and its worktrees is
//! ever written, moved or deleted: a measurement command that names an
//! interpreter outside the repository, a harness reached through a symlink
//! that leads out, a shared file whose path holds such a link.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{TestRepo, log_yaml, outcomes};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_run_whose_command_names_files_outside_the_repository_leaves_them_as_they_were() {
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    std::fs::create_dir_all(o.join("venv/bin")).unwrap();
    std::fs::write(
        o.join("venv/bin/python"),
        "#!/bin/sh\nexec /bin/sh \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        o.join("venv/bin/python"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir_all(o.join("tools")).unwrap();
    std::fs::write(o.join("tools/helper.sh"), "echo helper >&2\n").unwrap();
    std::fs::write(o.join("data.txt"), "outside data\n").unwrap();
    std::fs::write(o.join("shared.db"), "a database\n").unwrap();
    let before = snapshot(o);

    let python = o.join("venv/bin/python").display().to_string();
    let data = o.join("data.txt").display().to_string();
    let repo = TestRepo::new(&[
        (
            "eval.sh",
            "cat \"$1\" > /dev/null\nsh linked/helper.sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1}\"\n",
        ),
        ("src/value.txt", "10\n"),
    ]);
    // A tracked symlink that leads out of the repository, named by the
    // command and the scope, and used as a shared file's parent.
    std::os::unix::fs::symlink(o.join("tools"), repo.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(o, repo.path().join("out")).unwrap();
    std::fs::write(repo.path().join(".gitignore"), "state.db\n").unwrap();
    let spec = |name: &str, extra: &str| {
        format!(
            r#"name: {name}
description: a command that names files outside the repository
metric:
  primary: {{type: hard, name: score, direction: maximize}}
  degenerate_gates: [{{name: ok, check: "== 1"}}]
measurement:
  command: "{python} eval.sh {data} ../../../../../outside-rel.sh linked/helper.sh out/data.txt"
  timeout_seconds: 20
scope: {{mutable: [src/], immutable: [eval.sh, linked/helper.sh, out/]}}
{extra}
execution: {{mode: serial, max_concurrent: 1}}
max_runner_up_merges_per_batch: 0
hypotheses: {{source: file, file: hypotheses.yaml}}
"#
        )
    };
    repo.write(
        "shared.yaml",
        &spec("shared", "parallel: {shared_files: [out/shared.db]}"),
    );
    repo.write("optimize.yaml", &spec("outside", ""));
    repo.write(
        "hypotheses.yaml",
        "- description: raise the value\n  apply: \"echo 11 > src/value.txt\"\n- description: raise it more\n  apply: \"echo 12 > src/value.txt\"\n",
    );
    repo.commit_all("spec");
    repo.run(&["shared.yaml"])
        .expect_code(1)
        .stderr_has("\"out/shared.db\" leads out of the tree through the symlink \"out\"");
    assert_eq!(snapshot(o), before, "a shared file was copied outside");
    let run = repo.run(&["optimize.yaml"]);
    run.expect_code(0);
    let log = log_yaml(repo.path(), "outside");
    let got: Vec<String> = outcomes(&log).into_iter().map(|(_, o)| o).collect();
    assert_eq!(got, ["kept", "kept"], "{}", run.stderr);
    assert_eq!(snapshot(o), before, "files outside the repository changed");
    assert!(o.join("venv/bin/python").exists());
}
