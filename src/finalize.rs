//! `optimize finalize`: the kept changes as review branches. Changes that
//! touch a file in common stay in one group; each group becomes a branch
//! `optimize-review/<name>/<k>-<slug>` from the start commit with its
//! changes cherry-picked in the order they were kept, is measured alone,
//! and gets a pull-request description.

use std::collections::BTreeSet;

use git2::Oid;
use serde::Serialize;

use crate::git::{GitError, Repo};
use crate::kept_stack::{KeptChange, KeptStack};
use crate::log::Effect;
use crate::remeasure::Measurement;

/// Kept changes that go to review together.
#[derive(Debug, Clone)]
pub struct Group {
    pub branch: String,
    pub changes: Vec<KeptChange>,
    /// Every path the group changes.
    pub files: Vec<String>,
    /// Paths more than one of its changes touch: why they are together.
    pub shared: Vec<String>,
}

/// The changes grouped so no two groups touch a file in common, in the
/// order their first change was kept.
pub fn group(stack: &KeptStack, name: &str) -> Vec<Group> {
    let n = stack.changes.len();
    let mut root: Vec<usize> = (0..n).collect();
    fn find(root: &mut [usize], i: usize) -> usize {
        let mut at = i;
        while root[at] != at {
            root[at] = root[root[at]];
            at = root[at];
        }
        at
    }
    for i in 0..n {
        for j in 0..i {
            if stack.changes[i]
                .files
                .iter()
                .any(|f| stack.changes[j].files.contains(f))
            {
                let (a, b) = (find(&mut root, i), find(&mut root, j));
                root[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<(usize, Vec<KeptChange>)> = Vec::new();
    for i in 0..n {
        let r = find(&mut root, i);
        match groups.iter_mut().find(|(g, _)| *g == r) {
            Some((_, members)) => members.push(stack.changes[i].clone()),
            None => groups.push((r, vec![stack.changes[i].clone()])),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(k, (_, changes))| {
            let mut files = BTreeSet::new();
            let mut shared = BTreeSet::new();
            for c in &changes {
                for f in &c.files {
                    if !files.insert(f.clone()) {
                        shared.insert(f.clone());
                    }
                }
            }
            Group {
                branch: format!(
                    "optimize-review/{name}/{}-{}",
                    k + 1,
                    slug(&changes[0].hypothesis)
                ),
                changes,
                files: files.into_iter().collect(),
                shared: shared.into_iter().collect(),
            }
        })
        .collect()
}

/// A branch name's tail from a hypothesis: `cache-parsed-inputs`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "change".into() } else { out }
}

/// Each group's changes on the start commit, as its branch's tip; an
/// error naming the change when one does not apply there (it cannot
/// happen for file-disjoint groups of one stack, and is not papered over).
pub fn build(repo: &Repo, stack: &KeptStack, groups: &[Group]) -> Result<Vec<Oid>, BuildError> {
    let mut tips = Vec::new();
    for g in groups {
        let mut tip = stack.start;
        for c in &g.changes {
            let message = repo.full_message(c.commit)?;
            tip = repo
                .cherry_pick(c.commit, tip, &message)?
                .ok_or_else(|| BuildError::DoesNotApply(c.label(), g.branch.clone()))?;
        }
        repo.set_branch(&g.branch, tip)?;
        tips.push(tip);
    }
    Ok(tips)
}

/// Whether every group together makes the best's tree.
pub fn union_is_best(repo: &Repo, stack: &KeptStack, groups: &[Group]) -> Result<bool, BuildError> {
    let mut tip = stack.start;
    for c in groups.iter().flat_map(|g| &g.changes) {
        match repo.cherry_pick(c.commit, tip, "union")? {
            Some(next) => tip = next,
            None => return Ok(false),
        }
    }
    Ok(repo.same_tree(tip, stack.best)?)
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0} does not apply alone on the start commit for {1}")]
    DoesNotApply(String, String),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// A review branch as `review.yaml` records it.
#[derive(Debug, Serialize)]
pub struct Reviewed {
    pub branch: String,
    pub commit: String,
    pub changes: Vec<String>,
    pub files: Vec<String>,
    pub measured: Measurement,
    pub effect: Option<Effect>,
    pub description: String,
}

/// The pull-request description of a group.
pub fn description(
    group: &Group,
    measured: &Measurement,
    effect: Option<&Effect>,
    spec: &crate::spec::Spec,
) -> String {
    let primary = &spec.metric.primary.name;
    let title = match group.changes.as_slice() {
        [one] => one.hypothesis.clone(),
        [first, rest @ ..] => format!("{} (and {} more)", first.hypothesis, rest.len()),
        [] => "no change".into(),
    };
    let mut text = format!("# {title}\n\n");
    text += &match effect {
        Some(e) => format!(
            "Measured alone on the start commit: {primary} {} against the start ({}).\n",
            crate::remeasure::describe(e, spec.metric.primary.direction),
            crate::text::count(measured.samples.len().max(1) as u64, "run", "runs")
        ),
        None => format!("Measured alone on the start commit: {primary} could not be compared.\n"),
    };
    if !measured.failed_gates.is_empty() {
        text += &format!(
            "\n**Fails its gates alone: {}.**\n",
            measured.failed_gates.join(", ")
        );
    }
    text += "\n## Changes\n\n";
    for c in &group.changes {
        text += &format!("- {}", c.label());
        if let Some(d) = &c.primary_delta {
            text += &format!(": {primary} {d} when it was kept");
        }
        if let Some([lo, hi]) = c.primary_ci {
            text += &format!(
                " (interval [{}, {}])",
                crate::text::fmt_num(lo),
                crate::text::fmt_num(hi)
            );
        }
        text += &format!("; files: {}\n", c.files.join(", "));
    }
    if !group.shared.is_empty() {
        text += &format!(
            "\nThese changes are reviewed together because they touch the same {}: {}.\n",
            if group.shared.len() == 1 {
                "file"
            } else {
                "files"
            },
            group.shared.join(", ")
        );
    }
    text += &format!(
        "\n## Files\n\n{}\n",
        group
            .files
            .iter()
            .map(|f| format!("- {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    text += "\nGains measured one after another are not always additive; `optimize ablate` measures what each kept change carries in the whole stack.\n";
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u8, files: &[&str]) -> KeptChange {
        KeptChange {
            commit: Oid::from_bytes(&[n; 20]).unwrap(),
            iteration: Some(u64::from(n)),
            hypothesis: format!("Change {n}: tune it!"),
            files: files.iter().map(|f| f.to_string()).collect(),
            primary_delta: None,
            primary_ci: None,
        }
    }

    #[test]
    fn changes_sharing_a_file_stay_together_even_through_a_third() {
        let stack = KeptStack {
            start: Oid::ZERO_SHA1,
            best: Oid::ZERO_SHA1,
            changes: vec![
                change(1, &["a.rs"]),
                change(2, &["b.rs"]),
                change(3, &["c.rs", "a.rs"]),
                change(4, &["d.rs"]),
                change(5, &["c.rs", "b.rs"]),
            ],
        };
        let groups = group(&stack, "demo");
        let members: Vec<Vec<u64>> = groups
            .iter()
            .map(|g| g.changes.iter().filter_map(|c| c.iteration).collect())
            .collect();
        assert_eq!(members, [vec![1, 2, 3, 5], vec![4]]);
        assert_eq!(groups[0].branch, "optimize-review/demo/1-change-1-tune-it");
        assert_eq!(groups[0].shared, ["a.rs", "b.rs", "c.rs"]);
        assert_eq!(groups[1].branch, "optimize-review/demo/2-change-4-tune-it");
        assert!(groups[1].shared.is_empty());
    }
}
