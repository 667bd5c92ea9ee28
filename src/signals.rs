//! Ctrl-C, SIGTERM and SIGHUP while children run: the first one cancels
//! (children are killed, state is saved, exit 130); a second one exits at once.

use tokio::signal::unix::{SignalKind, signal};

use crate::events::{Event, Events};
use crate::process::CancelHandle;

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
            if count == 1 {
                events.emit(Event::Interrupted {
                    signal: name.into(),
                });
                handle.cancel();
            } else {
                events.emit(Event::ExitingNow);
                std::process::exit(130);
            }
        }
    });
    Ok(())
}
