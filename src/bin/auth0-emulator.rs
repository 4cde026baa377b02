//! `auth0-emulator`: serves the Auth0 Management API subset of docs/AUTH0_API.md §11 locally.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sso_operator::emulator::{self, EmulatorArgs};

/// A local Auth0 Management API emulator (connections, organizations, SCIM, applications with
/// the SAML2 Web App addon, signing keys and their SAML IdP metadata) for tests, demos and
/// benchmarks.
#[derive(Parser, Debug)]
#[command(name = "auth0-emulator", version, about)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("auth0-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let running = match emulator::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("auth0-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Tests read this line to learn the port.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "auth0-emulator listening on {}", running.base_url());
    let _ = stdout.flush();
    wait_for_signal().await;
    running.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
