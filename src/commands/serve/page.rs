//! The one page of the dashboard, with its script and styles inline, as the
//! server sends it and as `optimize report --html` writes it (the second
//! with every view of one run inside, so it opens with no server and no
//! network).

use std::path::Path;

use serde_json::{Map, Value, json};

use super::views::{self, NotFound};
use crate::history::RunOnRecord;

const HTML: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Nothing from anywhere else: no CDN, no frames, no plugins.
pub const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The live page; its script calls the API with `token`.
pub fn dashboard(token: &str) -> String {
    assemble(&json!({ "token": token, "views": null, "start": null }))
}

/// A report.html of one run: every API answer its pages read, in the page.
pub fn static_report(root: &Path, run: &RunOnRecord) -> Result<String, NotFound> {
    let base = format!(
        "/api/runs/{}/{}",
        encode(&run.spec),
        encode(&run.log.run_id)
    );
    let mut answers = Map::new();
    let mut summary = views::runs(root);
    if let Some(list) = summary["runs"].as_array_mut() {
        list.retain(|r| r["spec"] == run.spec.as_str() && r["run_id"] == run.log.run_id.as_str());
    }
    answers.insert("/api/runs".into(), summary);
    answers.insert(base.clone(), views::run(run)?);
    answers.insert(format!("{base}/chart.svg"), json!(views::chart(run)?));
    for e in &run.log.experiments {
        let path = format!("{base}/experiments/{}", e.iteration);
        let shown = views::experiment(root, run, e.iteration)?;
        for name in shown["files"].as_array().into_iter().flatten() {
            let Some(name) = name.as_str() else { continue };
            if let Ok(text) = views::output_file(run, e.iteration, name) {
                answers.insert(format!("{path}/files/{}", encode(name)), json!(text));
            }
        }
        answers.insert(path, shown);
    }
    let start = format!("#/run/{}/{}", encode(&run.spec), encode(&run.log.run_id));
    Ok(assemble(
        &json!({ "token": null, "views": answers, "start": start }),
    ))
}

fn assemble(config: &Value) -> String {
    // `<` never appears raw inside the script element: no `</script>` in a
    // hypothesis ends it early.
    let config = config.to_string().replace('<', "\\u003c");
    HTML.replace("/*STYLE*/", STYLE)
        .replace("/*SCRIPT*/", SCRIPT)
        .replacen("/*CONFIG*/", &config, 1)
}

/// A path segment as the page's script encodes it (encodeURIComponent).
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
