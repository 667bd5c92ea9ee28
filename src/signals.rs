//! Ctrl-C, SIGTERM and SIGHUP. While the loop runs, the first one cancels
//! (children are killed, state is saved, exit 130) and a second one exits at
//! once, every running command's process group SIGKILLed first. Once the
//! loop has ended (the wrap-up, the report, the approval prompt), everything
//! is already on disk, so the first one exits at once. `optimize stop` from
//! another terminal counts as one (`--now` as two).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{SignalKind, signal};

use crate::events::{Event, Events};
use crate::process::CancelHandle;

static LOOP_ENDED: AtomicBool = AtomicBool::new(false);

/// From now on a signal exits at once (exit 130): nothing is left to save.
pub fn loop_ended() {
    LOOP_ENDED.store(true, Ordering::SeqCst);
}

/// Listens for signals until the process ends, and for `optimize stop`
/// requests in `stop_requests` (a state dir) as if they were one: the
/// first is a Ctrl-C, `--now` a second one. Must run inside a runtime.
pub fn install(
    handle: CancelHandle,
    events: Events,
    stop_requests: Option<PathBuf>,
) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            let (name, now) = tokio::select! {
                _ = interrupt.recv() => ("SIGINT", false),
                _ = terminate.recv() => ("SIGTERM", false),
                _ = hangup.recv() => ("SIGHUP", false),
                now = stop_request(stop_requests.as_deref()) => ("optimize stop", now),
            };
            count += if now { 2 } else { 1 };
            if count == 1 && !LOOP_ENDED.load(Ordering::SeqCst) {
                crate::process::note_interrupted();
                events.emit(Event::Interrupted {
                    signal: name.into(),
                });
                handle.cancel();
            } else {
                exit_now(&events);
            }
        }
    });
    Ok(())
}

/// The next `optimize stop` left in the state dir's inbox (polled), and
/// whether it says `--now`; never, without a state dir.
async fn stop_request(state_dir: Option<&Path>) -> bool {
    let Some(dir) = state_dir else {
        return std::future::pending().await;
    };
    loop {
        if let Some(now) = crate::steering::take_stop(dir) {
            return now;
        }
        tokio::time::sleep(STOP_POLL).await;
    }
}

const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(250);

fn exit_now(events: &Events) -> ! {
    crate::process::kill_every_group();
    events.emit(Event::ExitingNow);
    std::process::exit(130);
}
