//! The sandbox for what models wrote and what runs it (Linux Landlock):
//! a sandboxed command may write only in its worktree, a private temporary
//! directory and the spec's `sandbox.writable`; everything else is
//! read-only, and with `network: false` it can neither connect nor listen
//! over TCP. The rules are applied by the containment shim (see
//! [`crate::contain`]) to itself just before it starts the command, so they
//! hold for the command and everything it starts, and never for the
//! orchestrator.

use std::path::{Path, PathBuf};

use crate::spec::{SandboxMode, SandboxSettings, Spec};

/// What one sandboxed command may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub writable: Vec<PathBuf>,
    pub network: bool,
    /// Refuse to run the command when the rules cannot be enforced.
    pub required: bool,
    /// Its private temporary directory (`TMPDIR`), one of `writable`.
    pub tmp: Option<PathBuf>,
}

/// Which of the spec's two sandbox settings a command falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `apply` and agent commands.
    Implementer,
    /// Measurement and smoke commands.
    Measurement,
}

/// The rules for a `kind` command run in `tree`, as the spec asks and the
/// kernel allows (`None`: it runs unsandboxed). The state dir's temporary
/// directory for `label` becomes its private `TMPDIR`.
pub fn rules_for(
    spec: &Spec,
    kind: Kind,
    tree: &Path,
    state: &crate::state::StateDir,
    label: &str,
) -> Option<Rules> {
    let tmp = &state.tmp_dir(label);
    let settings = &spec.sandbox;
    let mode = match kind {
        Kind::Implementer => settings.implementer,
        Kind::Measurement => settings.measurement,
    };
    let required = mode == SandboxMode::Required;
    // `required` without Landlock is refused when the run starts; should it
    // get here, the shim refuses the command.
    match resolve(mode, "") {
        Ok((true, _)) | Err(_) => {
            let mut rules = Rules::for_tree(settings, required, tree, tmp);
            if kind == Kind::Implementer
                && let Some(agent) = spec.agent()
            {
                // An agent writes its own state under HOME.
                let preset = agent.preset(&spec.agent_target(), tmp);
                rules
                    .writable
                    .extend(preset.state.iter().map(|p| crate::agent::expand_home(p)));
            }
            Some(rules)
        }
        Ok((false, _)) => None,
    }
}

/// The kernel's Landlock ABI version, or why there is none.
pub fn kernel_abi() -> Result<i32, String> {
    #[cfg(target_os = "linux")]
    {
        // LANDLOCK_CREATE_RULESET_VERSION: asks for the ABI, creates nothing.
        // SAFETY: a null attribute with size 0 and this flag is the documented query.
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32,
            )
        };
        if v >= 1 {
            return Ok(v as i32);
        }
        let errno = std::io::Error::last_os_error();
        Err(match errno.raw_os_error() {
            Some(libc::ENOSYS) => "this kernel has no Landlock (Linux 5.13 or later)".into(),
            Some(libc::EOPNOTSUPP) => {
                "Landlock is built into this kernel but not enabled (boot with lsm=...,landlock)"
                    .into()
            }
            _ => format!("Landlock is unavailable: {errno}"),
        })
    }
    #[cfg(not(target_os = "linux"))]
    Err("Landlock is Linux only".into())
}

/// Whether `mode` sandboxes on this machine: `Ok(true)` it does, `Ok(false)`
/// it is off (or `auto` on a kernel without Landlock: `note` says why, once),
/// `Err` for `required` on a kernel without it.
pub fn resolve(mode: SandboxMode, what: &str) -> Result<(bool, Option<String>), String> {
    match (mode, kernel_abi()) {
        (SandboxMode::Off, _) => Ok((false, None)),
        (_, Ok(_)) => Ok((true, None)),
        (SandboxMode::Auto, Err(why)) => Ok((
            false,
            Some(format!(
                "sandbox.{what} is auto and {why}: those commands run unsandboxed"
            )),
        )),
        (SandboxMode::Required, Err(why)) => Err(format!(
            "sandbox.{what} is required, but {why}; set it to auto or off to run unsandboxed"
        )),
    }
}

/// The spec's two sandbox settings on this machine: the notes to show once
/// (`auto` where the kernel cannot), or why the run must not start
/// (`required` where it cannot).
pub fn check(spec: &Spec) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    for (mode, what) in [
        (spec.sandbox.implementer, "implementer"),
        (spec.sandbox.measurement, "measurement"),
    ] {
        if let (_, Some(note)) = resolve(mode, what)? {
            notes.push(note);
        }
    }
    Ok(notes)
}

impl Rules {
    /// The rules for a command run in `tree` (a linked worktree, whose git
    /// admin directory is writable too, so `git status` works), with `tmp`
    /// as its private temporary directory.
    pub fn for_tree(settings: &SandboxSettings, required: bool, tree: &Path, tmp: &Path) -> Rules {
        let mut writable = vec![tree.to_path_buf(), tmp.to_path_buf()];
        if let Some(admin) = worktree_admin_dir(tree) {
            writable.push(admin);
        }
        writable.extend(settings.writable.iter().map(|w| writable_path(w)));
        Rules {
            writable,
            network: settings.network,
            required,
            tmp: Some(tmp.to_path_buf()),
        }
    }

    /// As arguments of the shim.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for w in &self.writable {
            args.push("--write".into());
            args.push(w.display().to_string());
        }
        if !self.network {
            args.push("--no-network".into());
        }
        if self.required {
            args.push("--required".into());
        }
        args
    }
}

/// Where a `sandbox.writable` entry lets a command write: the directory it
/// names (`~/x` under HOME), or, for a file that does not exist yet (its
/// name has an extension: `~/.tool.json`), its directory, since only what
/// exists can be opened to the command.
pub fn writable_path(entry: &str) -> PathBuf {
    let path = crate::agent::expand_home(entry);
    let file_like = !entry.ends_with('/')
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.trim_start_matches('.').contains('.'));
    if file_like && !path.exists() {
        path.parent().map(Path::to_path_buf).unwrap_or(path)
    } else {
        path
    }
}

/// Creates the writable directories that do not exist yet, so the rules can
/// name them (a rule needs an existing path); says which could not be made.
pub fn create_missing(rules: &Rules) -> Vec<String> {
    let mut failed = Vec::new();
    for w in &rules.writable {
        if !w.exists()
            && let Err(e) = std::fs::create_dir_all(w)
        {
            failed.push(format!("{}: {e}", w.display()));
        }
    }
    failed
}

/// `<repo>/.git/worktrees/<admin>`, from the worktree's `.git` file.
fn worktree_admin_dir(tree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(tree.join(".git")).ok()?;
    Some(PathBuf::from(text.strip_prefix("gitdir: ")?.trim()))
}

/// Device files any program may need to write (`> /dev/null`, a terminal).
const DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/pts",
    "/dev/shm",
];

/// Restricts this process (the shim, single-threaded, before it starts the
/// command) and everything it starts afterwards.
#[cfg(target_os = "linux")]
pub fn apply(rules: &Rules) -> Result<(), String> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
    };
    for problem in create_missing(rules) {
        eprintln!("optimize: cannot create the writable path {problem}");
    }
    let abi = ABI::V5;
    let level = if rules.required {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let fail = |e: landlock::RulesetError| format!("cannot set up the sandbox: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?;
    if !rules.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(fail)?;
    }
    // Paths that do not exist (an optional cache dir) are skipped.
    let writable: Vec<&Path> = rules
        .writable
        .iter()
        .map(PathBuf::as_path)
        .chain(DEVICES.iter().map(Path::new))
        .filter(|p| p.exists())
        .collect();
    let status = ruleset
        .create()
        .map_err(fail)?
        .set_compatibility(CompatLevel::BestEffort)
        .add_rules(path_beneath_rules(
            ["/"],
            AccessFs::from_read(abi) | AccessFs::IoctlDev,
        ))
        .map_err(fail)?
        .add_rules(path_beneath_rules(writable, AccessFs::from_all(abi)))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    if rules.required && status.ruleset == RulesetStatus::NotEnforced {
        return Err("the sandbox is required but the kernel did not enforce it".into());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn apply(rules: &Rules) -> Result<(), String> {
    if rules.required {
        Err("the sandbox is required but Landlock is Linux only".into())
    } else {
        Ok(())
    }
}
