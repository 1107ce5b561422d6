//! containerd-shim-rt-v2: containerd's runtime v2 shim for rt (`io.containerd.rt.v2`).
//!
//! The containerd-shim crate (synchronous flavour: threads, no async runtime) does the
//! plumbing: arguments, the `delete` action, the ttrpc server, the address file and the
//! exit monitor. This crate has the `start` action that forks the serving daemon and its
//! reaper (`daemon.rs`), the task service (`service.rs`), process states, stdio (`io.rs`),
//! OOM watching (`oom.rs`), stats (`stats.rs`), the `rt` invocations (`rt.rs`), the event
//! publisher (`publish.rs`) and the log (`logger.rs`).

mod daemon;
mod io;
mod logger;
mod oom;
mod publish;
mod rt;
mod service;
mod stats;

fn main() {
    // One malloc arena: a shim is mostly idle threads, and glibc's per-thread arenas
    // (each with its own heap) cost more resident memory than the contention they avoid.
    // SAFETY: mallopt before any thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let config = containerd_shim::Config {
        no_setup_logger: true,
        ..Default::default()
    };
    containerd_shim::run::<service::Shim>("io.containerd.rt.v2", Some(config))
}
