//! OOM watching: a thread per container that reports each OOM kill in its memory cgroup.
//! cgroup v1: an eventfd registered for `memory.oom_control` through `cgroup.event_control`.
//! cgroup v2: `memory.events`' `oom_kill` counter, polled (inotify would need another crate).

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The init's memory cgroup directory and whether it is v2.
pub fn memory_cgroup(pid: u32) -> Option<(PathBuf, bool)> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "memory") {
            return Some((Path::new("/sys/fs/cgroup/memory").join(rel), false));
        }
        if ctrls.is_empty() {
            v2 = Some(rel.to_owned());
        }
    }
    let rel = v2?;
    let dir = Path::new("/sys/fs/cgroup").join(rel);
    dir.join("memory.events").exists().then_some((dir, true))
}

/// Starts watching the init's memory cgroup; `on_oom` runs for each OOM kill. The thread ends
/// when the cgroup is removed.
pub fn watch(pid: u32, on_oom: impl Fn() + Send + 'static) {
    let Some((dir, v2)) = memory_cgroup(pid) else {
        return;
    };
    if v2 {
        std::thread::spawn(move || {
            let mut seen = oom_kills(&dir).unwrap_or(0);
            while let Some(n) = oom_kills(&dir) {
                if n > seen {
                    seen = n;
                    on_oom();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        return;
    }
    // SAFETY: eventfd(2) with valid flags; the result is checked before use.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        log::warn!("oom: eventfd: {}", std::io::Error::last_os_error());
        return;
    }
    // SAFETY: efd is a fresh descriptor owned by nothing else.
    let mut ev = unsafe { fs::File::from_raw_fd(efd) };
    let ctl = match fs::File::open(dir.join("memory.oom_control")) {
        Ok(f) => f,
        Err(e) => {
            log::warn!("oom: {}: {e}", dir.display());
            return;
        }
    };
    let line = format!("{} {}", ev.as_raw_fd(), ctl.as_raw_fd());
    if let Err(e) = fs::write(dir.join("cgroup.event_control"), line) {
        log::warn!("oom: {}: {e}", dir.display());
        return;
    }
    std::thread::spawn(move || {
        let _ctl = ctl;
        let mut buf = [0u8; 8];
        loop {
            if ev.read_exact(&mut buf).is_err() {
                return;
            }
            // The eventfd also fires when the cgroup is removed.
            if !dir.exists() {
                return;
            }
            on_oom();
        }
    });
}

fn oom_kills(dir: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join("memory.events")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}
