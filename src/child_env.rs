//! What child processes see of the orchestrator's environment: all of it
//! but secrets. A variable is secret when the spec names it as the model's
//! key (`llm.api_key_env`), or when its name looks like one: a part (between
//! underscores) ending in `TOKEN`, `SECRET`, `PASSWORD` or `PASSWD`, a part
//! `CREDENTIAL(S)`, or `API`/`ACCESS`/`PRIVATE`/`SECRET` followed by `KEY`
//! (`OPENAI_API_KEY`, `AWS_SECRET_ACCESS_KEY`, `HF_TOKEN`, `PGPASSWORD`),
//! matched without regard to case. `TOKENIZERS_PARALLELISM` is not one.
//! Measurement and `apply` commands get this plus the names in `env.pass`;
//! an agent command also gets the names in `implementer.env`.

use std::ffi::OsString;
use std::sync::Mutex;

/// Names the spec made secret (the model's key), beside the patterns.
static PROTECTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Also treats `names` as secret, for every child started from now on.
pub fn protect(names: impl IntoIterator<Item = String>) {
    let mut protected = PROTECTED.lock().unwrap_or_else(|p| p.into_inner());
    for name in names {
        if !protected.contains(&name) {
            protected.push(name);
        }
    }
}

pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper == "OPENAI_API_KEY"
        || PROTECTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    {
        return true;
    }
    let parts: Vec<&str> = upper.split('_').filter(|p| !p.is_empty()).collect();
    let secret_part = |p: &&str| {
        ["TOKEN", "SECRET", "PASSWORD", "PASSWD"]
            .iter()
            .any(|s| p.ends_with(s))
            || matches!(*p, "CREDENTIAL" | "CREDENTIALS" | "APIKEY" | "SECRETKEY")
    };
    let key_pair = parts.windows(2).any(|w| {
        matches!(w[0], "API" | "ACCESS" | "PRIVATE" | "SECRET") && w[1].starts_with("KEY")
    });
    key_pair || parts.iter().any(secret_part)
}

/// The orchestrator's environment without its secrets.
pub fn inherited() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_some_and(|k| !is_secret(k)))
        .collect()
}

/// `names` as the orchestrator has them (unset ones are left out): what the
/// spec passes on explicitly, secret-looking or not.
pub fn passed(names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_secret;

    #[test]
    fn secret_looking_names_are_recognised_and_others_are_not() {
        for name in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SESSION_TOKEN",
            "HF_TOKEN",
            "GITHUB_TOKEN",
            "PGPASSWORD",
            "DB_PASSWORD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "MY_APIKEY",
            "client_secret",
            "SSH_PRIVATE_KEY",
        ] {
            assert!(is_secret(name), "{name} should be secret");
        }
        for name in [
            "PATH",
            "HOME",
            "TOKENIZERS_PARALLELISM",
            "KEYBOARD",
            "CUDA_VISIBLE_DEVICES",
            "OPTIMIZE_WORKTREE",
            "SSH_AUTH_SOCK",
            "MONKEY_MODE",
        ] {
            assert!(!is_secret(name), "{name} should pass");
        }
    }

    #[test]
    fn the_spec_can_name_its_own_key() {
        assert!(!is_secret("MY_LLM_CRED_X"));
        super::protect(["MY_LLM_CRED_X".to_string()]);
        assert!(is_secret("MY_LLM_CRED_X"));
    }
}
