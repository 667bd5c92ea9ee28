//! `optimize serve` and `optimize report --html`, read in a real headless
//! chromium as a person would read them, and its HTTP edge spoken to
//! directly: traversal, tokens, Host names.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::browser::{Browser, chromium};
use crate::common::{BIN, Project, isolate, new_demo, optimize_in};

/// A running `optimize serve`, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--port", "0"])
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        isolate(&mut cmd, dir);
        let mut child = cmd.spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        Server { child, url }
    }

    /// `http://127.0.0.1:PORT` with no path.
    fn origin(&self) -> String {
        let rest = &self.url["http://".len()..];
        format!("http://{}", &rest[..rest.find('/').unwrap()])
    }

    fn port(&self) -> u16 {
        self.origin().rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 request to 127.0.0.1:`port`: (status, body).
fn http(port: u16, request_line: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text = format!("{request_line} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        text += &format!("Host: 127.0.0.1:{port}\r\n");
    }
    for h in headers {
        text += &format!("{h}\r\n");
    }
    text += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(text.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn demo_run() -> (tempfile::TempDir, PathBuf) {
    let (home, dir) = new_demo();
    optimize_in(&dir, &["optimize.yaml", "--quiet"]).expect_code(0);
    (home, dir)
}

fn experiments_in_log(dir: &Path, name: &str) -> usize {
    let log = optimize::log::ExperimentLog::load(
        &dir.join(".optimize").join(name).join("experiment-log.yaml"),
    )
    .unwrap();
    log.experiments.len()
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

#[test]
fn the_run_page_shows_every_experiment_and_the_chart_and_an_experiment_its_diff() {
    let Some(program) = chromium() else { return };
    let (_home, dir) = demo_run();
    let experiments = experiments_in_log(&dir, "demo");
    let server = Server::start(&dir, &[]);
    let mut browser = Browser::launch(&program);
    browser.open(&format!("{}#/run/demo/current", server.url));
    browser.wait_for(
        "document.body.dataset.ready === 'run'",
        Duration::from_secs(30),
    );
    let rows = browser.eval("document.querySelectorAll('#experiments tbody tr').length");
    assert_eq!(rows, experiments, "one row per experiment");
    browser.wait_for(
        "(() => { const c = document.getElementById('chart'); return c.complete && c.naturalWidth > 100; })()",
        Duration::from_secs(10),
    );
    let metrics = browser.eval("document.getElementById('metrics').innerText");
    assert!(
        metrics.as_str().unwrap().contains("runtime_ms"),
        "{metrics}"
    );
    // A filter narrows the table to one outcome.
    let kept = browser.eval(
        "(() => { const s = document.getElementById('filter-outcome'); s.value = 'kept'; s.dispatchEvent(new Event('change')); return [...document.querySelectorAll('#experiments tbody tr')].map(r => r.innerText).filter(t => !t.includes('kept')).length; })()",
    );
    assert_eq!(kept, 0, "only kept rows remain under the kept filter");
    browser.screenshot(&screenshots().join("run-page.png"));

    // A kept experiment's page, opened from its row.
    browser.eval("document.querySelector('#experiments tbody tr').click()");
    browser.wait_for(
        "document.body.dataset.ready === 'experiment'",
        Duration::from_secs(30),
    );
    let diff = browser.eval("document.getElementById('diff').innerText");
    let diff = diff.as_str().unwrap();
    assert!(
        diff.contains("+++ ") && diff.lines().any(|l| l.starts_with('+')),
        "{diff}"
    );
    let highlighted = browser.eval("document.querySelectorAll('#diff .add').length");
    assert!(highlighted.as_u64().unwrap() > 0, "added lines are marked");
    let outcome = browser.eval("document.getElementById('experiment').innerText");
    assert!(outcome.as_str().unwrap().contains("kept"), "{outcome}");
    let (output, _) = browser.wait_for(
        "!document.getElementById('output').hidden && document.getElementById('output').innerText",
        Duration::from_secs(10),
    );
    assert!(
        output.as_str().unwrap().contains("runtime_ms"),
        "the measurement's output: {output}"
    );
    browser.screenshot(&screenshots().join("experiment-page.png"));
}

#[test]
fn approving_from_the_page_records_what_the_command_records() {
    let Some(program) = chromium() else { return };
    let (_cli_home, by_cli) = demo_run();
    let (_page_home, by_page) = demo_run();
    optimize_in(&by_cli, &["approve", "optimize.yaml", "numpy"]).expect_code(0);

    let server = Server::start(&by_page, &[]);
    let mut browser = Browser::launch(&program);
    browser.open(&format!("{}#/run/demo/current", server.url));
    browser.wait_for(
        "document.body.dataset.ready === 'run'",
        Duration::from_secs(30),
    );
    browser.eval("document.querySelector('button.approve[data-dep=\"numpy\"]').click()");
    let (said, _) = browser.wait_for(
        "document.getElementById('approval-result') && document.getElementById('approval-result').innerText",
        Duration::from_secs(20),
    );
    assert!(
        said.as_str().unwrap().starts_with("approved: numpy"),
        "{said}"
    );

    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(".optimize/demo").join(file)).unwrap()
    };
    assert_eq!(
        read(&by_page, "approvals.yaml"),
        read(&by_cli, "approvals.yaml")
    );
    let backlog = |dir: &Path| {
        let log = crate::common::log_yaml(dir, "demo");
        serde_yaml::to_string(&log["hypothesis_backlog"]).unwrap()
    };
    assert_eq!(
        backlog(&by_page),
        backlog(&by_cli),
        "the backlog changed the same way"
    );
}

#[test]
fn an_event_of_a_running_run_appears_within_two_seconds() {
    let Some(program) = chromium() else { return };
    // Each measurement takes a while, so the run is still going when the
    // page looks.
    let repo = Project::scored("live")
        .eval("#!/bin/sh\nsleep 2\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1, \\\"size\\\": 1}\"\n")
        .spec_key("execution", "{mode: serial, max_concurrent: 1}")
        .applies([("raise it", "echo 11 > src/value.txt"), ("raise it more", "echo 12 > src/value.txt")])
        .build();
    let mut run = repo
        .command(&["optimize.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = repo.state_dir("live");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !state.join("experiment-log.yaml").is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never wrote its log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let server = Server::start(repo.path(), &[]);
    let mut browser = Browser::launch(&program);
    browser.open(&format!("{}#/run/live/current", server.url));
    browser.wait_for(
        "document.body.dataset.ready === 'run'",
        Duration::from_secs(30),
    );
    // The terminal's status line, in the page, while the run runs.
    browser.wait_for(
        "document.getElementById('status-line').innerText.includes('best')",
        Duration::from_secs(20),
    );

    let marker = "a line appended by the test";
    let line = serde_json::json!({"time": "2026-12-04T00:00:00.000Z", "event": "warning", "message": marker, "text": marker});
    let mut events = std::fs::OpenOptions::new()
        .append(true)
        .open(state.join("events.jsonl"))
        .unwrap();
    writeln!(events, "{line}").unwrap();
    let (_, took) = browser.wait_for(
        &format!("document.getElementById('events').innerText.includes('{marker}')"),
        Duration::from_secs(10),
    );
    assert!(
        took < Duration::from_secs(2),
        "the event took {took:?} to appear"
    );
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    run.wait().unwrap();
}

#[test]
fn report_html_opens_without_a_server_with_every_view_inside() {
    let Some(program) = chromium() else { return };
    let (_home, dir) = demo_run();
    optimize_in(&dir, &["report", "optimize.yaml", "--html"])
        .expect_code(0)
        .stdout_has("report.html");
    let path = dir.join(".optimize/demo/report.html");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing is fetched from elsewhere"
    );
    let mut browser = Browser::launch(&program);
    browser.open(&format!("file://{}", path.display()));
    browser.wait_for(
        "document.body.dataset.ready === 'run'",
        Duration::from_secs(30),
    );
    let rows = browser.eval("document.querySelectorAll('#experiments tbody tr').length");
    assert_eq!(rows, experiments_in_log(&dir, "demo"));
    browser.wait_for(
        "document.getElementById('chart').naturalWidth > 100",
        Duration::from_secs(10),
    );
    browser.eval("document.querySelector('#experiments tbody tr').click()");
    browser.wait_for(
        "document.body.dataset.ready === 'experiment'",
        Duration::from_secs(30),
    );
    let diff = browser.eval("document.getElementById('diff').innerText");
    assert!(diff.as_str().unwrap().contains("+++ "), "{diff}");
}

#[test]
fn traversal_foreign_hosts_and_tokenless_writes_are_refused() {
    let (_home, dir) = demo_run();
    let server = Server::start(&dir, &[]);
    let port = server.port();
    let (ok, runs) = http(port, "GET /api/runs", &[], "");
    assert_eq!(ok, 200, "{runs}");
    assert!(runs.contains("\"demo\""));
    for path in [
        "/api/runs/..%2F..%2F..%2Fetc/passwd",
        "/../../../../etc/passwd",
        "/api/runs/demo/current/experiments/1/files/..%2F..%2F..%2Fspec.yaml",
        "/api/runs/demo/current/experiments/1/files/%2Fetc%2Fpasswd",
        "/api/runs/demo/..%2F..%2F.git/chart.svg",
    ] {
        let (status, body) = http(port, &format!("GET {path}"), &[], "");
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        assert!(!body.contains("root:"), "{path} leaked a file");
    }
    let approve = r#"{"deps": ["numpy"], "approve": true}"#;
    let (status, body) = http(
        port,
        "POST /api/runs/demo/current/approvals",
        &["Content-Type: application/json"],
        approve,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("token"), "{body}");
    let (status, _) = http(
        port,
        "POST /api/runs/demo/current/approvals",
        &["X-Optimize-Token: 0123"],
        approve,
    );
    assert_eq!(status, 403, "a wrong token is no token");
    assert!(
        !dir.join(".optimize/demo/approvals.yaml").exists(),
        "nothing was approved"
    );
    let (status, _) = http(port, "GET /api/runs", &["Host: attacker.example:80"], "");
    assert_eq!(status, 403, "a rebinding name gets nothing");

    // Bound beyond loopback, even reading needs the printed token.
    let open = Server::start(&dir, &["--bind", "0.0.0.0"]);
    let token = open
        .url
        .split("token=")
        .nth(1)
        .expect("the URL carries the token")
        .to_string();
    let (status, _) = http(open.port(), "GET /api/runs", &[], "");
    assert_eq!(status, 403);
    let (status, _) = http(
        open.port(),
        &format!("GET /api/runs?token={token}"),
        &[],
        "",
    );
    assert_eq!(status, 200);
}

#[test]
fn a_run_archived_under_the_dashboard_is_read_from_the_archive() {
    let (_home, dir) = demo_run();
    let server = Server::start(&dir, &[]);
    let port = server.port();
    let (_, before) = http(port, "GET /api/runs/demo/current", &[], "");
    let id: serde_json::Value = serde_json::from_str(&before).unwrap();
    let id = id["run_id"].as_str().unwrap().to_string();
    // A second run in the same second would share the first's id.
    std::thread::sleep(Duration::from_millis(1100));
    optimize_in(&dir, &["optimize.yaml", "--fresh", "--quiet"]).expect_code(0);
    let (status, old) = http(port, &format!("GET /api/runs/demo/{id}"), &[], "");
    assert_eq!(status, 200, "{old}");
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    assert_eq!(old["archived"], true);
    assert_eq!(old["run_id"], id.as_str());
    let (_, runs) = http(port, "GET /api/runs", &[], "");
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2, "{runs}");

    // A log cut short under it is named, and the rest still shows.
    let current = dir.join(".optimize/demo/experiment-log.yaml");
    let text = std::fs::read_to_string(&current).unwrap();
    std::fs::write(&current, &text[..text.len() / 2]).unwrap();
    let (status, runs) = http(port, "GET /api/runs", &[], "");
    assert_eq!(status, 200);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert!(
        runs["unreadable"][0]
            .as_str()
            .unwrap()
            .contains("experiment-log.yaml"),
        "{runs}"
    );
}
