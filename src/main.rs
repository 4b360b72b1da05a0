//! The `imagine-agent` binary: parses the command line and runs it.

use clap::Parser;

/// jemalloc rather than the system allocator: glibc's per-thread arenas kept
/// freed memory, so a daemon of 10,000 agents held twice its heap
/// (benches/agents.sh).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    imagine_agent::store::private::private_umask();
    let cli = imagine_agent::cli::Cli::parse();
    if let Err(e) = imagine_agent::cli::main(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
