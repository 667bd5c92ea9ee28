//! `optimize`: metric-driven optimization loops over a git repository.
//!
//! Data flows one way: spec → run → (hypotheses → implement → measure →
//! decide) → log and events. `main.rs` only calls [`cli::main`].

pub mod cli;
pub mod clock;
pub mod commands;
pub mod decide;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod log;
pub mod measure;
pub mod process;
pub mod signals;
pub mod spec;
pub mod state;
pub mod worktree;
