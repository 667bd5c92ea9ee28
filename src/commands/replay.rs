//! `optimize replay <spec> <N>`: experiment N's hypothesis implemented again
//! from its original base with another model, variant or temperature,
//! measured, appended with `replay_of`, and shown beside the original.

use std::path::Path;

use crate::cli::ReplayArgs;
use crate::commands::{Workspace, fmt_num, runtime};
use crate::error::CliError;
use crate::events::{Events, TracingSink};
use crate::log::Experiment;
use crate::process::Cancel;
use crate::spec::{ImplementerKind, LoadedSpec, Variant};

pub fn run(repo_arg: Option<&Path>, args: &ReplayArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::load(&args.spec)?;
    let spec = &loaded.spec;
    let variant = replay_variant(spec, args)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    if !ws.state.log_path().exists() {
        return Err(CliError::usage(format!(
            "\"{}\" has no run to replay from; run it first",
            spec.name
        )));
    }
    let _lock = ws.state.lock()?;
    let rt = runtime()?;
    let (_handle, cancel) = Cancel::new();
    let replayed = rt.block_on(async {
        let req = crate::run::Request {
            loaded: &loaded,
            repo_root: ws.repo.root.clone(),
            state: ws.state.clone(),
            events: Events::new(vec![std::sync::Arc::new(TracingSink)]),
            cancel,
        };
        crate::run::replay(
            req,
            crate::run::Replay {
                iteration: args.iteration,
                variant,
            },
        )
        .await
    })?;
    crate::out!("{}", text_of(spec, args.iteration, &replayed));
    Ok(())
}

/// The implementer the replay uses: the named variant, changed by `--model`,
/// `--temperature` and `--prompt`; none for the spec's own implementer.
fn replay_variant(
    spec: &crate::spec::Spec,
    args: &ReplayArgs,
) -> Result<Option<Variant>, CliError> {
    let mut variant = match &args.variant {
        Some(name) => Some(
            spec.implementer
                .variants
                .iter()
                .find(|v| &v.name == name)
                .cloned()
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "the spec has no implementer variant \"{name}\" (it has: {})",
                        spec.implementer
                            .variants
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        ),
        None => None,
    };
    let template = match &args.prompt {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read the prompt {}", path.display())).caused_by(e)
        })?),
        None => None,
    };
    if args.model.is_some() || args.temperature.is_some() || template.is_some() {
        let v = variant.get_or_insert_with(|| Variant {
            name: "replay".into(),
            kind: None,
            model: None,
            command: None,
            temperature: None,
            max_tokens: None,
            prompt_template: None,
        });
        if template.is_some() {
            v.prompt_template = template;
        }
        if let Some(m) = &args.model {
            v.model = Some(m.clone());
            v.kind = Some(ImplementerKind::Llm);
        }
        if args.temperature.is_some() {
            v.temperature = args.temperature;
        }
    }
    Ok(variant)
}

fn text_of(spec: &crate::spec::Spec, iteration: u64, replayed: &crate::run::Replayed) -> String {
    let primary = &spec.metric.primary.name;
    let line = |label: &str, e: &Experiment| {
        format!(
            "  {label} #{}: {} -> {}{}{}\n",
            e.iteration,
            e.metric(primary)
                .map(|v| format!("{primary} {}", fmt_num(v)))
                .unwrap_or_else(|| format!("{primary} -")),
            e.outcome,
            e.record
                .variant
                .as_ref()
                .map(|v| format!(" (variant {v})"))
                .unwrap_or_default(),
            e.error_message
                .as_ref()
                .map(|m| format!(": {}", crate::text::one_line(m, 160)))
                .unwrap_or_default()
        )
    };
    let mut text = format!(
        "replay of #{}: {}\n",
        iteration, replayed.original.hypothesis
    );
    text += &line("original", &replayed.original);
    text += &line("replay  ", &replayed.replay);
    if let Some(l) = &replayed.replay.learnings {
        text += &format!("  {l}\n");
    }
    text
}
