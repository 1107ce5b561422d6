//! The `start` action without a second exec.
//!
//! containerd runs `containerd-shim-rt-v2 ... start` and waits for it to print the shim's
//! socket address and exit. The containerd-shim crate's `spawn` execs the shim binary again
//! as the serving daemon and waits until that daemon has bound its socket: an exec, the
//! daemon's whole startup and a pipe round trip on the path of every `ctr run` (about 2.5 ms
//! here). As containerd's own Go shims do, this binds the socket in the `start` process
//! itself and forks: a bound, listening socket queues containerd's connection until the
//! child serves it, so the parent prints the address and exits at once.
//!
//! The fork is taken only while the `start` process has one thread (it has: the crate's
//! bootstrap starts none before `start_shim`); otherwise the crate's `spawn` is used.

use containerd_shim::monitor::monitor_notify_by_pid;
use containerd_shim::protos::shim::shim_ttrpc::create_task;
use containerd_shim::protos::ttrpc::Server;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

/// Where the `start` action stands once it has tried the socket.
pub enum Listen {
    /// A shim already serves this address (a pod's shim): nothing to start.
    Served,
    /// The socket is bound here: fork the daemon onto it.
    Bound(UnixListener),
}

/// Binds the shim socket at `address` (`unix://PATH`), removing a stale one (a socket file
/// nothing answers on, left by a killed shim).
pub fn listen(address: &str) -> Result<Listen, String> {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    match UnixListener::bind(path) {
        Ok(l) => Ok(Listen::Bound(l)),
        Err(e) if e.kind() == ErrorKind::AddrInUse => {
            // A few tries: another `start` for the pod may be between its bind and listen.
            for i in 0..3 {
                if UnixStream::connect(path).is_ok() {
                    return Ok(Listen::Served);
                }
                if i < 2 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            let _ = std::fs::remove_file(path);
            UnixListener::bind(path)
                .map(Listen::Bound)
                .map_err(|e| format!("bind {path}: {e}"))
        }
        Err(e) => Err(format!("bind {path}: {e}")),
    }
}

/// Whether this process has a single thread, so that a fork without exec is sound.
pub fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1)
}

/// Forks the daemon. In the parent: `Ok(true)`. In the child: `Ok(false)`, with stdio on
/// /dev/null (containerd reads the `start` action's output until every holder of its pipe
/// has closed it), and as a child subreaper (not inherited across fork).
pub fn fork_daemon() -> Result<bool, String> {
    // SAFETY: the caller checked that this process has one thread; the child only goes on
    // to set itself up as a fresh process would.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => Ok(true),
        Ok(ForkResult::Child) => {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null");
            for fd in 0..3 {
                match &null {
                    // SAFETY: dup2 onto the standard descriptors of this (child) process.
                    Ok(null) => unsafe { libc::dup2(null.as_raw_fd(), fd) },
                    // Without /dev/null, closing them still lets containerd see EOF.
                    // SAFETY: closes one of this process's standard descriptors.
                    Err(_) => unsafe { libc::close(fd) },
                };
            }
            // SAFETY: prctl with integer arguments only.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            Ok(false)
        }
        Err(e) => Err(format!("fork the shim daemon: {e}")),
    }
}

/// The reaper the crate's serving path would run: every exited child's status goes to the
/// crate's monitor (`wait_pid` subscribers), `128 + signal` for a killed one.
pub fn start_reaper() -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([libc::SIGCHLD])
        .map_err(|e| format!("SIGCHLD handler: {e}"))?;
    std::thread::spawn(move || {
        reap();
        for _ in signals.forever() {
            reap();
        }
    });
    Ok(())
}

fn reap() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                let _ = monitor_notify_by_pid(pid.as_raw(), code);
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                let _ = monitor_notify_by_pid(pid.as_raw(), 128 + sig as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                log::warn!("reaper: waitpid: {e}");
                return;
            }
        }
    }
}

/// Serves the task service on `listener` until `wait` returns.
pub fn serve(
    listener: UnixListener,
    task: Arc<dyn containerd_shim::Task + Send + Sync>,
    wait: impl FnOnce(),
) -> Result<(), String> {
    let mut server = Server::new()
        .add_listener(listener.into_raw_fd())
        .map_err(|e| format!("ttrpc listener: {e}"))?
        .register_service(create_task(task));
    server.start().map_err(|e| format!("ttrpc server: {e}"))?;
    wait();
    server.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rt-shim-daemon-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn listen_binds_then_finds_the_serving_shim() {
        let d = sock_dir("served");
        let addr = format!("unix://{}/s/sock", d.display());
        let first = listen(&addr);
        assert!(matches!(first, Ok(Listen::Bound(_))));
        // A second `start` for the same address (a pod's next container): served already.
        assert!(matches!(listen(&addr), Ok(Listen::Served)));
        drop(first);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn listen_replaces_a_stale_socket() {
        let d = sock_dir("stale");
        let addr = format!("unix://{}/sock", d.display());
        // A killed shim leaves its socket file with nothing listening.
        drop(listen(&addr));
        assert!(d.join("sock").exists());
        let again = listen(&addr);
        assert!(matches!(again, Ok(Listen::Bound(_))));
        assert!(UnixStream::connect(d.join("sock")).is_ok());
        drop(again);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn listen_names_the_path_it_cannot_bind() {
        let e = listen("unix:///proc/rt-shim-test/sock").err();
        assert!(e.is_some_and(|e| e.contains("/proc/rt-shim-test")));
    }
}
