//! The `imagine-agent` binary: parses the command line and runs it.

use clap::Parser;

/// jemalloc rather than the system allocator: glibc's per-thread arenas kept
/// freed memory, so a daemon of 10,000 agents held twice its heap
/// (benches/agents.sh).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    imagine_agent::private::private_umask();
    let start = imagine_agent::cli::Start::new(imagine_agent::cli::Cli::parse());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = start.threads() {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(imagine_agent::cli::main(start)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
