//! rt: an OCI container runtime.
//!
//! Where a config.json field is applied, by module:
//! - `spec`: loading config.json, validation (errors carry the JSON path)
//! - `state`: the state store under `--root` (state.json, exec fifo)
//! - `container`: the creation pipeline (`create`), the in-container init (`init`),
//!   `start`, `exec`, kill/delete/pause (`lifecycle`) and the typed messages between
//!   rt and the init (`channel`)
//! - `namespaces`: linux.namespaces, uid/gid mappings, time offsets
//! - `rootfs`: root, mounts, rootfsPropagation, linux.devices, maskedPaths,
//!   readonlyPaths, pivot_root
//! - `process`: process.user, env, cwd, rlimits, oomScoreAdj, ioPriority,
//!   scheduler, personality, noNewPrivileges, apparmor, selinux, umask
//! - `capabilities`: process.capabilities
//! - `seccomp`: linux.seccomp
//! - `cgroups`: linux.cgroupsPath, linux.resources (v1, hybrid, v2)
//! - `hooks`: hooks.*
//! - `console`: process.terminal, --console-socket
//! - `sys`: every raw syscall wrapper lives here
pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod console;
pub mod container;
pub mod exe;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;

pub use anyhow::{Error, Result};
