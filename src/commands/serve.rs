//! `optimize serve`: the live dashboard over every run of the repository.
//! Read-only (approvals aside), lock-free, and offline: the page, its
//! script and its styles are in the binary.

mod live;
mod page;
mod routes;
mod views;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::ServeArgs;
use crate::commands::{display_path, repo_at, runtime};
use crate::error::CliError;

pub(super) use page::static_report;

/// What every request handler shares.
struct Dashboard {
    root: PathBuf,
    /// Required in every request unless bound to loopback, and in every
    /// POST always.
    token: String,
    loopback: bool,
    addr: SocketAddr,
}

pub fn run(repo_arg: Option<&Path>, args: &ServeArgs) -> Result<(), CliError> {
    let repo = repo_at(repo_arg)?;
    let token = new_token()?;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.bind, args.port))
            .await
            .map_err(|e| {
                CliError::failure(format!("cannot listen on {}:{}", args.bind, args.port))
                    .caused_by(e)
                    .hint("another port: optimize serve --port N (0 picks a free one)")
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::failure("cannot read the address listened on").caused_by(e))?;
        let dashboard = Arc::new(Dashboard {
            root: repo.root.clone(),
            token,
            loopback: args.bind.is_loopback(),
            addr,
        });
        let url = dashboard.url();
        crate::outln!("dashboard of {}: {url}", display_path(&repo.root));
        if dashboard.loopback {
            crate::outln!("only this machine can reach it; Ctrl-C stops it");
        } else {
            crate::outln!(
                "reachable from other machines with the token in the URL; Ctrl-C stops it"
            );
        }
        if args.open {
            open_in_browser(&url);
        }
        axum::serve(listener, routes::router(dashboard))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CliError::failure("the dashboard stopped").caused_by(e))
    })
}

impl Dashboard {
    fn url(&self) -> String {
        if self.loopback {
            format!("http://{}/", self.addr)
        } else {
            format!("http://{}/?token={}", self.addr, self.token)
        }
    }
}

/// 128 random bits, hex: enough that nobody guesses it, printed once.
fn new_token() -> Result<String, CliError> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| CliError::failure("cannot read /dev/urandom for the token").caused_by(e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn open_in_browser(url: &str) {
    let spawned = std::process::Command::new("xdg-open")
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("note: cannot start xdg-open; open {url} yourself");
    }
}
