//! Ctrl-C, SIGTERM and SIGHUP while children run: the first one cancels
//! (children are killed, state is saved, exit 130); a second one exits at once.

use tokio::signal::unix::{SignalKind, signal};

use crate::process::CancelHandle;

/// Listens for signals until the process ends; must run inside a runtime.
pub fn install(handle: CancelHandle) -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            count += 1;
            if count == 1 {
                eprintln!(
                    "\noptimize: interrupted; stopping the running commands (interrupt again to exit at once)"
                );
                handle.cancel();
            } else {
                eprintln!("optimize: exiting at once");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}
