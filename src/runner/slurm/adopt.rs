//! Ending the run's jobs (Ctrl-C, `--max-hours`) and, on resume, adopting
//! the jobs of a killed run's unfinished batch and cancelling the rest.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tokio::process::Command;

use super::*;

impl Slurm {
    /// Cancels every job of the run with one scancel; says their ids when
    /// that fails.
    pub async fn cancel_all(&self) {
        if self.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        let ids = self.live_ids();
        if ids.is_empty() {
            return;
        }
        let ok = Command::new("scancel")
            .args(&ids)
            .output()
            .await
            .is_ok_and(|o| o.status.success());
        if !ok {
            self.events.emit(Event::warning(format!(
                "could not cancel slurm jobs {}; cancel them with: scancel {}",
                ids.join(", "),
                ids.join(" ")
            )));
        }
    }

    /// The adopted job for this measurement, if any: its id and directory.
    pub(super) fn take_adopted(&self, label: &str, first_run: u32) -> Option<(String, PathBuf)> {
        let mut adopted = self.adopted.lock().unwrap_or_else(|p| p.into_inner());
        let at = adopted
            .iter()
            .position(|j| j.label == label && j.first_run == first_run)?;
        let record = adopted.remove(at);
        let id = record.id.clone()?;
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Seen::default());
        Some((id, PathBuf::from(&record.dir)))
    }

    /// Whether a job of a killed run measures `label` and was adopted.
    pub fn has_adopted(&self, label: &str) -> bool {
        self.adopted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|j| j.label == label)
    }

    /// After a kill: keeps the jobs of `labels` that are still queued or
    /// running, or finished with their result, to wait for them instead of
    /// measuring again; cancels every other job of this spec and repository.
    /// Returns (adopted, cancelled) job ids.
    pub async fn adopt_or_cancel(
        &self,
        book: &Path,
        labels: &[String],
    ) -> (Vec<String>, Vec<String>) {
        let records = JobBook::load(book);
        let ids: Vec<String> = records.iter().filter_map(|r| r.id.clone()).collect();
        let live = if ids.is_empty() {
            HashMap::new()
        } else {
            squeue(&ids).await.unwrap_or_default()
        };
        let mut kept = Vec::new();
        for r in records {
            let Some(id) = r.id.clone() else { continue };
            let running = live.get(&id).is_some_and(|(state, _)| !is_final(state));
            let finished = done_path(Path::new(&r.dir)).exists();
            if labels.contains(&r.label) && (running || finished) {
                kept.push(id);
                self.book.adopt(r.clone());
                self.adopted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(r);
            }
        }
        let cancelled = self.cancel_leftovers_except(&kept).await;
        (kept, cancelled)
    }

    /// Cancels the jobs a killed run of this spec left in the queue, but
    /// `keep`, and waits until they are gone.
    pub(super) async fn cancel_leftovers_except(&self, keep: &[String]) -> Vec<String> {
        let Ok(out) = Command::new("squeue")
            .args(["-h", "-o", "%i|%j"])
            .output()
            .await
        else {
            return Vec::new();
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter(|(_, name)| name.starts_with(&format!("{}-", self.prefix)))
            .map(|(id, _)| id.trim().to_string())
            .filter(|id| !keep.contains(id))
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("scancel").args(&ids).output().await;
            // Until they are gone, nothing of this run starts beside them.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                match squeue(&ids).await {
                    Ok(left) if left.values().all(|(state, _)| is_final(state)) => break,
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
        ids
    }
}
