//! OOM watching: a thread per container that reports each OOM kill in its memory cgroup.
//! cgroup v1: an eventfd registered for `memory.oom_control` through `cgroup.event_control`.
//! cgroup v2: `memory.events`' `oom_kill` counter, polled (inotify would need another crate).
//! Either way the `oom_kill` counter decides, and the init's exit takes a last look.

use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// A container's OOM watch: the cgroup's OOM-kill count reported so far, so that the
/// watcher thread and the last look at exit (`check`) report each kill once.
#[derive(Clone)]
pub struct Watch {
    dir: PathBuf,
    v2: bool,
    seen: Arc<Mutex<u64>>,
    on_oom: Arc<dyn Fn() + Send + Sync>,
}

impl Watch {
    /// Reports OOM kills not reported yet. Called by the watcher, and once more when the
    /// init exits, before its TaskExit: a kill just before a fast exit (and the cgroup's
    /// removal by delete) must not be missed by a poll or a late eventfd wake-up.
    pub fn check(&self) {
        let Some(n) = oom_kills(&self.dir, self.v2) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if n > *seen {
            *seen = n;
            (self.on_oom)();
        }
    }
}

/// Starts watching the init's memory cgroup; `on_oom` runs for each OOM kill seen (several
/// kills between two looks count once). The thread ends when the cgroup is removed.
pub fn watch(pid: u32, on_oom: impl Fn() + Send + Sync + 'static) -> Option<Watch> {
    let (dir, v2) = memory_cgroup(pid)?;
    let w = Watch {
        seen: Arc::new(Mutex::new(oom_kills(&dir, v2).unwrap_or(0))),
        dir,
        v2,
        on_oom: Arc::new(on_oom),
    };
    if v2 {
        let t = w.clone();
        std::thread::spawn(move || {
            while t.dir.join("memory.events").exists() {
                t.check();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        return Some(w);
    }
    // SAFETY: eventfd(2) with valid flags; the result is checked before use.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        log::warn!("oom: eventfd: {}", std::io::Error::last_os_error());
        return Some(w);
    }
    // SAFETY: efd is a fresh descriptor owned by nothing else.
    let mut ev = unsafe { fs::File::from_raw_fd(efd) };
    let ctl = match fs::File::open(w.dir.join("memory.oom_control")) {
        Ok(f) => f,
        Err(e) => {
            log::warn!("oom: {}: {e}", w.dir.display());
            return Some(w);
        }
    };
    let line = format!("{} {}", ev.as_raw_fd(), ctl.as_raw_fd());
    if let Err(e) = fs::write(w.dir.join("cgroup.event_control"), line) {
        log::warn!("oom: {}: {e}", w.dir.display());
        return Some(w);
    }
    let t = w.clone();
    std::thread::spawn(move || {
        let _ctl = ctl;
        let mut buf = [0u8; 8];
        loop {
            if ev.read_exact(&mut buf).is_err() {
                return;
            }
            // The eventfd also fires when the cgroup is removed.
            if !t.dir.exists() {
                return;
            }
            t.check();
        }
    });
    Some(w)
}

/// The cgroup's OOM-kill count: `oom_kill` in memory.events (v2) or memory.oom_control (v1,
/// Linux 4.13+).
fn oom_kills(dir: &Path, v2: bool) -> Option<u64> {
    let file = if v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    let text = fs::read_to_string(dir.join(file)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}
