//! A branch as a stack of changes: its commits since a start, each one's
//! subject and parent, whether two hold the same tree, and a change put
//! onto another commit (a cherry-pick) or taken back out (a revert).

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
            at = self
                .commit(at)?
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

    /// Applies `commit`'s change on top of `onto` as a new commit (not on any
    /// branch yet). `None` when the change does not apply cleanly.
    pub fn cherry_pick(&self, commit: Oid, onto: Oid, message: &str) -> Result<Option<Oid>> {
        self.merge_change(commit, onto, message, false)
    }

    /// `onto` without `commit`'s change, as a new commit (on no branch);
    /// `None` when later changes build on it and it cannot be taken out alone.
    pub fn revert_onto(&self, commit: Oid, onto: Oid, message: &str) -> Result<Option<Oid>> {
        self.merge_change(commit, onto, message, true)
    }

    fn merge_change(
        &self,
        commit: Oid,
        onto: Oid,
        message: &str,
        revert: bool,
    ) -> Result<Option<Oid>> {
        let (change, base) = (self.commit(commit)?, self.commit(onto)?);
        let index = if revert {
            self.repo.revert_commit(&change, &base, 0, None)
        } else {
            self.repo.cherrypick_commit(&change, &base, 0, None)
        }
        .context(|| {
            format!(
                "{} {commit} onto {onto}",
                if revert { "revert" } else { "cherry-pick" }
            )
        })?;
        self.commit_merged(index, &base, message)
    }

    /// The commit `oid`.
    pub(crate) fn commit(&self, oid: Oid) -> Result<git2::Commit<'_>> {
        self.repo.find_commit(oid).context(|| format!("find {oid}"))
    }

    /// A merged index as a commit on `base` (on no branch); `None` when the
    /// merge left conflicts.
    fn commit_merged(
        &self,
        mut index: git2::Index,
        base: &git2::Commit<'_>,
        message: &str,
    ) -> Result<Option<Oid>> {
        if index.has_conflicts() {
            return Ok(None);
        }
        let tree_id = index
            .write_tree_to(&self.repo)
            .context(|| "write merged tree".into())?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .context(|| "find merged tree".into())?;
        let sig = self.signature();
        let oid = self
            .repo
            .commit(None, &sig, &sig, message, &tree, &[base])
            .context(|| "commit the merge".into())?;
        Ok(Some(oid))
    }
}
