//! geode beside tokio (current-thread), smol (async-io + `LocalExecutor`) and a hand-written
//! edge-triggered epoll loop: the side-by-side benchmark suite of issue 6.
//!
//! One binary, several roles:
//! - `suite [--quick] [--pin split|same|none] [--rounds N] [--only row,row] [--out FILE]`:
//!   the orchestrator (default). Rows: pingpong, echo, syscalls, instructions, http, timers,
//!   tasks, blocking, scaling, memory, process, executors.
//! - `suite server <geode|tokio|smol|epoll> <echo|http> <addr>`: a server under test (also
//!   `geode-local` and `geode-fallback`, echo only: geode's sockets under async-executor's
//!   `LocalExecutor`, driven by `park` or by nothing).
//! - `suite client <pingpong|echo> <addr> [...]`: the load client, the same for every server.
//! - `suite micro <geode|tokio|smol> <bench>`: one in-process benchmark.
//!
//! Run everything with `bash benches/run.sh [--quick]`, which installs the tools (wrk, strace,
//! valgrind) and builds geode's `http_hello` example first. Results: docs/BENCHMARKS.md.
//! Loopback only; every loop is bounded in count and time; nothing asserts on timing.

#[path = "suite/client.rs"]
mod client;
#[path = "suite/common.rs"]
mod common;
#[path = "suite/epoll_floor.rs"]
mod epoll_floor;
#[path = "suite/http.rs"]
mod http;
#[path = "../examples/local_executor.rs"]
mod local_executor;
#[path = "suite/micro.rs"]
mod micro;
#[path = "suite/orchestrator.rs"]
mod orchestrator;
#[path = "suite/proc_sig.rs"]
mod proc_sig;
#[path = "suite/servers.rs"]
mod servers;

fn main() {
    // `cargo bench` appends `--bench`; it means nothing here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let res = match args.first().map(String::as_str) {
        Some("server") => servers::main(&args[1..]),
        Some("client") => client::main(&args[1..]),
        Some("micro") => micro::main(&args[1..]),
        Some("suite") => orchestrator::main(&args[1..]),
        _ => orchestrator::main(&args),
    };
    if let Err(e) = res {
        eprintln!("suite: {e}");
        std::process::exit(1);
    }
}
