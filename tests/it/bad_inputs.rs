//! Every reader against generated and mutated input: specs, hypotheses
//! files, approvals and experiment logs, each derived from a valid document
//! by cuts, deletions, duplications, foreign bytes, hostile scalars and
//! alias bombs. No reader panics, each parse ends within its bound, and
//! every error says where (the file, then a line and column or a byte).

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn seed(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap()
}

/// Values no reader should choke on.
const HOSTILE: &[&str] = &[
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "-1",
    "18446744073709551615",
    "99999999999999999999999",
    "[",
    "]",
    "{",
    "}",
    "&a",
    "*a",
    "*missing",
    "!!binary AAAA",
    "~",
    "''",
    "\"\\u0000\"",
    "? [a]",
    "- - -",
    ": :",
    "|",
    ">-",
    "%YAML 1.2",
    "---",
    "...",
    "\t",
];

#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    Insert(usize, Vec<u8>),
    ReplaceValue(usize, usize),
    AliasBomb,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Cut),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(l, v)| Mutation::ReplaceValue(l, v)),
        Just(Mutation::AliasBomb),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        let n = lines.len().max(1);
        bytes = match m {
            Mutation::Cut(at) => bytes[..at % (bytes.len() + 1)].to_vec(),
            Mutation::DeleteLine(i) => {
                let mut l = lines;
                if !l.is_empty() {
                    l.remove(i % n);
                }
                l.join(&b'\n')
            }
            Mutation::DuplicateLine(i) => {
                let mut l = lines;
                if !l.is_empty() {
                    let line = l[i % n].clone();
                    l.insert(i % n, line);
                }
                l.join(&b'\n')
            }
            Mutation::Insert(at, extra) => {
                let at = at % (bytes.len() + 1);
                let mut b = bytes[..at].to_vec();
                b.extend_from_slice(extra);
                b.extend_from_slice(&bytes[at..]);
                b
            }
            Mutation::ReplaceValue(i, v) => {
                let mut l = lines;
                let i = i % n;
                if let Some(colon) = l[i].iter().position(|b| *b == b':') {
                    l[i].truncate(colon + 1);
                    l[i].extend_from_slice(b" ");
                    l[i].extend_from_slice(HOSTILE[*v].as_bytes());
                }
                l.join(&b'\n')
            }
            Mutation::AliasBomb => {
                let mut b = b"bomb0: &a0 [x,x,x,x,x,x,x,x,x,x]\n".to_vec();
                for k in 1..9 {
                    let refs = vec![format!("*a{}", k - 1); 10].join(",");
                    b.extend_from_slice(format!("bomb{k}: &a{k} [{refs}]\n").as_bytes());
                }
                b.extend_from_slice(&bytes);
                b
            }
        };
    }
    bytes
}

/// Runs `read` on a thread: it must neither panic nor take longer than the
/// bound, and an error must name `file` with a place after it.
fn check(file: &str, read: impl FnOnce() -> Result<(), String> + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
        let _ = tx.send(result);
    });
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{file}: the read did not end within 10 s"));
    let result = result.unwrap_or_else(|_| panic!("{file}: the reader panicked"));
    assert!(start.elapsed() < Duration::from_secs(10));
    if let Err(message) = result {
        let placed = message.find(file).is_some_and(|at| {
            let rest = &message[at + file.len()..];
            rest.starts_with(':') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
        }) || (message.contains(file) && message.contains("at byte"));
        assert!(placed, "{file}: the error says no place: {message}");
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn specs(which in 0..4usize, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let seeds = [
            "fixtures/demo/optimize.yaml",
            "fixtures/anchors/example-hard-spec.yaml",
            "fixtures/anchors/example-judge-spec.yaml",
            "fixtures/anchors/example-expensive-benchmark-spec.yaml",
        ];
        let bytes = apply(&seed(seeds[which]), &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "spec.yaml", &bytes);
        check("spec.yaml", move || {
            optimize::spec::LoadedSpec::parse_file(&path)
                .and_then(|mut l| l.validate())
                .map_err(|e| e.to_string())
        });
    }

    #[test]
    fn hypotheses_files(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&seed("fixtures/demo/hypotheses.yaml"), &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "hypotheses.yaml", &bytes);
        check("hypotheses.yaml", move || {
            optimize::hypotheses::load_file(&path, &[]).map(drop).map_err(|e| e.to_string())
        });
    }

    #[test]
    fn approvals(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let text = "# approvals\napproved:\n- numpy\n- fastjson\ndenied:\n- left-pad\n";
        let bytes = apply(text, &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "approvals.yaml", &bytes);
        check("approvals.yaml", move || {
            optimize::approvals::Approvals::load(&path).map(drop).map_err(|e| e.to_string())
        });
    }

    #[test]
    fn logs(which in 0..3usize, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let foreign = [
            seed("fixtures/logs/seed-schema-log.yaml"),
            seed("fixtures/logs/newer-schema-log.yaml"),
        ];
        // One of ours too, with the marks that tell a cut log from a whole one.
        let ours = optimize::log::ExperimentLog::parse(&foreign[0], Path::new("seed.yaml"))
            .unwrap()
            .to_yaml();
        let text = [&foreign[0], &foreign[1], &ours][which];
        let bytes = apply(text, &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "experiment-log.yaml", &bytes);
        check("experiment-log.yaml", move || {
            optimize::log::ExperimentLog::load(&path).map(drop).map_err(|e| e.to_string())
        });
    }
}
