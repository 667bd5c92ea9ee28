use super::*;
use crate::log::{Outcome, Session, SessionKind};

fn entry(iteration: u64, batch: u64, outcome: Outcome) -> Experiment {
    let mut e = Experiment::new(iteration, batch, &format!("idea {iteration}"), "c", outcome);
    e.learnings = Some(format!("line one of {iteration}\nline two: with a colon\n"));
    e.metrics = Some(serde_yaml::from_str("{score: 1.5, ok: 1.0}").unwrap());
    e.extra
        .insert("finished_at".into(), "2026-11-23T10:00:00Z".into());
    e
}

fn sample_log() -> ExperimentLog {
    let mut log = ExperimentLog {
        spec: "s".into(),
        run_id: "r".into(),
        started_at: "2026-11-23T09:00:00Z".into(),
        ..Default::default()
    };
    log.baseline.metrics = Some(serde_yaml::from_str("{score: 1.0}").unwrap());
    log.run.sessions.push(Session {
        started_at: "2026-11-23T09:00:00Z".into(),
        kind: SessionKind::Start,
        pid: Some(1),
        host: None,
        tool_version: None,
        spec_changed: false,
        limits: None,
        ended_at: None,
        stopped_because: None,
        extra: Mapping::new(),
    });
    log.extra.insert("other_tool_key".into(), "kept".into());
    log.hypothesis_backlog =
        serde_yaml::from_str("[{description: next, apply: 'echo |x'}]").unwrap();
    log
}

#[test]
fn parts_render_exactly_what_serializing_the_whole_log_gives() {
    let mut log = sample_log();
    let whole = |log: &ExperimentLog| {
        format!(
            "{HEAD_MARK}{}{END_MARK}",
            timestamps::quote(&serde_yaml::to_string(log).unwrap())
        )
    };
    assert_eq!(log.to_yaml(), whole(&log));
    for i in 1..=3 {
        log.experiments.push(entry(i, i, Outcome::Reverted));
    }
    assert_eq!(log.to_yaml(), whole(&log));
    let back: ExperimentLog = serde_yaml::from_str(&log.to_yaml()).unwrap();
    assert_eq!(back, log);
}

/// Saves like a run does, checking after each save that the file is the
/// whole log and that sealed bytes were left where they were.
#[test]
fn saves_in_place_keep_the_file_equal_to_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment-log.yaml");
    let mut file = LogFile::new(path.clone());
    let mut log = sample_log();
    let check = |file: &LogFile, log: &ExperimentLog| {
        assert_eq!(std::fs::read_to_string(&path).unwrap(), log.to_yaml());
        assert_eq!(ExperimentLog::load(&path).unwrap(), *log);
        let w = file.written.as_ref().unwrap();
        assert_eq!(w.sealed, sealable(log));
    };
    file.save(&log).unwrap();
    check(&file, &log);
    for batch in 1..=6u64 {
        let first = 2 * batch - 1;
        for it in [first + 1, first] {
            // Out of order, as parallel experiments finish.
            let at = log
                .experiments
                .iter()
                .position(|e| e.iteration > it)
                .unwrap_or(log.experiments.len());
            log.experiments
                .insert(at, entry(it, batch, Outcome::Measured));
            log.hypothesis_backlog.push(BacklogItem {
                description: format!("more {it}"),
                ..log.hypothesis_backlog[0].clone()
            });
            file.save(&log).unwrap();
            check(&file, &log);
        }
        for e in log.experiments.iter_mut().filter(|e| e.batch == batch) {
            e.outcome = Outcome::Reverted;
        }
        // The trailer shrinks: padding and truncation must leave no residue.
        log.hypothesis_backlog.truncate(1);
        log.best.iteration = first;
        file.save(&log).unwrap();
        check(&file, &log);
    }
    assert_eq!(file.written.as_ref().unwrap().sealed, 10);
    file.close().unwrap();
    assert!(!redo_path(&path).exists());
}

#[test]
fn an_interrupted_write_is_finished_from_the_redo_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment-log.yaml");
    let mut file = LogFile::new(path.clone());
    let mut log = sample_log();
    for i in 1..=4 {
        log.experiments.push(entry(i, i, Outcome::Reverted));
    }
    file.save(&log).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    log.experiments.push(entry(5, 5, Outcome::Measured));
    log.best.iteration = 3;
    file.save(&log).unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    let offset = file.written.as_ref().unwrap().sealed_len;
    assert!(offset > 0 && offset < before.len());

    // Every way the in-place write could have been cut short.
    for cut in [offset, offset + 1, offset + 40, after.len() - 1] {
        let mut torn = after[..cut].to_string();
        if cut < before.len() {
            torn.push_str(&before[cut..]);
        }
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(ExperimentLog::load(&path).unwrap(), log, "cut at {cut}");
    }
    // A whole rewrite (as `optimize approve` does) retires the record.
    log.best.iteration = 4;
    log.save(&path).unwrap();
    assert!(!redo_path(&path).exists());
    assert_eq!(ExperimentLog::load(&path).unwrap(), log);
}

#[test]
fn a_redo_record_for_other_bytes_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment-log.yaml");
    let log = sample_log();
    log.save(&path).unwrap();
    let stale = Redo {
        offset: 10,
        prefix: Fnv::of(b"not these bytes").hex(),
        tail: "garbage: [".into(),
        old: Some(String::new()),
    };
    std::fs::write(redo_path(&path), stale.render()).unwrap();
    assert_eq!(ExperimentLog::load(&path).unwrap(), log);
}

/// A log saved in place a few times, with its last save's redo record left
/// as a kill would leave it: (path, the log, the record's text).
fn killed_after_a_save() -> (tempfile::TempDir, PathBuf, ExperimentLog) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment-log.yaml");
    let mut file = LogFile::new(path.clone());
    let mut log = sample_log();
    for i in 1..=3 {
        log.experiments.push(entry(i, i, Outcome::Reverted));
        file.save(&log).unwrap();
    }
    assert!(redo_path(&path).exists(), "no close: the record stays");
    (dir, path, log)
}

#[test]
fn a_hand_edit_after_a_kill_wins_over_the_stale_redo_record() {
    let (_dir, path, _) = killed_after_a_save();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("description: next", "description: added by hand");
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    // An observer reads the edit and leaves the record where it is.
    let seen = ExperimentLog::load(&path).unwrap();
    assert_eq!(seen.hypothesis_backlog[0].description, "added by hand");
    assert!(redo_path(&path).exists());
    // The owner reads it too, and sets the record aside.
    let owned = ExperimentLog::load_owned(&path).unwrap();
    assert_eq!(owned, seen);
    assert!(!redo_path(&path).exists());
    assert!(path.with_extension("redo.stale").exists());
}

#[test]
fn a_damaged_redo_record_never_makes_a_valid_log_invalid() {
    let (_dir, path, log) = killed_after_a_save();
    let redo = std::fs::read_to_string(redo_path(&path)).unwrap();
    for damaged in [
        format!("{redo}garbage: ["),
        redo.replace("best:", "bets: ["),
        redo[..redo.len() / 2].to_string(),
        "optimize experiment-log redo v2\n".to_string(),
    ] {
        std::fs::write(redo_path(&path), &damaged).unwrap();
        assert_eq!(ExperimentLog::load(&path).unwrap(), log);
    }
}

#[test]
fn a_log_cut_short_at_any_byte_is_refused_and_the_backup_is_whole() {
    let (_dir, path, log) = killed_after_a_save();
    std::fs::remove_file(redo_path(&path)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), text);
    let end = text.len() - END_MARK.len();
    for cut in
        (0..text.len()).filter(|c| c % 3 == 0 || text.as_bytes()[c.saturating_sub(1)] == b'\n')
    {
        std::fs::write(&path, &text[..cut]).unwrap();
        match ExperimentLog::load(&path) {
            // Only the final newline may go.
            Ok(loaded) => {
                assert!(cut >= end + END_MARK.len() - 1, "cut at {cut} was accepted");
                assert_eq!(loaded, log);
            }
            Err(LogError::Truncated { backup, .. }) => {
                assert_eq!(backup.as_deref(), Some(backup_path(&path).as_path()));
            }
            Err(LogError::Corrupt { .. }) if cut == 0 => {}
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
    std::fs::write(&path, &text[..end]).unwrap();
    let message = ExperimentLog::load(&path).unwrap_err().to_string();
    assert!(message.contains("cut short"), "{message}");
    assert!(message.contains("experiment-log.backup.yaml"), "{message}");
}

#[test]
fn a_log_of_another_tool_needs_no_marks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment-log.yaml");
    let text = serde_yaml::to_string(&sample_log()).unwrap();
    std::fs::write(&path, &text).unwrap();
    assert_eq!(ExperimentLog::load(&path).unwrap().run_id, "r");
}
