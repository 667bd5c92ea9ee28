//! Test-only fault injection, so the crash suite can stop the loop at every
//! point that matters. `OPTIMIZE_FAULT=<point>` SIGKILLs the process (exactly
//! as `kill -9` would) the first time the loop reaches the point,
//! `<point>:<n>` the n-th time; `panic@<point>[:<n>]` panics there instead,
//! as a bug would; `stall@<point>[:<n>]` sleeps there for a minute, as a
//! slow step would.

use std::sync::Mutex;

pub fn fault(point: &str) {
    let Ok(wanted) = std::env::var("OPTIMIZE_FAULT") else {
        return;
    };
    enum Kind {
        Kill,
        Panic,
        Stall,
    }
    let (kind, wanted) = if let Some(rest) = wanted.strip_prefix("panic@") {
        (Kind::Panic, rest.to_string())
    } else if let Some(rest) = wanted.strip_prefix("stall@") {
        (Kind::Stall, rest.to_string())
    } else {
        (Kind::Kill, wanted)
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
    match kind {
        Kind::Panic => panic!("fault injected at {point}"),
        Kind::Stall => std::thread::sleep(std::time::Duration::from_secs(60)),
        // SAFETY: raising SIGKILL on ourselves has no preconditions.
        Kind::Kill => unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        },
    }
}
