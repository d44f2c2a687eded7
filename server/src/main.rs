//! The `cosmosq` binary: the daemon (`cosmosq serve`) and its command-line client.

fn main() -> std::process::ExitCode {
    cosmosq::cli::run()
}
