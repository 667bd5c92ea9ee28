//! `optimize add`, `steer` and `stop` from another terminal, reaching a
//! run in progress (and, with none running, its next start).

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::fake_llm::{FakeLlm, Reply};
use crate::common::{Project, Run, SpecYaml, TestRepo, log_yaml, optimize_in};

const KEY: &str = "sk-test-steering";
/// Slow enough that the test acts while the run runs.
const SLOW_EVAL: &str =
    "#!/bin/sh\nsleep 1\ns=$(cat src/value.txt)\necho \"{\\\"score\\\": $s, \\\"ok\\\": 1}\"\n";

fn edit(path: &str, search: &str, replace: &str) -> String {
    format!("```\n{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n")
}

/// Every hypothesis request gets one new idea ("Note n", which changes
/// nothing measured); "Raise the value" doubles the score.
fn model() -> FakeLlm {
    let ideas = Arc::new(AtomicUsize::new(0));
    FakeLlm::start(move |r, _| {
        let p = r.prompt();
        if p.contains("You propose hypotheses") {
            let n = ideas.fetch_add(1, Ordering::SeqCst) + 1;
            Reply::Text(format!(
                "{{\"hypotheses\": [{{\"description\": \"Note {n}\", \"category\": \"notes\", \"files\": [\"src/note{n}.txt\"]}}]}}"
            ))
        } else if p.contains("An experiment of an optimization run just finished") {
            Reply::Text("Notes do not move the score.".into())
        } else if p.contains("Raise the value") {
            Reply::Text(edit("src/value.txt", "10\n", "20\n"))
        } else if let Some(rest) = p.split("Note ").nth(1) {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Reply::Text(edit(&format!("src/note{n}.txt"), "", "x\n"))
        } else {
            Reply::Status(400, None)
        }
    })
}

fn project(url: &str) -> TestRepo {
    let spec = SpecYaml::scored("steer")
        .with("measurement", "{command: ./eval.sh}")
        .without("hypotheses")
        .extra(&format!(
            "execution: {{max_concurrent: 1}}\nstopping: {{max_iterations: 30, plateau_iterations: 30}}\nllm:\n  base_url: {url}\n  model: test-model\n  api_key_env: OPTIMIZE_TEST_KEY\n"
        ));
    Project::scored("steer").eval(SLOW_EVAL).spec(spec).build()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hypotheses_in_log(repo: &TestRepo) -> Vec<String> {
    let log = log_yaml(repo.path(), "steer");
    log["experiments"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|e| e["hypothesis"].as_str().map(str::to_string))
        .collect()
}

fn log_exists(repo: &TestRepo) -> bool {
    repo.state_dir("steer")
        .join("experiment-log.yaml")
        .is_file()
}

#[test]
fn add_steer_and_stop_reach_a_running_run_which_then_resumes() {
    let server = model();
    let repo = project(&server.url);
    let mut child = repo
        .command(&["optimize.yaml"])
        .env("OPTIMIZE_TEST_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first experiment", || {
        log_exists(&repo) && !hypotheses_in_log(&repo).is_empty()
    });

    optimize_in(
        repo.path(),
        &["steer", "optimize.yaml", "prefer changes to the parser"],
    )
    .expect_code(0)
    .stdout_has("to the running run");
    optimize_in(repo.path(), &["add", "optimize.yaml", "Raise the value"])
        .expect_code(0)
        .stdout_has("sent 1 hypothesis for the backlog to the running run");
    wait_for("the added hypothesis measured", || {
        hypotheses_in_log(&repo)
            .iter()
            .any(|h| h == "Raise the value")
    });
    wait_for("a hypothesis request with the guidance", || {
        server.requests().iter().any(|r| {
            let p = r.prompt();
            p.contains("You propose hypotheses") && p.contains("- prefer changes to the parser")
        })
    });
    let log = log_yaml(repo.path(), "steer");
    assert_eq!(log["steering"][0]["text"], "prefer changes to the parser");
    let raised = log["experiments"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["hypothesis"] == "Raise the value")
        .unwrap();
    assert_eq!(raised["outcome"], "kept", "{raised:?}");
    let status = optimize_in(repo.path(), &["status", "optimize.yaml"]);
    status
        .expect_code(0)
        .stdout_has("guidance (optimize steer, since");

    optimize_in(repo.path(), &["stop", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("stopped; resume with: optimize optimize.yaml");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "stop is a Ctrl-C");
    let events = std::fs::read_to_string(repo.state_dir("steer").join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"signal\":\"optimize stop\""),
        "the stop is on record"
    );

    // No run is active now: stop says so; steering waits for the next start.
    optimize_in(repo.path(), &["stop", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("is active; nothing to stop");
    optimize_in(repo.path(), &["steer", "optimize.yaml", "--clear"])
        .expect_code(0)
        .stdout_has("no run is active");
    optimize_in(repo.path(), &["status", "optimize.yaml"])
        .expect_code(0)
        .stdout_has("not read by the run yet: steer --clear");
    let before = hypotheses_in_log(&repo).len();
    let resumed = Run::from(
        repo.command(&[
            "optimize.yaml",
            "--max-iterations",
            &(before + 2).to_string(),
        ])
        .env("OPTIMIZE_TEST_KEY", KEY)
        .output()
        .unwrap(),
    );
    resumed.expect_code(0);
    let log = log_yaml(repo.path(), "steer");
    assert!(
        log["steering"].is_null(),
        "cleared at the start: {:?}",
        log["steering"]
    );
    assert_eq!(
        hypotheses_in_log(&repo).len(),
        before + 2,
        "the resume went on where it stopped"
    );
    assert!(
        !repo
            .state_dir("steer")
            .join("inbox")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "the inbox is empty"
    );
}

#[test]
fn a_request_file_that_is_not_one_is_set_aside_and_the_run_goes_on() {
    let server = model();
    let repo = project(&server.url);
    let inbox = repo.state_dir("steer").join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("0001-garbage.yaml"), "request: [unclosed").unwrap();
    let run = Run::from(
        repo.command(&["optimize.yaml", "--max-iterations", "1"])
            .env("OPTIMIZE_TEST_KEY", KEY)
            .output()
            .unwrap(),
    );
    run.expect_code(0).stderr_has("is not a request");
    assert!(
        inbox.join("0001-garbage.rejected").is_file(),
        "kept for its author"
    );
}

#[test]
fn stop_now_kills_every_command_at_once() {
    // The measurement ignores SIGTERM and sleeps far longer than the test.
    let repo = Project::scored("hard")
        .eval("#!/bin/sh\ntrap '' TERM\nif [ \"$(cat src/value.txt)\" = 11 ]; then sleep 3022; fi\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1, \\\"size\\\": 1}\"\n")
        .spec_key("execution", "{mode: serial, max_concurrent: 1}")
        .applies([("raise it", "echo 11 > src/value.txt")])
        .build();
    let mut child = repo
        .command(&["optimize.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the long measurement", || {
        crate::common::processes_with("sleep 3022").len() == 1
    });
    let t = Instant::now();
    optimize_in(repo.path(), &["stop", "optimize.yaml", "--now"])
        .expect_code(0)
        .stdout_has("now, killing every running command");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        crate::common::processes_with("sleep 3022").is_empty(),
        "no command outlives it"
    );
}
