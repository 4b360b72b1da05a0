//! The `imagine-agent` binary: parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() {
    imagine_agent::store::private::private_umask();
    let cli = imagine_agent::cli::Cli::parse();
    if let Err(e) = imagine_agent::cli::main(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
