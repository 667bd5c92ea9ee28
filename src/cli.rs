//! Command-line definitions: what clap reads; `commands` does the rest.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  optimize spec.yaml                      start, or resume, the run of spec.yaml
  optimize validate spec.yaml             check the spec and measure the baseline once
  optimize status spec.yaml --json        best vs baseline, outcomes, lock holder
  optimize demo                           run the bundled example offline

Exit codes: 0 done, 1 failure, 2 invalid usage or spec, 3 another run holds the lock,
130 interrupted (run the same command again to resume).";

#[derive(Debug, Parser)]
#[command(
    name = "optimize",
    version,
    about = "Metric-driven optimization loops over a git repository, unattended and resumable",
    long_about = "Metric-driven optimization loops over a git repository, unattended and resumable.\n\n\
        `optimize <spec>` gets hypotheses, implements each in its own git worktree, measures them \
        in parallel, keeps what truly improves the primary metric on the branch optimize/<name>, \
        and writes every outcome to .optimize/<name>/experiment-log.yaml before moving on.",
    after_help = AFTER_HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The git repository to work in (default: the one containing the current directory)
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, or resume, the run of a spec (the default: `optimize <spec>`)
    #[command(
        after_help = "Examples:\n  optimize spec.yaml\n  optimize run spec.yaml --max-iterations 20\n  optimize run spec.yaml --fresh"
    )]
    Run(RunArgs),
    /// Best vs baseline, counts per outcome, backlog, and whether a run holds the lock
    #[command(
        after_help = "Examples:\n  optimize status spec.yaml\n  optimize status spec.yaml --json | jq .outcomes"
    )]
    Status(StatusArgs),
    /// Approve new dependencies so the hypotheses waiting on them become runnable
    #[command(
        after_help = "Examples:\n  optimize approve spec.yaml serde rayon\n  optimize approve spec.yaml --all"
    )]
    Approve(ApproveArgs),
    /// Deny new dependencies; the hypotheses waiting on them are dropped
    #[command(after_help = "Example:\n  optimize deny spec.yaml left-pad")]
    Deny(DenyArgs),
    /// Write report.md and progress.svg for a run and print their paths
    #[command(
        after_help = "Examples:\n  optimize report spec.yaml\n  optimize report spec.yaml --html   # also report.html, the dashboard's views in one file"
    )]
    Report(ReportArgs),
    /// The live dashboard over every run of the repository, in a browser
    #[command(
        after_help = "Binds 127.0.0.1 by default. Any other address needs the token printed at start in the URL.\n\nExamples:\n  optimize serve\n  optimize serve --port 9000 --open\n  optimize serve --bind 0.0.0.0   # reachable from other machines, with the token"
    )]
    Serve(ServeArgs),
    /// Add hypotheses to a run's backlog, from another terminal while it runs
    #[command(
        after_help = "A running run reads them between experiments; otherwise the next start does.\n\nExamples:\n  optimize add spec.yaml \"Cache the parsed config\"\n  optimize add spec.yaml --file more-hypotheses.yaml"
    )]
    Add(AddArgs),
    /// Guidance for every following hypothesis request of a run, until cleared
    #[command(
        after_help = "Examples:\n  optimize steer spec.yaml \"focus on allocation; leave the parser alone\"\n  optimize steer spec.yaml --clear"
    )]
    Steer(SteerArgs),
    /// Stop a running run as Ctrl-C in its terminal would (graceful; resumable)
    #[command(
        after_help = "Works for a run in the background, under nohup or on another machine sharing the repository.\n\nExamples:\n  optimize stop spec.yaml\n  optimize stop spec.yaml --now   # as a second Ctrl-C: every command is killed at once"
    )]
    Stop(StopArgs),
    /// The kept changes as file-disjoint review branches from the start
    /// commit, each measured alone, each with a pull-request description
    #[command(
        after_help = "Branches: optimize-review/<name>/<k>-<slug>; descriptions and measurements: .optimize/<name>/review/.\n\nExamples:\n  optimize finalize spec.yaml --dry-run\n  optimize finalize spec.yaml"
    )]
    Finalize(FinalizeArgs),
    /// Leave-one-out ablation: which kept changes carry the gain
    #[command(
        after_help = "Each kept change is taken out of the best and applied alone, measured with the run's protocol; the verdicts go into the log and report.md.\n\nExample:\n  optimize ablate spec.yaml"
    )]
    Ablate(SpecArg),
    /// Shell completions for optimize, printed to stdout
    #[command(
        after_help = "Examples:\n  optimize completions bash > ~/.local/share/bash-completion/completions/optimize\n  optimize completions zsh > \"${fpath[1]}/_optimize\"\n  optimize completions fish > ~/.config/fish/completions/optimize.fish"
    )]
    Completions(CompletionsArgs),
    /// The manual page (roff), printed to stdout
    #[command(after_help = "Example:\n  optimize man > optimize.1 && man ./optimize.1")]
    Man,
    /// Check a spec and measure the baseline once; changes nothing
    #[command(
        after_help = "Examples:\n  optimize validate spec.yaml\n  optimize validate --no-measure spec.yaml"
    )]
    Validate(ValidateArgs),
    /// ce-optimize's keep/revert decision for one {spec, baseline, candidate} JSON payload
    #[command(
        after_help = "Reads the payload of ce-optimize's decide.mjs and prints the same record as JSON.\n\nExamples:\n  optimize decide payload.json\n  cat payload.json | optimize decide -"
    )]
    Decide(DecideArgs),
    /// Copy the bundled example into a fresh git repository and run it offline
    #[command(after_help = "Examples:\n  optimize demo\n  optimize demo /tmp/optimize-demo")]
    Demo(DemoArgs),
    /// Everything a run would do before its first measurement, without
    /// doing it: resolved spec, backlog, first batch, whether each apply or
    /// patch applies, time and cost estimates.
    #[command(
        after_help = "Examples:\n  optimize plan spec.yaml\n  optimize plan spec.yaml --json | jq '.hypotheses[] | select(.applies == false)'\n  optimize plan spec.yaml --write        # keeps .optimize/<name>/plan.json"
    )]
    Plan(PlanArgs),
    /// Implements an experiment's hypothesis again from its original base
    /// with another model, variant or temperature, measures it and appends
    /// it (replay_of); the best is never moved by a replay.
    #[command(
        after_help = "Examples:\n  optimize replay spec.yaml 7 --model gpt-4.1\n  optimize replay spec.yaml 7 --variant strong --temperature 0"
    )]
    Replay(ReplayArgs),
    /// Every run in the repository, current and archived, across specs;
    /// rewrites .optimize/index.csv.
    #[command(after_help = "Examples:\n  optimize runs\n  optimize runs --json | jq '.[].status'")]
    Runs(JsonArg),
    /// One experiment of a run: hypothesis, outcome, metrics, learnings,
    /// files, diff and where its output is.
    #[command(
        after_help = "Examples:\n  optimize show spec.yaml 7\n  optimize show spec.yaml 3 --run 20261123T101500Z --json"
    )]
    Show(ShowArgs),
    /// Two runs of a spec side by side, and compare.svg with both curves.
    #[command(
        after_help = "Run ids are listed by `optimize runs`; a unique prefix is enough.\n\nExample:\n  optimize compare spec.yaml 20261120 20261123"
    )]
    Compare(CompareArgs),
    /// Experiments of every run whose hypothesis, category or learnings match.
    #[command(
        after_help = "Examples:\n  optimize search cache\n  optimize search \"loop unrolling\" --json"
    )]
    Search(SearchArgs),
    /// Delete the experiment branches of reverted and errored experiments
    /// (current and archived runs); never a kept commit or the best.
    #[command(
        after_help = "Examples:\n  optimize clean spec.yaml --dry-run\n  optimize clean spec.yaml"
    )]
    Clean(CleanArgs),
    /// Put errored hypotheses of the current run back in the backlog, for
    /// the next run to implement again.
    #[command(
        after_help = "Examples:\n  optimize retry spec.yaml --errors\n  optimize retry spec.yaml 4 7"
    )]
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub spec: PathBuf,
    /// Experiments whose hypotheses go back (errors and timeouts)
    pub iterations: Vec<u64>,
    /// Every errored or timed-out experiment not given back yet
    #[arg(long, conflicts_with = "iterations")]
    pub errors: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    pub spec: PathBuf,
    /// Show what would be deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub spec: PathBuf,
    #[arg(long)]
    pub json: bool,
    /// Keep the plan as plan.json in the state dir.
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    pub spec: PathBuf,
    pub iteration: u64,
    /// Implement with this model (the built-in editor).
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Implement as this implementer.variants entry.
    #[arg(long, value_name = "NAME")]
    pub variant: Option<String>,
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// A prompt template replacing prompts/implement.md (same {{placeholders}}).
    #[arg(long, value_name = "FILE")]
    pub prompt: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub spec: PathBuf,
    pub iteration: u64,
    /// A run other than the current one (see `optimize runs`).
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub spec: PathBuf,
    pub run_a: String,
    pub run_b: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[arg(required = true)]
    pub text: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub spec: PathBuf,
    /// The hypotheses, one argument each
    #[arg(required_unless_present = "file")]
    pub descriptions: Vec<String>,
    /// A hypotheses file (the format of hypotheses.source: file)
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The category of hypotheses given as arguments
    #[arg(long, default_value = "steered")]
    pub category: String,
}

#[derive(Debug, Args)]
pub struct SteerArgs {
    pub spec: PathBuf,
    /// The guidance, in the words the model should read
    #[arg(required_unless_present = "clear", conflicts_with = "clear")]
    pub text: Option<String>,
    /// Remove the guidance given so far
    #[arg(long)]
    pub clear: bool,
}

#[derive(Debug, Args)]
pub struct FinalizeArgs {
    pub spec: PathBuf,
    /// Show the grouping; make no branch and measure nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    pub spec: PathBuf,
    /// As a second Ctrl-C: kill every running command now instead of
    /// letting the experiments in flight finish
    #[arg(long)]
    pub now: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Also write report.html: the dashboard's run and experiment views in
    /// one self-contained file (no server, no network)
    #[arg(long)]
    pub html: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port to listen on (0: any free port)
    #[arg(long, default_value_t = 8321)]
    pub port: u16,
    /// The address to listen on; any but a loopback address needs the token
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Open the dashboard in the default browser
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct SpecArg {
    /// Path to the spec file
    pub spec: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Archive the old state and branch (optimize-archive/<name>/<timestamp>) and start anew
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub overrides: Overrides,
    /// Print only the wrap-up summary and errors
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct Overrides {
    /// Override stopping.max_iterations
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u64>,
    /// Override stopping.max_hours
    #[arg(long, value_name = "H")]
    pub max_hours: Option<f64>,
    /// Override execution.max_concurrent
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// Override stopping.plateau_iterations
    #[arg(long, value_name = "N")]
    pub plateau_iterations: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Print JSON (stable field names; see README)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Dependencies to approve, by name
    #[arg(required_unless_present = "all")]
    pub deps: Vec<String>,
    /// Approve every dependency that a hypothesis is waiting on
    #[arg(long, conflicts_with = "deps")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Dependencies to deny, by name
    #[arg(required = true)]
    pub deps: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Path to the spec file
    pub spec: PathBuf,
    /// Check the spec alone; do not measure the baseline
    #[arg(long)]
    pub no_measure: bool,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The payload file; `-` or nothing reads standard input
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the demo repository (default: a new temporary directory)
    pub dir: Option<PathBuf>,
}

/// Whether `name` is one of the subcommands clap knows.
fn is_subcommand(name: &str) -> bool {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .any(|c| c.get_name() == name)
}

/// `optimize <spec> [flags]` means `optimize run <spec> [flags]`.
fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--repo" {
            i += 2;
            continue;
        }
        if a.starts_with("--repo=") {
            i += 1;
            continue;
        }
        if matches!(a.as_ref(), "-h" | "--help" | "-V" | "--version" | "help") || is_subcommand(&a)
        {
            return args;
        }
        args.insert(i, "run".into());
        return args;
    }
    args
}

/// The command line as clap reads it, `optimize <spec>` meaning
/// `optimize run <spec>`.
/// The whole command line as clap defines it (for completions and the man page).
pub fn definition() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

pub fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(with_default_subcommand(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(args: &[&str]) -> Vec<String> {
        with_default_subcommand(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn spec_alone_means_run() {
        assert_eq!(
            rewrite(&["optimize", "s.yaml"]),
            ["optimize", "run", "s.yaml"]
        );
        assert_eq!(
            rewrite(&["optimize", "--repo", "d", "s.yaml"]),
            ["optimize", "--repo", "d", "run", "s.yaml"]
        );
        assert_eq!(
            rewrite(&["optimize", "status", "s.yaml"]),
            ["optimize", "status", "s.yaml"]
        );
        assert_eq!(rewrite(&["optimize", "--help"]), ["optimize", "--help"]);
    }

    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
