//! Container creation, the in-container init, start, and exec.
//!
//! Process model: `rt create` clones the init straight into its new namespaces (no
//! re-exec of rt, no copy of the binary). rt and the init then talk over a socketpair
//! (`channel`): rt writes id maps and joins the cgroup, runs the runtime-namespace hooks
//! when the init asks, and returns once the init reports Ready. The init then blocks
//! opening the exec fifo for writing until `rt start` opens it for reading.
pub mod channel;
pub mod create;
pub mod exec;
pub mod init;
pub mod lifecycle;
pub mod start;
