//! `optimize demo [DIR]`: the bundled example, copied into a fresh git
//! repository and run offline.

use crate::cli::{DemoArgs, Overrides, RunArgs};
use crate::error::CliError;

pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("optimize-demo-{}", crate::clock::compact_now())),
    };
    crate::demo::create(&dir)?;
    let dir = dir.canonicalize().unwrap_or(dir);
    crate::outln!("demo project: {}", dir.display());
    crate::outln!(
        "running `optimize optimize.yaml` there (offline: the hypotheses come from hypotheses.yaml)\n"
    );
    let run_args = RunArgs {
        spec: dir.join(crate::demo::SPEC),
        fresh: false,
        overrides: Overrides::default(),
        quiet: false,
    };
    super::run::execute(Some(&dir), &run_args)?;
    let d = dir.display();
    crate::outln!(
        "\nwhat to look at next:
  cd {d}
  git log --oneline optimize/demo           the kept changes, one commit each
  optimize status optimize.yaml             best vs baseline and counts per outcome
  cat .optimize/demo/experiment-log.yaml    every experiment, its outcome and learnings
  cat .optimize/demo/strategy-digest.md     what was tried, what worked, what is left
  ls .optimize/demo/experiments/008/        one experiment's output, diff and metrics
  git show optimize-exp/demo/exp-006        a reverted idea stays inspectable"
    );
    Ok(())
}
