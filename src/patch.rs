//! Hypotheses given as unified diffs: the git headers libgit2 needs.

/// libgit2 reads only git-style patches; plain unified diffs (`--- a/x`,
/// `+++ b/x`, as `diff -u` and most people write them) get the headers added.
pub fn with_git_headers(patch: &str) -> String {
    if patch.lines().any(|l| l.starts_with("diff --git ")) {
        return patch.to_string();
    }
    let strip = |p: &str| {
        let p = p.split('\t').next().unwrap_or(p).trim();
        p.strip_prefix("a/")
            .or_else(|| p.strip_prefix("b/"))
            .unwrap_or(p)
            .to_string()
    };
    let lines: Vec<&str> = patch.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let (Some(old), Some(new)) = (
            line.strip_prefix("--- "),
            lines.get(i + 1).and_then(|n| n.strip_prefix("+++ ")),
        ) {
            let (old_path, new_path) = (strip(old), strip(new));
            let path = if old_path == "/dev/null" {
                &new_path
            } else {
                &old_path
            };
            out += &format!(
                "diff --git a/{path} b/{}\n",
                if new_path == "/dev/null" {
                    path
                } else {
                    &new_path
                }
            );
            if old_path == "/dev/null" {
                out += "new file mode 100644\n";
            } else if new_path == "/dev/null" {
                out += "deleted file mode 100644\n";
            }
            out += &format!("--- {}\n", side("a", &old_path));
            out += &format!("+++ {}\n", side("b", &new_path));
            i += 2;
            continue;
        }
        out += line;
        out.push('\n');
        i += 1;
    }
    out
}

/// A diff header's path: `a/x` (or `b/x`), or `/dev/null` as it is.
fn side(prefix: &str, path: &str) -> String {
    if path == "/dev/null" {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_git_headers;

    #[test]
    fn plain_unified_diffs_get_git_headers() {
        let p =
            with_git_headers("--- a/src/x.txt\t2024-01-01\n+++ b/src/x.txt\n@@ -1 +1 @@\n-1\n+2\n");
        assert_eq!(
            p,
            "diff --git a/src/x.txt b/src/x.txt\n--- a/src/x.txt\n+++ b/src/x.txt\n@@ -1 +1 @@\n-1\n+2\n"
        );
        let new = with_git_headers("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n");
        assert!(new.starts_with(
            "diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n"
        ));
        let git = "diff --git a/x b/x\n--- a/x\n+++ b/x\n";
        assert_eq!(with_git_headers(git), git);
    }
}
