//! `optimize finalize <spec> [--dry-run]`: the kept changes as file-disjoint
//! review branches from the start commit, each measured alone, each with a
//! pull-request description.

use std::path::Path;

use crate::cli::FinalizeArgs;
use crate::commands::{Workspace, display_path};
use crate::error::CliError;
use crate::finalize::{self, Reviewed};
use crate::kept_stack::KeptStack;
use crate::log::ExperimentLog;
use crate::spec::LoadedSpec;

pub fn run(repo_arg: Option<&Path>, args: &FinalizeArgs) -> Result<(), CliError> {
    let loaded = LoadedSpec::parse_file(&args.spec)?;
    let ws = Workspace::open(repo_arg, &loaded)?;
    let _lock = ws.state.lock()?;
    let log = ws.owned_log(&loaded, "nothing was kept to review")?;
    let stack = KeptStack::of(&ws.repo, &log).map_err(|e| CliError::failure(e.to_string()))?;
    if stack.changes.is_empty() {
        crate::outln!(
            "nothing was kept in run {}; there is no change to review",
            log.run_id
        );
        return Ok(());
    }
    let name = &loaded.spec.name;
    let groups = finalize::group(&stack, name);
    for g in &groups {
        crate::outln!("{}", g.branch);
        for c in &g.changes {
            crate::outln!("  {} ({})", c.label(), c.files.join(", "));
        }
        if !g.shared.is_empty() {
            crate::outln!("  together: they touch {}", g.shared.join(", "));
        }
    }
    if args.dry_run {
        crate::outln!("dry run: no branch was made, nothing was measured");
        return Ok(());
    }
    let failure = |e: String| CliError::failure(format!("cannot make the review branches: {e}"));
    let tips = finalize::build(&ws.repo, &stack, &groups).map_err(|e| failure(e.to_string()))?;
    if !finalize::union_is_best(&ws.repo, &stack, &groups).map_err(|e| failure(e.to_string()))? {
        eprintln!("warning: the review branches together do not make the best's tree");
    }
    let mut commits = vec![("start".to_string(), stack.start)];
    commits.extend(
        tips.iter()
            .enumerate()
            .map(|(k, tip)| (format!("review-{}", k + 1), *tip)),
    );
    crate::outln!(
        "measuring the start commit and {} alone, in turn",
        crate::text::count(tips.len() as u64, "branch", "branches")
    );
    let measured = super::measure_in_turn(&ws, &loaded, &commits)?;
    let reviewed = describe_all(&ws, &loaded, &log, &groups, &measured)?;
    for r in &reviewed {
        let direction = loaded.spec.metric.primary.direction;
        let effect = r
            .effect
            .as_ref()
            .map(|e| crate::remeasure::describe(e, direction))
            .unwrap_or_else(|| "?".into());
        let gates = if r.measured.failed_gates.is_empty() {
            String::new()
        } else {
            format!("; FAILS {}", r.measured.failed_gates.join(", "))
        };
        crate::outln!(
            "{}: {} {effect} alone{gates}; {}",
            r.branch,
            loaded.spec.metric.primary.name,
            display_path(Path::new(&r.description))
        );
    }
    Ok(())
}

/// Each group's description file and `review.yaml`, which lists them all.
fn describe_all(
    ws: &Workspace,
    loaded: &LoadedSpec,
    log: &ExperimentLog,
    groups: &[finalize::Group],
    measured: &[crate::remeasure::Measurement],
) -> Result<Vec<Reviewed>, CliError> {
    let dir = ws.state.dir.join("review");
    let write = |path: &Path, text: &str| {
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| CliError::failure(format!("cannot write {}", path.display())).caused_by(e))
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::failure(format!("cannot create {}", dir.display())).caused_by(e))?;
    let start = &measured[0];
    let mut reviewed = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        let m = measured[k + 1].clone();
        let effect = crate::remeasure::effect(&loaded.spec, start, &m);
        let text = finalize::description(g, &m, effect.as_ref(), &loaded.spec);
        let file = dir.join(format!(
            "{}.md",
            g.branch.rsplit('/').next().unwrap_or("review")
        ));
        write(&file, &text)?;
        reviewed.push(Reviewed {
            branch: g.branch.clone(),
            commit: m.commit.clone(),
            changes: g.changes.iter().map(|c| c.label()).collect(),
            files: g.files.clone(),
            measured: m,
            effect,
            description: file.display().to_string(),
        });
    }
    let record = serde_json::json!({
        "run_id": log.run_id,
        "finalized_at": crate::clock::now_iso(),
        "start": start,
        "branches": reviewed,
    });
    let yaml = serde_yaml::to_string(&record).expect("the record serializes");
    write(&dir.join("review.yaml"), &yaml)?;
    Ok(reviewed)
}
