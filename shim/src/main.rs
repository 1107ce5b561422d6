//! containerd-shim-rt-v2: containerd's runtime v2 shim for rt (`io.containerd.rt.v2`).
//!
//! The containerd-shim crate (synchronous flavour: threads, no async runtime) does the
//! plumbing: the `start` and `delete` actions, the ttrpc socket and address file, the child
//! reaper, the event publisher and logging to containerd's log fifo. This crate has the task
//! service (`service.rs`), process states, stdio (`io.rs`), OOM watching (`oom.rs`), stats
//! (`stats.rs`) and the `rt` invocations (`rt.rs`).

mod io;
mod logger;
mod oom;
mod rt;
mod service;
mod stats;

fn main() {
    let config = containerd_shim::Config {
        no_setup_logger: true,
        ..Default::default()
    };
    containerd_shim::run::<service::Shim>("io.containerd.rt.v2", Some(config))
}
