//! The one test project builder: a spec assembled key by key (a test says
//! only what differs from the scored default), the files beside it, one
//! commit in a fresh repository.

use super::TestRepo;

/// `eval.sh` prints `score` (the number in `src/value.txt`), `ok` and `size`.
pub const SCORE_EVAL: &str =
    "#!/bin/sh\necho \"{\\\"score\\\": $(cat src/value.txt), \\\"ok\\\": 1, \\\"size\\\": 1}\"\n";

/// A spec's top-level keys in order, each with its YAML text.
#[derive(Clone)]
pub struct SpecYaml {
    keys: Vec<(String, String)>,
}

impl SpecYaml {
    /// Maximize `score` from `./eval.sh` with gate `ok == 1`, only `src/`
    /// mutable, hypotheses from `hypotheses.yaml`.
    pub fn scored(name: &str) -> SpecYaml {
        SpecYaml { keys: Vec::new() }
            .with("name", name)
            .with("description", "test spec")
            .with(
                "metric",
                "\n  primary: {type: hard, name: score, direction: maximize}\n  degenerate_gates: [{name: ok, check: \"== 1\"}]",
            )
            .with("measurement", "{command: ./eval.sh, timeout_seconds: 20}")
            .with("scope", "{mutable: [src/], immutable: [eval.sh]}")
            .with("hypotheses", "{source: file, file: hypotheses.yaml}")
    }

    /// Sets a top-level key (replacing it where it already is).
    pub fn with(mut self, key: &str, value: &str) -> SpecYaml {
        let value = value.trim_end().to_string();
        match self.keys.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.keys.push((key.to_string(), value)),
        }
        self
    }

    pub fn without(mut self, key: &str) -> SpecYaml {
        self.keys.retain(|(k, _)| k != key);
        self
    }

    /// Sets every top-level key of a YAML fragment such as
    /// `"execution: {mode: serial}\nstopping:\n  max_iterations: 3\n"`.
    pub fn extra(mut self, yaml: &str) -> SpecYaml {
        let mut block: Option<(String, String)> = None;
        for line in yaml.lines() {
            let top = !line.starts_with([' ', '\t', '-', '#']) && !line.trim().is_empty();
            match (top, line.split_once(':')) {
                (true, Some((key, rest))) => {
                    if let Some((k, v)) = block.take() {
                        self = self.with(&k, &v);
                    }
                    block = Some((key.trim().to_string(), rest.trim_start().to_string()));
                }
                _ => match &mut block {
                    Some((_, v)) => {
                        v.push('\n');
                        v.push_str(line);
                    }
                    None => assert!(line.trim().is_empty(), "no key above {line:?}"),
                },
            }
        }
        if let Some((k, v)) = block {
            self = self.with(&k, &v);
        }
        self
    }

    pub fn render(&self) -> String {
        self.keys
            .iter()
            .map(|(k, v)| {
                if v.starts_with('\n') {
                    format!("{k}:{v}\n")
                } else {
                    format!("{k}: {v}\n")
                }
            })
            .collect()
    }
}

/// Files and a spec, committed together by [`Project::build`].
pub struct Project {
    spec: SpecYaml,
    files: Vec<(String, String)>,
}

impl Project {
    /// [`SpecYaml::scored`] with [`SCORE_EVAL`] and `src/value.txt` at 10.
    pub fn scored(name: &str) -> Project {
        Project {
            spec: SpecYaml::scored(name),
            files: Vec::new(),
        }
        .file("eval.sh", SCORE_EVAL)
        .file("src/value.txt", "10\n")
    }

    pub fn file(mut self, path: &str, content: &str) -> Project {
        self.files.retain(|(p, _)| p != path);
        self.files.push((path.to_string(), content.to_string()));
        self
    }

    pub fn without(mut self, path: &str) -> Project {
        self.files.retain(|(p, _)| p != path);
        self
    }

    pub fn eval(self, script: &str) -> Project {
        self.file("eval.sh", script)
    }

    pub fn spec(mut self, spec: SpecYaml) -> Project {
        self.spec = spec;
        self
    }

    pub fn spec_key(mut self, key: &str, value: &str) -> Project {
        self.spec = self.spec.with(key, value);
        self
    }

    pub fn spec_extra(mut self, yaml: &str) -> Project {
        self.spec = self.spec.extra(yaml);
        self
    }

    pub fn hypotheses(self, yaml: &str) -> Project {
        self.file("hypotheses.yaml", yaml)
    }

    /// One hypothesis per `(description, apply)`.
    pub fn applies<D: AsRef<str>, A: AsRef<str>>(
        self,
        steps: impl IntoIterator<Item = (D, A)>,
    ) -> Project {
        let yaml: String = steps
            .into_iter()
            .enumerate()
            .map(|(i, (d, a))| {
                let (d, a) = (d.as_ref(), a.as_ref());
                let n = i + 1;
                format!(
                    "- description: {d}\n  category: c{n}\n  apply: {}\n",
                    quoted(a)
                )
            })
            .collect();
        self.hypotheses(&yaml)
    }

    pub fn build(self) -> TestRepo {
        let spec = self.spec.render();
        let mut files: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        files.push(("optimize.yaml", &spec));
        TestRepo::new(&files)
    }
}

/// A YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
