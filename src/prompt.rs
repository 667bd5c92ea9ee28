//! Prompt templates (prompts/*.md, compiled in) and their filling.

use std::path::Path;

use crate::log::BacklogItem;
use crate::spec::Spec;

pub const IMPLEMENT: &str = include_str!("../prompts/implement.md");
pub const EDIT_FORMAT: &str = include_str!("../prompts/edit-format.md");
pub const LEARNING: &str = include_str!("../prompts/learning.md");

/// Bytes of each named file shown in a prompt, and of all of them.
const FILE_BYTES: usize = 20_000;
pub const TOTAL_FILE_BYTES: usize = 100_000;

/// Replaces every `{{key}}`; unknown placeholders are left as written.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

fn list(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_string()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The implementation prompt for one hypothesis, with the current content of
/// the files it names (bounded; paths outside the tree are skipped).
pub fn implement(spec: &Spec, item: &BacklogItem, best: Option<f64>, tree: &Path) -> String {
    let mut files = String::new();
    let mut budget = TOTAL_FILE_BYTES;
    for rel in &item.files {
        let path = tree.join(rel);
        let inside = path
            .canonicalize()
            .ok()
            .zip(tree.canonicalize().ok())
            .is_some_and(|(p, t)| p.starts_with(t));
        let Some(text) = inside
            .then(|| std::fs::read_to_string(&path).ok())
            .flatten()
        else {
            files += &format!("\n## {rel}\n(does not exist yet)\n");
            continue;
        };
        let cut = FILE_BYTES.min(budget);
        let shown: String = text.chars().take(cut).collect();
        budget = budget.saturating_sub(shown.len());
        files += &format!("\n## {rel}\n```\n{shown}\n```\n");
        if shown.len() < text.len() {
            files += &format!("(first {} of {} bytes)\n", shown.len(), text.len());
        }
    }
    if files.is_empty() {
        files = "(the hypothesis names no files; look around the mutable paths)".into();
    }
    let constraints = if spec.constraints.is_empty() {
        "  (none)".to_string()
    } else {
        spec.constraints
            .iter()
            .map(|c| format!("  - {c}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    fill(
        spec.implementer
            .prompt_template
            .as_deref()
            .unwrap_or(IMPLEMENT),
        &[
            ("description", spec.description.trim().to_string()),
            ("primary", spec.metric.primary.name.clone()),
            (
                "direction",
                spec.metric.primary.direction.as_str().to_string(),
            ),
            (
                "best",
                best.map(crate::text::fmt_num)
                    .unwrap_or_else(|| "unknown".into()),
            ),
            ("hypothesis", item.description.clone()),
            ("category", item.category.clone()),
            ("mutable", list(&spec.scope.mutable, "(nothing)")),
            ("immutable", list(&spec.scope.immutable, "(nothing listed)")),
            ("approved", list(&spec.dependencies.approved, "none")),
            ("constraints", constraints),
            ("files", files),
        ],
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_known_placeholders_only() {
        assert_eq!(
            super::fill("a {{x}} {{y}}", &[("x", "1".into())]),
            "a 1 {{y}}"
        );
    }

    #[test]
    fn the_template_has_no_unfilled_placeholders() {
        let spec: crate::spec::Spec = serde_yaml::from_str(
            "name: n\ndescription: d\nmetric: {primary: {type: hard, name: s, direction: maximize}, degenerate_gates: [{name: ok, check: '== 1'}]}\nmeasurement: {command: x}\nscope: {mutable: [src/], immutable: [x]}\n",
        )
        .unwrap();
        let item = crate::log::BacklogItem {
            description: "h".into(),
            category: "c".into(),
            priority: crate::log::Priority::High,
            dep_status: crate::log::DepStatus::NotApplicable,
            required_deps: vec![],
            files: vec!["../../etc/passwd".into()],
            apply: None,
            patch: None,
            from_commit: None,
            from_iteration: None,
            extra: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let p = super::implement(&spec, &item, Some(1.0), dir.path());
        assert!(!p.contains("{{"), "{p}");
        assert!(
            !p.contains("root:"),
            "files outside the tree are never read"
        );
    }
}
