//! `optimize`: metric-driven optimization loops over a git repository.
//!
//! Data flows one way: spec → run → (hypotheses → implement → measure →
//! decide) → log and events. `main.rs` only calls [`cli::main`].

pub mod agent;
pub mod approvals;
pub mod budget;
pub mod chart;
pub mod child_env;
pub mod clean;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod contain;
pub mod criteria;
pub mod debris;
pub mod decide;
pub mod demo;
pub mod deps;
pub mod digest;
pub mod error;
pub mod estimate;
pub mod events;
pub mod failure;
pub mod fsutil;
pub mod git;
pub mod harness;
pub mod history;
pub mod hypotheses;
pub mod implement;
pub mod judge;
pub mod leftovers;
pub mod llm;
pub mod log;
pub mod measure;
pub mod names;
pub mod output;
pub mod patch;
pub mod process;
pub mod procfs;
pub mod progress;
pub mod prompt;
pub mod report;
pub mod run;
pub mod runner;
pub mod sandbox;
pub mod scope;
pub mod search_index;
pub mod signals;
pub mod spec;
pub mod state;
pub mod stop;
pub mod text;
pub mod tree_path;
pub mod variants;
pub mod worktree;
pub mod wrapup;
