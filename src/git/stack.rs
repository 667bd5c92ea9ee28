//! A branch as a stack of changes: its commits since a start, each one's
//! subject, and a change taken back out of the stack (a revert).

use git2::Oid;

use super::{Context, Repo, Result};

impl Repo {
    /// The first-parent commits after `start` up to `tip`, oldest first
    /// (empty when `tip` is `start`; an error when `start` is not on its
    /// first-parent line).
    pub fn first_parents_since(&self, start: Oid, tip: Oid) -> Result<Vec<Oid>> {
        let mut out = Vec::new();
        let mut at = tip;
        while at != start {
            out.push(at);
            let commit = self.repo.find_commit(at).context(|| format!("find {at}"))?;
            at = commit
                .parent_id(0)
                .context(|| format!("{start} is not an ancestor of {tip}"))?;
        }
        out.reverse();
        Ok(out)
    }

    /// The first line of a commit's message.
    pub fn subject(&self, commit: Oid) -> Result<String> {
        let c = self
            .repo
            .find_commit(commit)
            .context(|| format!("find {commit}"))?;
        Ok(String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned())
    }

    /// A commit's whole message.
    pub fn full_message(&self, commit: Oid) -> Result<String> {
        let c = self
            .repo
            .find_commit(commit)
            .context(|| format!("find {commit}"))?;
        Ok(String::from_utf8_lossy(c.message_bytes()).into_owned())
    }

    /// The commit's first parent.
    pub fn parent_of(&self, commit: Oid) -> Result<Oid> {
        let c = self
            .repo
            .find_commit(commit)
            .context(|| format!("find {commit}"))?;
        c.parent_id(0).context(|| format!("{commit} has no parent"))
    }

    /// Whether two commits hold the same tree.
    pub fn same_tree(&self, a: Oid, b: Oid) -> Result<bool> {
        let tree = |oid: Oid| -> Result<Oid> {
            let c = self
                .repo
                .find_commit(oid)
                .context(|| format!("find {oid}"))?;
            Ok(c.tree_id())
        };
        Ok(tree(a)? == tree(b)?)
    }

    /// `onto` without `commit`'s change, as a new commit (on no branch);
    /// `None` when later changes build on it and it cannot be taken out alone.
    pub fn revert_onto(&self, commit: Oid, onto: Oid, message: &str) -> Result<Option<Oid>> {
        let change = self
            .repo
            .find_commit(commit)
            .context(|| format!("find {commit}"))?;
        let base = self
            .repo
            .find_commit(onto)
            .context(|| format!("find {onto}"))?;
        let index = self
            .repo
            .revert_commit(&change, &base, 0, None)
            .context(|| format!("revert {commit} from {onto}"))?;
        self.commit_merged(index, &base, message)
    }
}
