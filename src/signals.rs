//! Ctrl-C, SIGTERM and SIGHUP. While the loop runs, the first one cancels
//! (children are killed, state is saved, exit 130) and a second one exits at
//! once, every running command's process group SIGKILLed first. Once the
//! loop has ended (the wrap-up, the report, the approval prompt), everything
//! is already on disk, so the first one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{SignalKind, signal};

use crate::events::{Event, Events};
use crate::process::CancelHandle;

static LOOP_ENDED: AtomicBool = AtomicBool::new(false);

/// From now on a signal exits at once (exit 130): nothing is left to save.
pub fn loop_ended() {
    LOOP_ENDED.store(true, Ordering::SeqCst);
}

/// Listens for signals until the process ends; must run inside a runtime.
pub fn install(handle: CancelHandle, events: Events) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
                _ = hangup.recv() => "SIGHUP",
            };
            count += 1;
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

fn exit_now(events: &Events) -> ! {
    crate::process::kill_every_group();
    events.emit(Event::ExitingNow);
    std::process::exit(130);
}
