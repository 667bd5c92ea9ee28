//! Every branch, worktree and commit name the tool makes, in one place: the
//! loop, resume, `--fresh` and the report must agree on them.

/// The optimization branch: kept work, one commit per hypothesis.
pub fn opt_branch(spec: &str) -> String {
    format!("optimize/{spec}")
}

/// Where experiment `iteration` is built; it stays afterwards.
pub fn exp_branch(spec: &str, iteration: u64) -> String {
    format!("{}{iteration:03}", exp_branch_prefix(spec))
}

/// A runner-up cherry-picked onto the new best.
pub fn combined_branch(spec: &str, iteration: u64) -> String {
    format!("{}{COMBINED}", exp_branch(spec, iteration))
}

pub fn exp_branch_prefix(spec: &str) -> String {
    format!("optimize-exp/{spec}/exp-")
}

/// Every experiment branch of a spec, for archiving.
pub fn exp_branches_root(spec: &str) -> String {
    format!("optimize-exp/{spec}/")
}

const COMBINED: &str = "-combined";

/// `(iteration, is a combination)` of an experiment branch of `spec`.
pub fn parse_exp_branch(spec: &str, branch: &str) -> Option<(u64, bool)> {
    let rest = branch.strip_prefix(&exp_branch_prefix(spec))?;
    let (number, combined) = match rest.strip_suffix(COMBINED) {
        Some(n) => (n, true),
        None => (rest, false),
    };
    Some((number.parse().ok()?, combined))
}

/// The worktree label (directory under `worktrees/`) of an experiment.
pub fn exp_label(iteration: u64) -> String {
    format!("exp-{iteration:03}")
}

/// The branch of one variant's implementation of an experiment.
pub fn variant_branch(spec: &str, iteration: u64, variant: &str) -> String {
    format!("{}-v-{variant}", exp_branch(spec, iteration))
}

pub fn combined_label(iteration: u64) -> String {
    format!("{}{COMBINED}", exp_label(iteration))
}

/// The pool's worktree for a slot of a batch; `slot-incumbent` and
/// `slot-combined` serve the incumbent's re-measurements and runner-up
/// combinations.
pub fn slot_label(slot: impl std::fmt::Display) -> String {
    format!("{SLOT_PREFIX}{slot}")
}

pub const SLOT_PREFIX: &str = "slot-";

pub const BASELINE_LABEL: &str = "baseline";

/// The incumbent re-measured beside a batch (`method: statistical`), or
/// beside a runner-up's combination.
pub fn incumbent_label(iteration: u64) -> String {
    format!("incumbent-{iteration:03}")
}

/// `optimize validate`'s worktree; a concurrent run leaves it alone.
pub fn validate_label(pid: u32) -> String {
    format!("{VALIDATE_PREFIX}{pid}")
}

pub const VALIDATE_PREFIX: &str = "validate-";

/// The worktree's name under `.git/worktrees/`, unique per spec and label.
pub fn worktree_admin(spec: &str, label: &str) -> String {
    format!("{}{label}", worktree_admin_prefix(spec))
}

pub fn worktree_admin_prefix(spec: &str) -> String {
    format!("optimize-{spec}-")
}

/// `--fresh` moves the old branch here.
pub fn archive_branch(spec: &str, stamp: &str) -> String {
    format!("optimize-archive/{spec}/{stamp}")
}

/// ... and each experiment branch (`rest` is its part after the spec).
pub fn archive_exp_branch(spec: &str, stamp: &str, rest: &str) -> String {
    format!("optimize-archive-exp/{spec}/{stamp}/{rest}")
}

pub fn commit_message(spec: &str, hypothesis: &str) -> String {
    format!(
        "optimize({spec}): {}",
        crate::text::one_line(hypothesis, 200)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_branches_round_trip() {
        assert_eq!(exp_branch("demo", 7), "optimize-exp/demo/exp-007");
        assert_eq!(
            parse_exp_branch("demo", &exp_branch("demo", 7)),
            Some((7, false))
        );
        assert_eq!(
            parse_exp_branch("demo", &combined_branch("demo", 1234)),
            Some((1234, true))
        );
        assert_eq!(parse_exp_branch("demo", "optimize-exp/other/exp-001"), None);
        assert_eq!(parse_exp_branch("demo", "optimize-exp/demo/exp-x"), None);
        assert_eq!(
            worktree_admin("demo", &exp_label(3)),
            "optimize-demo-exp-003"
        );
    }
}
