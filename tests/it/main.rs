//! The integration tests: one binary (as jj and just keep theirs), a module per area.

mod common;

mod agents;
mod approve;
mod architecture;
mod bad_inputs;
mod crash_resume;
mod criteria;
mod decide_cli;
mod edit_tolerance;
mod events_and_sessions;
mod extreme_values;
mod harness_validation;
mod history;
mod holdout;
mod implementer_command;
mod judge;
mod ladder;
mod llm;
mod lock;
mod log_and_status;
mod log_writes;
mod messages;
mod outside_tree;
mod per_case;
mod report_status;
mod run_demo;
mod run_loop;
mod safety;
mod signals;
mod slurm;
mod spec_errors;
mod statistical;
mod validate;
mod variants;
mod worktree_pool;
