//! `cosmosq serve`: run the daemon.

use super::CliError;
use crate::config::Config;
use crate::startup::Application;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides the config and COSMOSQ_BIND).
    #[arg(long)]
    bind: Option<String>,
    /// Data directory (overrides the config and COSMOSQ_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "COSMOSQ_CONFIG")]
    config: Option<PathBuf>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COSMOSQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn run(args: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let env = std::env::vars().filter(|(k, _)| k != "COSMOSQ_CONFIG");
    let mut config = Config::load(args.config.as_deref(), env).map_err(CliError::bad_input)?;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    config.validate().map_err(CliError::bad_input)?;
    // Batch files name paths under the data dir; a program started in another `workdir`
    // must still find them.
    config.absolutize().map_err(CliError::bad_input)?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config)
            .await
            .map_err(CliError::unavailable)?;
        app.run_until_stopped().await.map_err(CliError::unavailable)
    })
}
