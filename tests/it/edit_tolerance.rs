//! What the edit tolerance buys, on a fixture set of imperfect model
//! replies (`fixtures/edits/replies/`, against `fixtures/edits/src/lib.rs`):
//! the share applied with exact matching only, and with the tolerance.
//! Replies named `ok-*` must apply with it; `miss-*` must still be refused,
//! with the closest region of the file when there is one.

use std::path::Path;

use optimize::llm::{apply_edits_with, parse_edits};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/edits");

fn spec() -> optimize::spec::Spec {
    let text = r#"name: edits
description: edit tolerance
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: "true"}
scope: {mutable: [src/], immutable: [eval.sh]}
"#;
    optimize::spec::LoadedSpec::parse_str(text, Path::new("spec.yaml"))
        .unwrap()
        .spec
}

/// Applies `reply` to a fresh copy of the fixture source.
fn apply(reply: &str, tolerant: bool) -> Result<(String, Vec<String>), String> {
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tree.path().join("src")).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("src/lib.rs"),
        tree.path().join("src/lib.rs"),
    )
    .unwrap();
    let edits = parse_edits(reply).map_err(|e| e.to_string())?;
    let applied =
        apply_edits_with(tree.path(), &edits, &spec(), &[], tolerant).map_err(|e| e.to_string())?;
    Ok((
        std::fs::read_to_string(tree.path().join("src/lib.rs")).unwrap(),
        applied.notes,
    ))
}

#[test]
fn the_tolerance_applies_more_imperfect_replies_and_nothing_wrong() {
    let mut replies: Vec<_> = std::fs::read_dir(Path::new(FIXTURES).join("replies"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    replies.sort();
    let (mut exact, mut tolerant) = (0, 0);
    for path in &replies {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let reply = std::fs::read_to_string(path).unwrap();
        let before = apply(&reply, false);
        let after = apply(&reply, true);
        exact += usize::from(before.is_ok());
        tolerant += usize::from(after.is_ok());
        if name.starts_with("ok-") {
            let (text, notes) = after.unwrap_or_else(|e| panic!("{name}: {e}"));
            // The edit landed where the file had the SEARCH lines, and the
            // result still has the file's indentation.
            assert!(!text.contains("\n\tfor"), "{name}: {text}");
            if before.is_err() {
                assert!(!notes.is_empty(), "{name}: a tolerated match is said so");
            }
        } else {
            assert!(after.is_err(), "{name} must stay refused");
        }
    }
    eprintln!(
        "edits applied on {} imperfect replies: exact matching {exact}, with the tolerance {tolerant}",
        replies.len()
    );
    assert!(tolerant > exact);
    assert_eq!(
        tolerant,
        replies
            .iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ok-"))
            .count()
    );
}

#[test]
fn a_reply_without_indentation_keeps_the_files_indentation() {
    let reply = std::fs::read_to_string(
        Path::new(FIXTURES).join("replies/ok-search-without-indentation.txt"),
    )
    .unwrap();
    let (text, notes) = apply(&reply, true).unwrap();
    assert!(
        text.contains("    for v in values.iter_mut() {\n        *v *= factor;\n    }\n"),
        "{text}"
    );
    assert!(notes[0].contains("indented to match"), "{notes:?}");
}

#[test]
fn a_miss_sends_back_the_closest_region() {
    let reply = "src/lib.rs\n<<<<<<< SEARCH\n    for byte in bytes {\n        sum = sum.wrapping_add(*byte);\n=======\nx\n>>>>>>> REPLACE\n";
    let err = apply(reply, true).unwrap_err();
    assert!(err.contains("the closest region is at line 3"), "{err}");
    assert!(err.contains("for byte in data {"), "{err}");
}
