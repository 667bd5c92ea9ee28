//! Test-only fault injection, so the crash suite can stop the loop at every
//! point that matters. `OPTIMIZE_FAULT=<point>` SIGKILLs the process (exactly
//! as `kill -9` would) the first time the loop reaches the point,
//! `<point>:<n>` the n-th time; `panic@<point>[:<n>]` panics there instead,
//! as a bug would.

use std::sync::Mutex;

pub fn fault(point: &str) {
    let Ok(wanted) = std::env::var("OPTIMIZE_FAULT") else {
        return;
    };
    let (panics, wanted) = match wanted.strip_prefix("panic@") {
        Some(rest) => (true, rest.to_string()),
        None => (false, wanted),
    };
    let (name, nth) = match wanted.split_once(':') {
        Some((n, k)) => (n.to_string(), k.parse::<u32>().unwrap_or(1)),
        None => (wanted, 1),
    };
    if name != point {
        return;
    }
    static SEEN: Mutex<u32> = Mutex::new(0);
    let count = {
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        *seen += 1;
        *seen
    };
    if count != nth {
        return;
    }
    if panics {
        panic!("fault injected at {point}");
    }
    // SAFETY: raising SIGKILL on ourselves has no preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}
