//! process.terminal and --console-socket: a pty whose master goes to the caller.
//!
//! Contract:
//! - `connect(path)` connects to the caller's AF_UNIX socket. Called in init *before*
//!   pivot_root (the path is a host path).
//! - `setup(socket)` called in init after pivot_root: opens a pty through the container's
//!   /dev/ptmx, sends the master over `socket` with SCM_RIGHTS (runc's protocol: one
//!   message, the fd, and the name of the pty), bind-mounts the slave onto /dev/console
//!   when `mount_console`, then makes the slave the controlling terminal and fds 0, 1, 2.
//! - `receive(listener)` for `rt run` in the foreground: accept one connection and
//!   return the master fd it carries.
use crate::Result;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn connect(path: &Path) -> Result<UnixStream> {
    Ok(UnixStream::connect(path)?)
}

pub fn setup(_socket: UnixStream, _mount_console: bool) -> Result<()> {
    anyhow::bail!("process.terminal: not implemented yet")
}

pub fn receive(_socket: &UnixStream) -> Result<OwnedFd> {
    anyhow::bail!("console: not implemented yet")
}
