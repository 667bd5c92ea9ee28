//! Model-driven hypotheses and edits against a local fake OpenAI-compatible
//! server: a full run, malformed replies, 429 with Retry-After, an outage
//! that stops the run resumably, slow replies, edits that try to escape, and
//! the API key never written anywhere.

use crate::common;
use crate::common::fake_llm;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Project, Run, SpecYaml, TestRepo, log_yaml, outcomes};
use fake_llm::{FakeLlm, Reply};

const KEY: &str = "sk-test-SECRET-0123456789";
const EVAL: &str = "#!/bin/sh\ns=$(cat src/value.txt)\n[ -f src/bonus.txt ] && s=$((s + $(cat src/bonus.txt)))\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1}\"\n";

fn project(url: &str, extra: &str) -> TestRepo {
    let spec = SpecYaml::scored("proj")
        .with("description", "make the score bigger")
        .with("measurement", "{command: ./eval.sh}")
        .without("hypotheses")
        .extra(&format!(
            "execution: {{max_concurrent: 2}}\nstopping: {{max_iterations: 6}}\nllm:\n  base_url: {url}\n  model: test-model\n  api_key_env: OPTIMIZE_TEST_KEY\n  prices: {{test-model: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}\n{extra}"
        ));
    Project::scored("proj").eval(EVAL).spec(spec).build()
}

fn run(repo: &TestRepo) -> Run {
    Run::from(
        repo.command(&["optimize.yaml"])
            .env("OPTIMIZE_TEST_KEY", KEY)
            .output()
            .unwrap(),
    )
}

fn hypotheses(list: &[(&str, &str)]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|(d, f)| format!("{{\"description\": \"{d}\", \"category\": \"{d}\", \"priority\": \"high\", \"required_deps\": [], \"files\": [\"{f}\"]}}"))
        .collect();
    format!(
        "Here you go:\n```json\n{{\"hypotheses\": [{}]}}\n```",
        items.join(", ")
    )
}

fn edit(path: &str, search: &str, replace: &str) -> String {
    format!("```\n{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n")
}

/// The usual conversation: two ideas, then nothing new; each idea's edit.
fn usual(req: &fake_llm::Request) -> Reply {
    let p = req.prompt();
    if p.contains("An experiment of an optimization run just finished") {
        return Reply::Text("Bigger values raise the score directly.\nExtra line.".into());
    }
    if p.contains("You propose hypotheses") {
        if p.contains("Raise the value") {
            Reply::Text("{\"hypotheses\": []}".into())
        } else {
            Reply::Text(hypotheses(&[
                ("Raise the value", "src/value.txt"),
                ("Add a bonus", "src/bonus.txt"),
            ]))
        }
    } else if p.contains("Raise the value") {
        Reply::Text(edit("src/value.txt", "10\n", "20\n"))
    } else if p.contains("Add a bonus") {
        Reply::Text(edit("src/bonus.txt", "", "5\n"))
    } else {
        Reply::Status(400, None)
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn a_full_run_keeps_the_models_ideas_and_never_writes_the_key() {
    let server = FakeLlm::start(|r, _| usual(r));
    let repo = project(&server.url, "");
    let out = run(&repo);
    out.expect_code(0)
        .stdout_has("finished: no runnable hypotheses are left in the backlog");
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(
        outcomes(&log),
        [
            ("Raise the value".to_string(), "kept".to_string()),
            ("Add a bonus".to_string(), "runner_up_kept".to_string())
        ]
    );
    assert_eq!(
        repo.git(&["show", "optimize/proj:src/value.txt"]).trim(),
        "20"
    );
    assert_eq!(
        repo.git(&["show", "optimize/proj:src/bonus.txt"]).trim(),
        "5"
    );
    assert_eq!(log["best"]["metrics"]["score"].as_f64(), Some(25.0));
    // Cost: 6 calls (2 for hypotheses, 2 edits, 2 learnings) of 1000 input
    // and 200 output tokens at $1/$2 per million.
    let total = log["total_llm_cost_usd"].as_f64().unwrap();
    assert!((total - 6.0 * 0.0014).abs() < 1e-9, "total {total}");
    // One model-written learning per experiment; the templated one is kept beside it.
    assert_eq!(
        log["experiments"][0]["learnings"],
        "Bigger values raise the score directly. / Extra line."
    );
    assert!(
        log["experiments"][0]["templated_learnings"]
            .as_str()
            .unwrap()
            .contains("kept")
    );
    // Each entry pays for its edit and its learning (two calls).
    for e in log["experiments"].as_sequence().unwrap() {
        let cost = e["llm_cost_usd"].as_f64().unwrap();
        assert!((cost - 2.0 * 0.0014).abs() < 1e-9, "entry cost {cost}");
    }
    let learned = std::fs::read_to_string(
        repo.state_dir("proj")
            .join("experiments/001/learnings-transcript.jsonl"),
    )
    .unwrap();
    assert!(learned.contains("Bigger values raise the score directly."));
    // Sub-cent spend is shown with its significant digits, everywhere.
    repo.run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("cost: $0.0084;");
    let report = std::fs::read_to_string(repo.state_dir("proj").join("report.md")).unwrap();
    assert!(
        report.contains(
            "- model cost: $0.0084 in total (hypotheses, edits and learnings $0.0084; judge $0.00)"
        ),
        "{report}"
    );
    // Transcripts and prompts are kept, the key is sent but never written.
    let state = repo.state_dir("proj");
    assert!(state.join("experiments/001/transcript.jsonl").exists());
    assert!(
        std::fs::read_to_string(state.join("experiments/001/prompt.md"))
            .unwrap()
            .contains("<<<<<<< SEARCH")
    );
    assert!(state.join("llm/hypotheses-batch-001.jsonl").exists());
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {KEY}")))
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.body["model"] == "test-model" && r.path == "/v1/chat/completions")
    );
    for f in files_under(&repo.path().join(".optimize")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "the key is in {}",
            f.display()
        );
    }
    assert!(!out.stdout.contains(KEY) && !out.stderr.contains(KEY));
}

#[test]
fn a_malformed_reply_is_sent_back_once_with_the_error() {
    let server = FakeLlm::start(|r, n| {
        if n == 0 {
            Reply::Text("Sure! I would cache things and unroll loops.".into())
        } else {
            usual(r)
        }
    });
    let repo = project(&server.url, "");
    run(&repo).expect_code(0);
    let requests = server.requests();
    assert!(
        requests[1]
            .prompt()
            .contains("That reply could not be used: the reply holds no JSON object")
    );
    assert_eq!(outcomes(&log_yaml(repo.path(), "proj")).len(), 2);
}

#[test]
fn rate_limits_honour_retry_after() {
    let server = FakeLlm::start(|r, n| {
        if n == 0 {
            Reply::Status(429, Some(1))
        } else {
            usual(r)
        }
    });
    let repo = project(&server.url, "");
    let start = Instant::now();
    run(&repo).expect_code(0);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(outcomes(&log_yaml(repo.path(), "proj")).len(), 2);
}

#[test]
fn a_sustained_outage_stops_cleanly_and_resumes() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let server = FakeLlm::start(move |r, _| {
        if h.load(Ordering::SeqCst) {
            usual(r)
        } else {
            Reply::Status(500, None)
        }
    });
    let repo = project(&server.url, "").tap(|repo| {
        let spec = repo.read("optimize.yaml").replace(
            "  model: test-model",
            "  model: test-model\n  max_outage_minutes: 0.03",
        );
        repo.write("optimize.yaml", &spec);
        repo.commit_all("short outage budget");
    });
    let start = Instant::now();
    run(&repo)
        .expect_code(1)
        .stderr_has("has kept failing for 0.03 minutes")
        .stderr_has("resume with: optimize optimize.yaml");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(server.requests().len() >= 2, "it retried before giving up");
    // The baseline was recorded; nothing is lost; the session says why it stopped.
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(outcomes(&log).len(), 0);
    let session = &log["sessions"][0];
    assert!(session["ended_at"].is_string());
    assert!(
        session["stopped_because"]
            .as_str()
            .unwrap()
            .starts_with("the model server is down: the model server at"),
        "{session:?}"
    );
    healthy.store(true, Ordering::SeqCst);
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(outcomes(&log).len(), 2);
    assert_eq!(log["sessions"].as_sequence().unwrap().len(), 2);
}

#[test]
fn slow_replies_time_out_and_count_as_an_outage() {
    let server = FakeLlm::start(|_, _| {
        Reply::Delay(Duration::from_secs(3), Box::new(Reply::Text("{}".into())))
    });
    let repo = project(&server.url, "").tap(|repo| {
        let spec = repo.read("optimize.yaml").replace(
            "  model: test-model",
            "  model: test-model\n  timeout_seconds: 1\n  max_outage_minutes: 0.02",
        );
        repo.write("optimize.yaml", &spec);
        repo.commit_all("slow");
    });
    let start = Instant::now();
    run(&repo).expect_code(1).stderr_has("has kept failing");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn edits_that_escape_the_worktree_or_scope_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().to_path_buf();
    let abs = outside.path().join("absolute.txt");
    let abs_str = abs.display().to_string();
    let server = FakeLlm::start(move |r, _| {
        let p = r.prompt();
        if p.contains("You propose hypotheses") {
            return if p.contains("Climb out") {
                Reply::Text("{\"hypotheses\": []}".into())
            } else {
                Reply::Text(hypotheses(&[
                    ("Climb out", "src/value.txt"),
                    ("Write an absolute path", "src/value.txt"),
                    ("Edit the harness", "eval.sh"),
                    ("Follow the link", "src/link/evil.txt"),
                ]))
            };
        }
        let block = if p.contains("Climb out") {
            edit("../escaped.txt", "", "x\n")
        } else if p.contains("Write an absolute path") {
            edit(&abs_str, "", "x\n")
        } else if p.contains("Edit the harness") {
            edit(
                "eval.sh",
                "#!/bin/sh\n",
                "#!/bin/sh\necho '{\"score\": 999, \"ok\": 1}'; exit 0\n",
            )
        } else {
            edit("src/link/evil.txt", "", "x\n")
        };
        Reply::Text(block)
    });
    let repo = project(&server.url, "").tap(|repo| {
        std::os::unix::fs::symlink(&outside_path, repo.path().join("src/link")).unwrap();
        let spec = repo
            .read("optimize.yaml")
            .replace("max_concurrent: 2", "max_concurrent: 4");
        repo.write("optimize.yaml", &spec);
        repo.commit_all("a symlink out of the repository");
    });
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    let entries = log["experiments"].as_sequence().unwrap();
    assert_eq!(entries.len(), 4);
    let msg = |h: &str| {
        let e = entries.iter().find(|e| e["hypothesis"] == h).unwrap();
        assert_eq!(e["outcome"], "error", "{e:?}");
        e["error_message"].as_str().unwrap().to_string()
    };
    let msgs = [
        msg("Climb out"),
        msg("Write an absolute path"),
        msg("Edit the harness"),
        msg("Follow the link"),
    ];
    assert!(
        msgs[0].contains("refused twice: ../escaped.txt: \"..\" is not allowed"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("absolute paths are not allowed"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].contains("eval.sh: inside the immutable path \"eval.sh\""),
        "{}",
        msgs[2]
    );
    assert!(
        msgs[3].contains("src/link/evil.txt: leads outside the worktree through a symlink"),
        "{}",
        msgs[3]
    );
    // Nothing was written outside.
    assert!(
        std::fs::read_dir(outside.path()).unwrap().next().is_none(),
        "nothing in the link's target"
    );
    assert!(!repo.path().parent().unwrap().join("escaped.txt").exists());
    assert!(
        !repo
            .state_dir("proj")
            .join("worktrees/escaped.txt")
            .exists()
    );
    assert!(!abs.exists());
    assert_eq!(repo.read("eval.sh"), EVAL);
    // Each refusal was sent back once with its reason.
    let sent_back = server
        .requests()
        .iter()
        .filter(|r| r.prompt().contains("Those edits were refused"))
        .count();
    assert_eq!(sent_back, 4);
}

#[test]
fn the_hypothesis_prompt_stays_bounded() {
    let spec: optimize::spec::Spec = serde_yaml::from_str(
        "name: n\ndescription: d\nmetric: {primary: {type: hard, name: s, direction: maximize}, degenerate_gates: [{name: ok, check: '== 1'}]}\nmeasurement: {command: x}\nscope: {mutable: [src/], immutable: [x]}\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prompt_at = |n: u64| {
        let mut log = optimize::log::ExperimentLog::default();
        for i in 1..=n {
            let outcome = if i % 7 == 0 {
                optimize::log::Outcome::Kept
            } else {
                optimize::log::Outcome::Reverted
            };
            let mut e = optimize::log::Experiment::new(
                i,
                i / 4 + 1,
                &format!("idea number {i} about caching layer {}", i % 13),
                &format!("cat-{}", i % 9),
                outcome,
            );
            e.learnings = Some(format!("learned {i}: the cache helps a bit but not enough"));
            e.primary_delta = Some("+0.1".into());
            log.experiments.push(e);
        }
        let digest = optimize::digest::render(&log, &spec);
        optimize::llm::hypothesis_prompt(&spec, &log, &digest, dir.path(), 8).len()
    };
    let (small, large) = (prompt_at(20), prompt_at(1000));
    assert!(
        large as f64 <= small as f64 * 1.2,
        "prompt at 1000 experiments is {large} bytes vs {small} at 20"
    );
}

trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&Self)) -> Self {
        f(&self);
        self
    }
}
impl Tap for TestRepo {}

#[test]
fn an_unknown_models_cost_is_reported_unknown_once() {
    let server = FakeLlm::start(|r, _| usual(r));
    let repo = project(&server.url, "").tap(|repo| {
        let spec = repo
            .read("optimize.yaml")
            .replace("  model: test-model", "  model: mystery-model");
        repo.write("optimize.yaml", &spec);
        repo.commit_all("an unpriced model");
    });
    let out = run(&repo);
    out.expect_code(0);
    assert_eq!(
        out.stderr
            .matches("the price of model \"mystery-model\" is unknown")
            .count(),
        1,
        "{}",
        out.stderr
    );
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(log["cost_unknown_for_models"][0], "mystery-model");
    assert!(log["total_llm_cost_usd"].is_null());
}

#[test]
fn a_refused_model_call_before_any_experiment_still_closes_the_session() {
    let server = FakeLlm::start(|_, _| Reply::Status(401, None));
    let repo = project(&server.url, "");
    run(&repo).expect_code(1).stderr_has("the model failed");
    let log = log_yaml(repo.path(), "proj");
    let sessions = log["sessions"].as_sequence().unwrap();
    assert_eq!(sessions.len(), 1, "{log:?}");
    assert!(sessions[0]["ended_at"].is_string());
    assert!(
        sessions[0]["stopped_because"]
            .as_str()
            .unwrap()
            .starts_with("failed: the model failed"),
        "{:?}",
        sessions[0]
    );
    assert!(
        log["stopped_because"]
            .as_str()
            .unwrap()
            .starts_with("failed:")
    );
}

/// A model that always has one more idea, each creating a new file.
fn endless(req: &fake_llm::Request, n: usize) -> Reply {
    let p = req.prompt();
    if p.contains("An experiment of an optimization run just finished") {
        Reply::Text("Nothing gained.".into())
    } else if p.contains("You propose hypotheses") {
        Reply::Text(hypotheses(&[(&format!("Idea {n}"), "src/new.txt")]))
    } else {
        Reply::Text(edit(&format!("src/new{n}.txt"), "", "x\n"))
    }
}

#[test]
fn a_run_stops_at_its_budget_and_continues_when_it_is_raised() {
    let server = FakeLlm::start(endless);
    let spec_extra = |cap: &str| {
        format!(
            "budget: {{max_usd: {cap}}}\nexecution: {{max_concurrent: 1}}\nstopping: {{max_iterations: 40, plateau_iterations: 100}}\n"
        )
    };
    // The project's own execution and stopping give way to these.
    let repo = project(&server.url, &spec_extra("0.01"));
    let out = run(&repo);
    out.expect_code(0).stdout_has("budget");
    let log = log_yaml(repo.path(), "proj");
    assert!(
        log["stopped_because"]
            .as_str()
            .unwrap()
            .contains("budget.max_usd"),
        "{:?}",
        log["stopped_before"]
    );
    // Each call costs $0.0014: calls start only while under $0.01, so
    // serial calls overshoot by at most one.
    let calls = server.requests().len();
    let spent = log["total_llm_cost_usd"].as_f64().unwrap();
    assert!(
        (spent - calls as f64 * 0.0014).abs() < 1e-9,
        "{spent} for {calls} calls"
    );
    assert!(
        (0.01..0.01 + 0.0014 + 1e-9).contains(&spent),
        "spent {spent}"
    );
    assert!(log["total_tokens"].as_u64().unwrap() == calls as u64 * 1200);
    let before = outcomes(&log).len();

    // The same cap: nothing more is spent.
    run(&repo).expect_code(0);
    assert_eq!(server.requests().len(), calls);
    repo.run(&["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("of $0.01 (budget.max_usd)");

    // A higher cap: the run goes on where it stopped.
    repo.write(
        "optimize.yaml",
        &repo
            .read("optimize.yaml")
            .replace("max_usd: 0.01", "max_usd: 0.02"),
    );
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    assert!(outcomes(&log).len() > before);
    let spent = log["total_llm_cost_usd"].as_f64().unwrap();
    assert!(
        (0.02..0.02 + 0.0014 + 1e-9).contains(&spent),
        "spent {spent}"
    );
}

#[test]
fn the_evaluators_feedback_reaches_the_next_hypothesis_requests() {
    const FEEDBACK_EVAL: &str = "#!/bin/sh\ns=$(cat src/value.txt)\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1, \\\"feedback\\\": \\\"at $s the slow path in parse() dominates\\\"}\"\n";
    let ideas = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = FakeLlm::start(move |r, _| {
        let p = r.prompt();
        if p.contains("You propose hypotheses") {
            let n = ideas.fetch_add(1, Ordering::SeqCst) + 1;
            let idea = format!("Note {n}");
            Reply::Text(hypotheses(&[(idea.as_str(), "src/note.txt")]))
        } else if let Some(rest) = p.split("Note ").nth(1) {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Reply::Text(edit(&format!("src/note{n}.txt"), "", "x\n"))
        } else {
            Reply::Text("Notes do not move the score.".into())
        }
    });
    let spec = SpecYaml::scored("proj")
        .with("measurement", "{command: ./eval.sh}")
        .without("hypotheses")
        .extra(&format!(
            "execution: {{max_concurrent: 1}}\nstopping: {{max_iterations: 3}}\nllm:\n  base_url: {}\n  model: test-model\n  api_key_env: OPTIMIZE_TEST_KEY\n",
            server.url
        ));
    let repo = Project::scored("proj")
        .eval(FEEDBACK_EVAL)
        .spec(spec)
        .build();
    run(&repo).expect_code(0);
    let log = log_yaml(repo.path(), "proj");
    assert_eq!(
        log["baseline"]["feedback"],
        "at 10 the slow path in parse() dominates"
    );
    assert_eq!(
        log["experiments"][0]["feedback"],
        "at 10 the slow path in parse() dominates"
    );
    let prompts: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.prompt())
        .filter(|p| p.contains("You propose hypotheses"))
        .collect();
    assert!(
        prompts[0].contains("# What the evaluator said\nOn the best (iteration 0):\nat 10 the slow path in parse() dominates"),
        "{}",
        prompts[0]
    );
    let later = prompts
        .iter()
        .find(|p| p.contains("On the last experiments:"))
        .expect("a request after an experiment was measured");
    assert!(
        later.contains("- #1 (reverted): at 10 the slow path in parse() dominates"),
        "{later}"
    );
}
