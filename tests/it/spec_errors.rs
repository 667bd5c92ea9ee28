//! Bad specs: each is refused with exit 2 and an error naming the file, line,
//! column, key path and what is wrong.

use crate::common;
use common::TestRepo;

const BASE: &str = r#"name: t
description: d
metric:
  primary:
    type: hard
    name: score
    direction: maximize
  degenerate_gates:
    - name: ok
      check: "== 1"
measurement:
  command: ./eval.sh
scope:
  mutable: [src/]
  immutable: [eval.sh]
"#;

/// `BASE` with line `line` (1-based) replaced by `with` (several lines allowed).
fn replace_line(line: usize, with: &str) -> String {
    let mut lines: Vec<String> = BASE.lines().map(String::from).collect();
    lines[line - 1] = with.to_string();
    lines.join("\n") + "\n"
}

fn append(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[track_caller]
fn refused(text: &str, expected: &str) {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("bad.yaml", text);
    let run = repo.run_with_key(&["validate", "--no-measure", "bad.yaml"]);
    run.expect_code(2).stderr_has(expected);
    assert!(
        run.stdout.is_empty(),
        "nothing is printed as valid: {}",
        run.stdout
    );
}

#[test]
fn base_spec_is_valid() {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("good.yaml", BASE);
    repo.run_with_key(&["validate", "--no-measure", "good.yaml"])
        .expect_code(0)
        .stdout_has("valid spec \"t\"");
}

#[test]
fn unknown_gate_operator() {
    refused(
        &replace_line(10, r#"      check: "=> 1""#),
        r#"bad.yaml:10:14: metric.degenerate_gates[0].check: unknown operator "=>"; expected one of >=, <=, >, <, ==, !="#,
    );
}

#[test]
fn gate_threshold_not_a_number() {
    refused(
        &replace_line(10, r#"      check: ">= abc""#),
        r#"bad.yaml:10:14: metric.degenerate_gates[0].check: threshold "abc" in check ">= abc" is not a number"#,
    );
}

#[test]
fn gate_without_operator() {
    refused(
        &replace_line(10, "      check: 1"),
        "bad.yaml:10:14: metric.degenerate_gates[0].check: check \"1\" has no operator",
    );
}

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    refused(
        &append("stoping:\n  max_iterations: 3\n"),
        r#"bad.yaml:16:1: stoping: unknown key "stoping"; did you mean "stopping"?"#,
    );
}

#[test]
fn unknown_nested_key_suggests_the_right_one() {
    refused(
        &replace_line(10, r#"      chekc: "== 1""#),
        r#"bad.yaml:10:7: metric.degenerate_gates[0].chekc: unknown key "chekc"; did you mean "check"?"#,
    );
}

#[test]
fn unknown_key_far_from_any_lists_the_allowed_ones() {
    refused(
        &append("execution:\n  flavour: fast\n"),
        r#"bad.yaml:17:3: execution.flavour: unknown key "flavour"; expected one of mode, backend, max_concurrent, codex_security"#,
    );
}

#[test]
fn name_not_kebab_case() {
    refused(
        &replace_line(1, "name: Bad_Name"),
        r#"bad.yaml:1:7: name: "Bad_Name" is not lowercase kebab-case"#,
    );
}

#[test]
fn direction_typo() {
    refused(
        &replace_line(7, "    direction: minimise"),
        r#"bad.yaml:7:16: metric.primary.direction: unknown value "minimise"; expected one of maximize, minimize (did you mean "minimize"?)"#,
    );
}

#[test]
fn unknown_metric_type() {
    refused(
        &replace_line(5, "    type: soft"),
        r#"bad.yaml:5:11: metric.primary.type: unknown value "soft"; expected one of hard, judge"#,
    );
}

#[test]
fn missing_required_section() {
    let text = BASE.replace("scope:\n  mutable: [src/]\n  immutable: [eval.sh]\n", "");
    refused(&text, "bad.yaml:1:1: scope: missing required key");
}

#[test]
fn missing_nested_required_key() {
    refused(
        &replace_line(6, "    nme: score"),
        r#"bad.yaml:6:5: metric.primary.nme: unknown key "nme"; did you mean "name"?"#,
    );
    let text = BASE.replace("    name: score\n", "");
    refused(
        &text,
        "bad.yaml:5:5: metric.primary.name: missing required key",
    );
}

#[test]
fn no_gates() {
    let text = BASE.replace(
        "  degenerate_gates:\n    - name: ok\n      check: \"== 1\"\n",
        "  degenerate_gates: []\n",
    );
    refused(
        &text,
        "bad.yaml:8:21: metric.degenerate_gates: must have at least one gate",
    );
}

#[test]
fn too_many_worktrees() {
    refused(
        &append("execution:\n  max_concurrent: 8\n"),
        "bad.yaml:17:19: execution.max_concurrent: is 8 but must not exceed 6 with the worktree backend",
    );
}

#[test]
fn zero_concurrency() {
    refused(
        &append("execution:\n  max_concurrent: 0\n"),
        "bad.yaml:17:19: execution.max_concurrent: must be at least 1",
    );
}

#[test]
fn negative_integer() {
    refused(
        &append("stopping:\n  max_iterations: -3\n"),
        "bad.yaml:17:19: stopping.max_iterations: invalid value: integer `-3`, expected u64",
    );
}

#[test]
fn wrong_type() {
    refused(
        &replace_line(12, "  command: ./eval.sh\n  timeout_seconds: soon"),
        r#"bad.yaml:13:20: measurement.timeout_seconds: invalid type: string "soon", expected u64"#,
    );
}

#[test]
fn judge_primary_without_judge() {
    refused(
        &replace_line(5, "    type: judge"),
        "bad.yaml:3:1: metric.judge: is required when metric.primary.type is judge",
    );
}

#[test]
fn singleton_sample_without_rubric() {
    let text = replace_line(
        5,
        "    type: judge",
    )
    .replace(
        "measurement:",
        "  judge:\n    rubric: rate 1-5\n    scoring: {primary: score}\n    singleton_sample: 2\nmeasurement:",
    );
    refused(
        &text,
        "bad.yaml:11:3: metric.judge.singleton_rubric: is required when singleton_sample is greater than 0",
    );
}

#[test]
fn ladder_counts_must_be_coherent() {
    refused(
        &replace_line(
            12,
            "  command: ./eval.sh\n  stability:\n    mode: ladder\n    comparison: {method: relative}\n    ladder:\n      exploratory_pairs: 3\n      confirmation_repeats: 2",
        ),
        "measurement.stability.ladder.confirmation_repeats: must be a positive integer at least as large as exploratory_pairs",
    );
}

#[test]
fn statistical_sampling_does_not_combine_with_a_ladder() {
    refused(
        &replace_line(
            12,
            "  command: ./eval.sh\n  stability:\n    mode: ladder\n    comparison:\n      method: statistical",
        ),
        "bad.yaml:16:15: measurement.stability.comparison.method: statistical sampling decides how many samples",
    );
}

#[test]
fn statistical_sampling_needs_a_hard_primary() {
    let judge = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/anchors/example-judge-spec.yaml"
    ))
    .unwrap();
    let text = judge.replace(
        "  working_directory: \"tools/eval\"\n",
        "  working_directory: \"tools/eval\"\n  stability:\n    comparison: {method: statistical}\n",
    );
    assert_ne!(text, judge, "the judge example has a measurement section");
    refused(&text, "statistical sampling needs a hard primary metric");
}

#[test]
fn statistical_confidence_must_be_a_probability() {
    refused(
        &replace_line(
            12,
            "  command: ./eval.sh\n  stability:\n    comparison:\n      method: statistical\n      confidence: 95",
        ),
        "bad.yaml:16:19: measurement.stability.comparison.confidence: must be at least 0.5 and below 1",
    );
}

#[test]
fn objectives_are_hard_with_a_known_role() {
    refused(
        &replace_line(
            10,
            "      check: \"== 1\"\n  objectives:\n    - name: size\n      direction: minimize\n      role: optional",
        ),
        "bad.yaml:14:13: metric.objectives[0].role: unknown role \"optional\"; expected required or secondary",
    );
    refused(
        &replace_line(
            10,
            "      check: \"== 1\"\n  objectives:\n    - {name: size, direction: minimize}\n    - {name: size, direction: minimize}",
        ),
        "metric.objectives[1].name: objective \"size\" is listed twice",
    );
}

#[test]
fn only_secondary_objectives_are_accepted() {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write(
        "ok.yaml",
        &replace_line(
            10,
            "      check: \"== 1\"\n  objectives:\n    - {name: size, direction: minimize, role: secondary}",
        ),
    );
    repo.run_with_key(&["validate", "--no-measure", "ok.yaml"])
        .expect_code(0);
}

#[test]
fn empty_immutable_scope() {
    refused(
        &replace_line(15, "  immutable: []"),
        "bad.yaml:15:14: scope.immutable: must have at least one entry",
    );
}

#[test]
fn invalid_yaml() {
    refused(&replace_line(6, "    name: [score"), "bad.yaml:7:");
    refused(&replace_line(6, "    name: [score"), "invalid YAML");
}

#[test]
fn file_source_without_file() {
    refused(
        &append("hypotheses:\n  source: file\n"),
        "bad.yaml:16:1: hypotheses.file: is required when hypotheses.source is file",
    );
}

#[test]
fn command_implementer_without_command() {
    refused(
        &append("implementer:\n  kind: command\n"),
        "bad.yaml:16:1: implementer.command: is required when implementer.kind is command",
    );
}

#[test]
fn codex_backend_is_not_supported_yet() {
    refused(
        &append("execution:\n  backend: codex\n"),
        "bad.yaml:17:12: execution.backend: the codex backend is not supported yet",
    );
}

#[test]
fn working_directory_outside_the_repository() {
    refused(
        &replace_line(
            12,
            "  command: ./eval.sh\n  working_directory: ../elsewhere",
        ),
        r#"bad.yaml:13:22: measurement.working_directory: "../elsewhere" must stay inside the repository"#,
    );
}

#[test]
fn llm_base_url_must_be_http() {
    refused(
        &append("llm:\n  base_url: ftp://models\n"),
        r#"bad.yaml:17:13: llm.base_url: "ftp://models" must start with http:// or https://"#,
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let text =
        replace_line(1, "name: Bad_Name").replace("  immutable: [eval.sh]", "  immutable: []");
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("bad.yaml", &text);
    repo.run_with_key(&["validate", "--no-measure", "bad.yaml"])
        .expect_code(2)
        .stderr_has("bad.yaml:1:7: name:")
        .stderr_has("bad.yaml:15:14: scope.immutable:");
}

#[test]
fn spec_that_is_not_a_mapping() {
    refused(
        "- just\n- a list\n",
        "bad.yaml:1:1: a spec must be a YAML mapping",
    );
}

#[test]
fn missing_spec_file() {
    let repo = TestRepo::new(&[("README", "x")]);
    repo.run_with_key(&["validate", "nope.yaml"])
        .expect_code(2)
        .stderr_has("cannot read spec nope.yaml");
}

#[test]
fn anchor_examples_load() {
    let repo = TestRepo::new(&[("README", "x")]);
    let anchors = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/anchors");
    for ok in ["example-hard-spec.yaml", "example-judge-spec.yaml"] {
        repo.run_with_key(&["validate", "--no-measure", &format!("{anchors}/{ok}")])
            .expect_code(0);
    }
    // The ladder, three required objectives and relative comparison.
    repo.run_with_key(&[
        "validate",
        "--no-measure",
        &format!("{anchors}/example-expensive-benchmark-spec.yaml"),
    ])
    .expect_code(0)
    .stdout_has("valid spec \"reduce-test-suite-wall-time\"");
}

#[test]
fn every_unknown_key_is_named_at_once() {
    let text = replace_line(1, "name: t\nnmae: typo\ncolour: blue")
        + "measurement_extra: 1\nscope_typo: 2\n";
    let repo = TestRepo::new(&[("README", "x")]);
    repo.write("bad.yaml", &text);
    let run = repo.run_with_key(&["validate", "--no-measure", "bad.yaml"]);
    run.expect_code(2)
        .stderr_has("bad.yaml:2:1: nmae: unknown key \"nmae\"; did you mean \"name\"?")
        .stderr_has("bad.yaml:3:1: colour: unknown key \"colour\"")
        .stderr_has("measurement_extra: unknown key")
        .stderr_has("scope_typo: unknown key");
}

#[test]
fn an_empty_holdout_command_is_refused() {
    let text = BASE.replace(
        "  command: ./eval.sh\n",
        "  command: ./eval.sh\n  holdout:\n    command: \"  \"\n",
    );
    refused(
        &text,
        "measurement.holdout.command: must be a non-empty shell command",
    );
}

#[test]
fn a_holdout_with_an_unknown_key_names_the_allowed_ones() {
    let text = BASE.replace(
        "  command: ./eval.sh\n",
        "  command: ./eval.sh\n  holdout:\n    comand: ./holdout.sh\n",
    );
    refused(
        &text,
        r#"bad.yaml:14:5: measurement.holdout.comand: unknown key "comand"; did you mean "command"?"#,
    );
}

#[test]
fn a_shortcut_needs_exactly_one_of_apply_and_patch() {
    refused(
        &append(
            "harness_validation:\n  shortcuts:\n    - {description: both, apply: x, patch: y}\n    - {description: neither}\n",
        ),
        "harness_validation.shortcuts[0]: has both apply and patch; give one",
    );
    refused(
        &append("harness_validation:\n  shortcuts:\n    - {description: neither}\n"),
        "harness_validation.shortcuts[0]: needs apply (a shell command) or patch (a unified diff)",
    );
}
