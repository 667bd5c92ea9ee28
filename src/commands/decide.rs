//! `optimize decide [FILE|-]`: ce-optimize's decision for one
//! `{spec, baseline, candidate}` payload, printed as JSON (a drop-in for its
//! `decide.mjs`).

use std::io::Read;

use crate::cli::DecideArgs;
use crate::error::CliError;

pub fn run(args: &DecideArgs) -> Result<(), CliError> {
    let (text, source) = match args.file.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read {}", path.display())).caused_by(e)
            })?,
            path.display().to_string(),
        ),
    };
    let payload: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "{source}:{}:{}: not a JSON payload: {e}",
            e.line(),
            e.column()
        ))
        .hint("the payload is {\"spec\": ..., \"baseline\": ..., \"candidate\": ...}, as decide.mjs reads it")
    })?;
    if !payload.is_object() {
        return Err(CliError::usage(format!(
            "{source}: the payload must be a JSON object with spec, baseline and candidate"
        )));
    }
    let decision = crate::decide::rules::decide(&payload);
    let json = serde_json::to_string_pretty(&decision).expect("a decision always serializes");
    crate::outln!("{json}");
    Ok(())
}

fn read_stdin() -> Result<(String, String), CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::usage("cannot read the payload from standard input").caused_by(e))?;
    Ok((text, "<stdin>".into()))
}
