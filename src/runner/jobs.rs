//! `slurm-jobs.yaml` in the state dir: the batch jobs of the run as they
//! stand, written atomically whenever that changes. The intent goes in
//! before `sbatch`, the id right after, the state and node at every poll;
//! a job leaves the file once its result is read. `status` reads it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job name (`optimize-<spec>-<repo hash>-<label>`).
    pub name: String,
    pub label: String,
    /// Unset between the intent and sbatch's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `SUBMITTING`, then what squeue says (`PENDING`, `RUNNING`, ...).
    pub state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// Unix seconds.
    pub submitted_at: i64,
    /// Where the job writes its files, and which runs it makes.
    #[serde(default)]
    pub dir: String,
    #[serde(default)]
    pub first_run: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
}

/// The run's jobs, mirrored to a file.
pub struct JobBook {
    path: Option<PathBuf>,
    jobs: Mutex<Vec<JobRecord>>,
    /// Every job of this session, finished ones too: `(label, id)`.
    ever: Mutex<Vec<(String, String)>>,
}

impl JobBook {
    pub fn new(path: Option<PathBuf>) -> JobBook {
        JobBook {
            path,
            jobs: Mutex::new(Vec::new()),
            ever: Mutex::new(Vec::new()),
        }
    }

    pub fn load(path: &Path) -> Vec<JobRecord> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_yaml::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn change(&self, f: impl FnOnce(&mut Vec<JobRecord>)) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut jobs);
        if let Some(path) = &self.path {
            let text = serde_yaml::to_string(&*jobs).unwrap_or_default();
            // A status view: losing a write loses nothing of the run.
            let _ = crate::fsutil::write_atomic(path, text.as_bytes());
        }
    }

    /// Before sbatch.
    pub fn intent(&self, name: &str, label: &str, dir: &Path, first_run: u32) {
        self.change(|jobs| {
            jobs.push(JobRecord {
                name: name.into(),
                label: label.into(),
                state: "SUBMITTING".into(),
                submitted_at: crate::clock::unix_now(),
                dir: dir.display().to_string(),
                first_run,
                ..JobRecord::default()
            })
        });
    }

    /// Takes over a job a killed run of this spec submitted.
    pub fn adopt(&self, record: JobRecord) {
        if let Some(id) = &record.id {
            self.remember(&record.label, id);
        }
        self.change(|jobs| jobs.push(record));
    }

    fn remember(&self, label: &str, id: &str) {
        self.ever
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((label.to_string(), id.to_string()));
    }

    /// The ids of every job of this session that measured `label`, in the
    /// order they were submitted, whatever became of them.
    pub fn ids_for(&self, label: &str) -> Vec<String> {
        self.ever
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(l, _)| l == label)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// After sbatch: `None` when it refused the job.
    pub fn submitted(&self, name: &str, id: Option<&str>) {
        let label = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rfind(|j| j.name == name && j.id.is_none())
            .map(|j| j.label.clone());
        if let (Some(label), Some(id)) = (&label, id) {
            self.remember(label, id);
        }
        self.change(|jobs| {
            let at = jobs.iter().rposition(|j| j.name == name && j.id.is_none());
            match (at, id) {
                (Some(i), Some(id)) => {
                    jobs[i].id = Some(id.into());
                    jobs[i].state = "PENDING".into();
                }
                (Some(i), None) => {
                    jobs.remove(i);
                }
                _ => {}
            }
        });
    }

    pub fn observed(&self, id: &str, state: &str, node: &str) {
        let now = crate::clock::unix_now();
        let same = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|j| j.id.as_deref() == Some(id) && j.state == state && j.node == node);
        if same || state.is_empty() {
            return;
        }
        self.change(|jobs| {
            if let Some(j) = jobs.iter_mut().find(|j| j.id.as_deref() == Some(id)) {
                if state == "RUNNING" && j.started_at.is_none() {
                    j.started_at = Some(now);
                }
                j.state = state.into();
                j.node = node.into();
            }
        });
    }

    pub fn finished(&self, id: &str) {
        self.change(|jobs| jobs.retain(|j| j.id.as_deref() != Some(id)));
    }
}
