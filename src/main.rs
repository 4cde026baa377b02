use clap::Parser;
use kube::CustomResourceExt;
use sso_operator::cli::{Cli, Command, MetadataCommand};
use sso_operator::crd::SsoConnection;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", serde_yaml::to_string(&SsoConnection::crd()).expect("CRD serialises"));
            std::process::ExitCode::SUCCESS
        }
        Command::Metadata(MetadataCommand::Inspect(_args)) => todo!("metadata inspect"),
        Command::Plan(_) | Command::Apply(_) => todo!("offline"),
        Command::Decrypt(_) => todo!("decrypt"),
        Command::Run(_) => todo!("run"),
    }
}
