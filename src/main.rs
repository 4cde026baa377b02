use std::process::ExitCode;

use clap::Parser;
use sso_operator::cli::{Cli, Command, LogFormat, MetadataCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, matches!(cli.command, Command::Run(_)));
    match cli.command {
        Command::Crd => {
            let mut docs = Vec::new();
            for crd in sso_operator::crd::all_crds() {
                match serde_yaml::to_string(&crd) {
                    Ok(yaml) => docs.push(yaml),
                    Err(e) => {
                        eprintln!("sso-operator: cannot render the CRDs: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            print!("{}", docs.join("---\n"));
            ExitCode::SUCCESS
        }
        Command::Metadata(MetadataCommand::Inspect(args)) => sso_operator::inspect::run(&args),
        Command::Decrypt(args) => sso_operator::encrypt::run_decrypt(&args),
        Command::Plan(args) => block_on(sso_operator::offline::run(&args, false)),
        Command::Apply(args) => block_on(sso_operator::offline::run(&args, true)),
        Command::Run(args) => match block_on(sso_operator::controller::run(*args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "sso-operator stopped");
                eprintln!("sso-operator: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(future)
}

/// Logs go to stderr; `run` logs at info by default, the one-shot commands only warnings.
fn init_tracing(format: LogFormat, long_running: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if long_running { "info" } else { "warn" };
    let filter = EnvFilter::try_from_env("SSO_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
