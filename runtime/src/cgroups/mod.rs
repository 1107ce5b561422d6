//! linux.cgroupsPath and linux.resources.
//!
//! Contract (called by `container::create`, the lifecycle commands and `exec`):
//! - `Cgroup::new(cgroups_path, id)` resolves where the container lives: an absolute
//!   `cgroupsPath`, a relative one (under the hierarchy root), or `/<id>` when absent.
//!   It detects the host layout (v1, v1 hybrid with a cgroup2 mount at
//!   /sys/fs/cgroup/unified, pure v2) and touches nothing.
//! - `create(resources)` makes the directories (remembering which it made, so `destroy`
//!   removes exactly those) and applies `linux.resources`; errors name the JSON path
//!   (`linux.resources.memory.limit`) and leave nothing behind.
//! - `add_task(pid)` moves a process in (every hierarchy, the hybrid cgroup2 one too).
//! - `update`, `freeze`/`thaw`/`is_frozen`, `pids`, `stats`, `destroy`.
//! - `Cgroup` is serialized into the container's state.json.
//!
//! Extra helpers: `oom_count` (oom kills so far, for `events`), `oom_notifier` (an fd
//! that wakes on an oom kill), `kill_all` (cgroup.kill where a cgroup2 dir exists),
//! `dir_of(controller)`, `mount_sources` (what a cgroup mount in the container shows).
//!
//! Design notes are in docs/cgroups.md. Layout detection is one read of
//! /proc/self/mountinfo; `create` is one mkdir per hierarchy in the common case (parents
//! exist), plus the cpuset copy and the resource writes.
mod devfilter;
mod files;
mod stats;
mod v1;
mod v2;

use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One mount per v1 hierarchy (possibly plus a hybrid cgroup2 mount, see `Hierarchy::v2`).
    #[default]
    V1,
    /// The unified hierarchy only.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// v1: the controllers bound to it (`name=systemd` for named ones). cgroup2: empty
    /// (what it offers is in its cgroup.controllers, read only when needed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    /// A cgroup2 mount (the only one on pure v2; the hybrid one on v1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub v2: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Cgroup {
    /// The container's cgroup path relative to each hierarchy root, e.g. `/rt/abc`.
    pub path: String,
    #[serde(default)]
    pub layout: Layout,
    #[serde(default)]
    pub hierarchies: Vec<Hierarchy>,
    /// The directories `create` made, parents before children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<PathBuf>,
}

const KNOWN_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// Undo mountinfo's octal escapes (\040 for space, ...).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text into the layout and its hierarchies.
pub fn parse_mountinfo(text: &str) -> Result<(Layout, Vec<Hierarchy>)> {
    let mut v1: Vec<Hierarchy> = Vec::new();
    let mut v2: Option<Hierarchy> = None;
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post_fields = post.split(' ');
        let fstype = post_fields.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let Some(mountpoint) = pre.split(' ').nth(4) else {
            continue;
        };
        let mount = PathBuf::from(unescape(mountpoint));
        if fstype == "cgroup2" {
            // Prefer the canonical mount points if there are several.
            let better = match &v2 {
                None => true,
                Some(h) => {
                    h.mount != Path::new("/sys/fs/cgroup")
                        && h.mount != Path::new("/sys/fs/cgroup/unified")
                }
            };
            if better {
                v2 = Some(Hierarchy {
                    mount,
                    controllers: vec![],
                    v2: true,
                });
            }
            continue;
        }
        let superopts = post_fields.nth(1).unwrap_or("");
        let mut controllers: Vec<String> = superopts
            .split(',')
            .filter(|o| KNOWN_V1.contains(o) || o.starts_with("name="))
            .map(str::to_string)
            .collect();
        if controllers.is_empty() {
            continue;
        }
        controllers.sort();
        // A hierarchy mounted twice (bind mounts) counts once.
        if v1.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        v1.push(Hierarchy {
            mount,
            controllers,
            v2: false,
        });
    }
    if !v1.is_empty() {
        v1.extend(v2);
        Ok((Layout::V1, v1))
    } else if let Some(h) = v2 {
        Ok((Layout::V2, vec![h]))
    } else {
        bail!("cgroups: no cgroup hierarchy is mounted (nothing in /proc/self/mountinfo)")
    }
}

/// Lexically clean an absolute cgroup path: no "." or ".." or empty components; ".."
/// cannot climb above the root.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut s = String::with_capacity(p.len() + 1);
    for c in &parts {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

impl Cgroup {
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| {
            anyhow!(
                "cgroups: reading /proc/self/mountinfo: {}",
                files::errno_text(&e)
            )
        })?;
        let (layout, hierarchies) = parse_mountinfo(&text)?;
        Self::with_layout(cgroups_path, id, layout, hierarchies)
    }

    /// `new` with the layout given (tests, or a caller that detected it already).
    pub fn with_layout(
        cgroups_path: Option<&Path>,
        id: &str,
        layout: Layout,
        hierarchies: Vec<Hierarchy>,
    ) -> Result<Cgroup> {
        let raw = match cgroups_path {
            Some(p) => {
                let s = p
                    .to_str()
                    .ok_or_else(|| anyhow!("linux.cgroupsPath: {p:?} is not valid UTF-8"))?;
                if s.is_empty() {
                    format!("/{id}")
                } else if s.starts_with('/') {
                    s.to_string()
                } else {
                    format!("/{s}")
                }
            }
            None => format!("/{id}"),
        };
        let path = clean_path(&raw);
        Ok(Cgroup {
            path,
            layout,
            hierarchies,
            created: vec![],
        })
    }

    /// The container's directory in hierarchy `h`.
    pub fn dir(&self, h: &Hierarchy) -> PathBuf {
        let rel = self.path.trim_start_matches('/');
        if rel.is_empty() {
            h.mount.clone()
        } else {
            h.mount.join(rel)
        }
    }

    /// The container's directory for a v1 controller ("memory", "name=systemd"), or the
    /// unified directory on v2.
    pub fn dir_of(&self, controller: &str) -> Option<PathBuf> {
        if self.layout == Layout::V2 {
            return self.hierarchies.first().map(|h| self.dir(h));
        }
        self.hierarchies
            .iter()
            .find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
            .map(|h| self.dir(h))
    }

    /// The cgroup2 directory (pure v2 or the hybrid one), if any.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        self.hierarchies.iter().find(|h| h.v2).map(|h| self.dir(h))
    }

    /// Make the container's directories (those `create_unified` made already stay
    /// recorded) and apply `resources`. On failure, removes all it recorded.
    pub fn create(&mut self, resources: Option<&LinuxResources>) -> Result<()> {
        let res = self
            .make_dirs(resources)
            .and_then(|()| self.apply(resources, true));
        if let Err(e) = res {
            let _ = self.destroy();
            self.created.clear();
            return Err(e);
        }
        Ok(())
    }

    /// On a hybrid host, make the container's cgroup2 directory alone, ahead of `create`,
    /// so that the init can be cloned into it (`clone_target`); `create` makes the rest.
    pub fn create_unified(&mut self) -> Result<()> {
        let Some(h) = self.hierarchies.iter().find(|h| h.v2).cloned() else {
            return Ok(());
        };
        if let Err(e) = self.mkdir_all(&h) {
            let _ = self.destroy();
            self.created.clear();
            return Err(e);
        }
        Ok(())
    }

    /// Join the calling process to the container's v1 hierarchies, given their `tasks`
    /// files from `join_files`. The caller must be single-threaded: `tasks` moves one
    /// thread.
    pub fn join_self(&self, files: Vec<std::os::fd::OwnedFd>) -> Result<()> {
        let v1 = self.hierarchies.iter().filter(|h| !h.v2);
        for (h, f) in v1.zip(files) {
            nix::unistd::write(&f, b"0")
                .map_err(|e| anyhow!("cgroup: joining {}: {}", self.dir(h).display(), e.desc()))?;
        }
        Ok(())
    }

    fn make_dirs(&mut self, resources: Option<&LinuxResources>) -> Result<()> {
        let wants_hugetlb = wants_hugetlb(resources);
        let hierarchies = self.hierarchies.clone();
        for h in &hierarchies {
            let first_new = self.created.len();
            let how = self.mkdir_all(h)?;
            let is_cpuset = !h.v2 && h.controllers.iter().any(|c| c == "cpuset");
            if is_cpuset {
                match how {
                    Made::Nothing => {}
                    Made::Leaf if v1::copy_cpuset_from_parent(&self.created[first_new..])? => {}
                    // Levels made by someone else may have empty cpus/mems too.
                    Made::Leaf | Made::Existed | Made::Walked => {
                        v1::ensure_cpuset(&h.mount, &self.path, &self.created[first_new..])?
                    }
                }
            }
            if h.v2 {
                if self.layout == Layout::V2 {
                    v2::enable_all_controllers(&h.mount, &self.path);
                } else if wants_hugetlb {
                    self.enable_hybrid_hugetlb()?;
                }
            }
        }
        Ok(())
    }

    fn has_v1(&self, controller: &str) -> bool {
        self.hierarchies
            .iter()
            .any(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
    }

    /// mkdir the container's dir in `h`, parents as needed, recording what was made.
    fn mkdir_all(&mut self, h: &Hierarchy) -> Result<Made> {
        let target = self.dir(h);
        if target == h.mount {
            return Ok(Made::Nothing);
        }
        // Common case: the parent exists, one syscall.
        match std::fs::create_dir(&target) {
            Ok(()) => {
                self.created.push(target);
                return Ok(Made::Leaf);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(Made::Existed),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(mkdir_err(&target, &e)),
        }
        let mut cur = h.mount.clone();
        for comp in self.path.split('/').filter(|c| !c.is_empty()) {
            cur.push(comp);
            match std::fs::create_dir(&cur) {
                Ok(()) => self.created.push(cur.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(mkdir_err(&cur, &e)),
            }
        }
        Ok(Made::Walked)
    }

    fn apply(&self, resources: Option<&LinuxResources>, creating: bool) -> Result<()> {
        match self.layout {
            Layout::V1 => v1::apply(self, resources, creating),
            Layout::V2 => v2::apply(self, resources, creating),
        }
    }

    /// An fd of the container's cgroup2 directory (pure v2, or the hybrid one) for
    /// clone3's CLONE_INTO_CGROUP, so the process is born in it (`add_task_unified` is
    /// then not needed). None without a cgroup2 hierarchy, or if it cannot be opened (not
    /// made yet: on hybrid, see `create_unified`).
    pub fn clone_target(&self) -> Option<std::os::fd::OwnedFd> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.unified_dir()?;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .ok()
            .map(std::os::fd::OwnedFd::from)
    }

    /// Move process `pid` in, in every hierarchy. On v1 this waits for an RCU grace period
    /// whenever no other cgroup.procs write came shortly before (6-14 ms here), see
    /// `join_files`, which the container's own processes use instead.
    pub fn add_task(&self, pid: i32) -> Result<()> {
        self.add_task_to(pid, |_| true)
    }

    /// `add_task` in the cgroup2 hierarchy only (pure v2, or the hybrid one): for a process
    /// that joins its v1 hierarchies itself (`join_self`) but was not born in its cgroup2
    /// directory (`clone_target`).
    pub fn add_task_unified(&self, pid: i32) -> Result<()> {
        self.add_task_to(pid, |h| h.v2)
    }

    /// The `tasks` file of the container's directory in each v1 hierarchy, opened for
    /// writing, for `join_self` in the process that is to join them. Open before the
    /// container's process is cloned (it inherits them), or sent to it. Empty on pure v2.
    ///
    /// Why not cgroup.procs: moving a process there write-locks the global
    /// cgroup_threadgroup_rwsem, whose first writer after a quiet spell waits for an RCU
    /// grace period (6-14 ms per container on this VM, most of a `create`). A
    /// single-threaded process writing "0" (itself) to `tasks` moves just as completely
    /// and takes no such lock. The kernel checks the opener's credentials, so the
    /// process may have changed its own (a user namespace) since.
    pub fn join_files(&self) -> Result<Vec<std::os::fd::OwnedFd>> {
        self.hierarchies
            .iter()
            .filter(|h| !h.v2)
            .map(|h| {
                let path = self.dir(h).join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(std::os::fd::OwnedFd::from)
                    .map_err(|e| {
                        anyhow!(
                            "cgroup: opening {}: {}",
                            path.display(),
                            files::errno_text(&e)
                        )
                    })
            })
            .collect()
    }

    fn add_task_to(&self, pid: i32, which: impl Fn(&Hierarchy) -> bool) -> Result<()> {
        let val = pid.to_string();
        for h in self.hierarchies.iter().filter(|h| which(h)) {
            let dir = self.dir(h);
            files::write_raw(&dir, "cgroup.procs", &val).map_err(|e| {
                anyhow!(
                    "cgroup: adding pid {pid} to {}: {}",
                    dir.join("cgroup.procs").display(),
                    files::errno_text(&e)
                )
            })?;
        }
        Ok(())
    }

    /// On a hybrid host without a v1 hugetlb hierarchy, hugetlb lives on the cgroup2 mount:
    /// enable it in the parents' subtree_control.
    fn enable_hybrid_hugetlb(&self) -> Result<()> {
        if self.has_v1("hugetlb") {
            return Ok(());
        }
        match self.hierarchies.iter().find(|h| h.v2) {
            Some(h) => v2::enable_controllers(
                &h.mount,
                &self.path,
                "+hugetlb",
                "linux.resources.hugepageLimits",
            ),
            None => Ok(()),
        }
    }

    /// Apply new limits to a live container. Zero or absent values leave a setting as it is.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        if self.layout == Layout::V1 && wants_hugetlb(Some(resources)) {
            self.enable_hybrid_hugetlb()?;
        }
        self.apply(Some(resources), false)
    }

    /// Where the freezer lives: (dir, true for a cgroup2 cgroup.freeze).
    fn freezer(&self) -> Option<(PathBuf, bool)> {
        if self.layout == Layout::V1 {
            if let Some(d) = self.dir_of("freezer") {
                return Some((d, false));
            }
        }
        self.unified_dir().map(|d| (d, true))
    }

    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (dir, v2) = self.freezer().ok_or_else(|| {
            anyhow!("cgroup: no freezer (neither a freezer hierarchy nor cgroup2)")
        })?;
        match (v2, frozen) {
            (true, _) => v2::freeze(&dir, frozen),
            (false, true) => v1::freeze(&dir),
            (false, false) => files::write(&dir, "freezer.state", "THAWED", "cgroup: thaw"),
        }
    }

    /// One read: freezer.state (v1) or cgroup.freeze (v2). A missing cgroup is not frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        let Some((dir, v2)) = self.freezer() else {
            return Ok(false);
        };
        let (file, want) = if v2 {
            ("cgroup.freeze", "1")
        } else {
            ("freezer.state", "FROZEN")
        };
        match files::read(&dir, file) {
            Ok(s) => Ok(s.trim() == want),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(anyhow!(
                "cgroup: reading {}: {}",
                dir.join(file).display(),
                files::errno_text(&e)
            )),
        }
    }

    /// The dir whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<PathBuf> {
        if self.layout == Layout::V2 {
            return self.unified_dir();
        }
        self.dir_of("pids")
            .or_else(|| self.dir_of("memory"))
            .or_else(|| self.hierarchies.first().map(|h| self.dir(h)))
    }

    /// Whether `create` made the container's own directory (not a pre-existing, possibly
    /// shared cgroup, nor the root): only then may `delete` kill whatever is left in it.
    pub fn owns_dir(&self) -> bool {
        self.path != "/" && self.procs_dir().is_some_and(|d| self.created.contains(&d))
    }

    /// Every process in the container's cgroup (host pids), sub-cgroups included.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.procs_dir() else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        match collect_pids(&dir, &mut out, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => bail!(
                "cgroup: reading {}: {}",
                dir.display(),
                files::errno_text(&e)
            ),
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// runc's `events --stats` JSON `data` object.
    pub fn stats(&self) -> Result<serde_json::Value> {
        stats::stats(self)
    }

    /// How many processes the OOM killer has killed in the container's memory cgroup
    /// (v1 memory.oom_control `oom_kill`, v2 memory.events `oom_kill`).
    pub fn oom_count(&self) -> Result<u64> {
        let (dir, file) = match self.layout {
            Layout::V1 => (self.dir_of("memory"), "memory.oom_control"),
            Layout::V2 => (self.unified_dir(), "memory.events"),
        };
        let Some(dir) = dir else {
            return Ok(0);
        };
        Ok(files::keyed(&files::read_keyed(&dir, file), "oom_kill"))
    }

    /// A descriptor that becomes readable when something happens to the container's
    /// memory cgroup, for `events` to report OOMs without polling: v1 an eventfd
    /// registered on memory.oom_control through cgroup.event_control (it also fires when
    /// the cgroup goes away), v2 an inotify watch on memory.events. After a wakeup, read
    /// (drain) it and compare `oom_count()`.
    pub fn oom_notifier(&self) -> Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsRawFd;
        let fail = |what: &str, e: std::io::Error| {
            anyhow!(
                "cgroup: oom notification: {what}: {}",
                files::errno_text(&e)
            )
        };
        match self.layout {
            Layout::V1 => {
                let dir = self
                    .dir_of("memory")
                    .ok_or_else(|| anyhow!("cgroup: oom notification: no memory hierarchy"))?;
                let efd = crate::sys::cgroups::eventfd().map_err(|e| fail("eventfd", e))?;
                let oc = std::fs::File::open(dir.join("memory.oom_control"))
                    .map_err(|e| fail("memory.oom_control", e))?;
                let line = format!("{} {}", efd.as_raw_fd(), oc.as_raw_fd());
                files::write(
                    &dir,
                    "cgroup.event_control",
                    &line,
                    "cgroup: oom notification",
                )?;
                Ok(efd)
            }
            Layout::V2 => {
                let dir = self
                    .unified_dir()
                    .ok_or_else(|| anyhow!("cgroup: oom notification: no cgroup2 hierarchy"))?;
                crate::sys::cgroups::inotify_modify(&dir.join("memory.events"))
                    .map_err(|e| fail("inotify on memory.events", e))
            }
        }
    }

    /// SIGKILL everything in the cgroup at once through cgroup.kill (cgroup2, also the
    /// hybrid mount: every task joined it). Ok(false) where the kernel lacks it.
    pub fn kill_all(&self) -> Result<bool> {
        let Some(dir) = self.unified_dir() else {
            return Ok(false);
        };
        match files::write_raw(&dir, "cgroup.kill", "1") {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(files::werr(&dir, "cgroup.kill", "1", "cgroup: kill", &e)),
        }
    }

    /// Remove the directories `create` made (the caller has killed every process).
    /// Deepest first; a busy directory (tasks still leaving) is retried for a while.
    pub fn destroy(&self) -> Result<()> {
        let mut first_err: Option<anyhow::Error> = None;
        for dir in self.created.iter().rev() {
            let is_leaf = self.hierarchies.iter().any(|h| &self.dir(h) == dir);
            let res = if is_leaf {
                remove_dir_retry(dir)
            } else {
                // A parent we made may meanwhile hold another container's cgroup: then
                // it is theirs to remove, and not an error.
                match std::fs::remove_dir(dir) {
                    Err(e)
                        if e.kind() != ErrorKind::NotFound
                            && e.raw_os_error() != Some(libc::EBUSY)
                            && e.raw_os_error() != Some(libc::ENOTEMPTY) =>
                    {
                        Err(anyhow!(
                            "cgroup: removing {}: {}",
                            dir.display(),
                            files::errno_text(&e)
                        ))
                    }
                    _ => Ok(()),
                }
            };
            if let Err(e) = res {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// For a `cgroup` mount inside the container: (host directory, name under the mount)
    /// per hierarchy, e.g. ("/sys/fs/cgroup/memory/rt/abc", "memory"); v2: one entry, "".
    /// On v1 the hybrid cgroup2 mount is left out, as runc does.
    pub fn mount_sources(&self) -> Vec<(std::path::PathBuf, String)> {
        match self.layout {
            Layout::V2 => self
                .hierarchies
                .first()
                .map(|h| vec![(self.dir(h), String::new())])
                .unwrap_or_default(),
            Layout::V1 => self
                .hierarchies
                .iter()
                .filter(|h| !h.v2)
                .map(|h| {
                    let name = h
                        .mount
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| h.controllers.join(","));
                    (self.dir(h), name)
                })
                .collect(),
        }
    }
}

/// What `mkdir_all` did in one hierarchy.
enum Made {
    /// The container's dir is the hierarchy root.
    Nothing,
    /// Only the leaf was made (its parent existed).
    Leaf,
    /// The leaf existed already.
    Existed,
    /// Parents were missing: levels made one by one.
    Walked,
}

fn mkdir_err(dir: &Path, e: &std::io::Error) -> anyhow::Error {
    anyhow!(
        "linux.cgroupsPath: creating {}: {}",
        dir.display(),
        files::errno_text(e)
    )
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>, depth: usize) -> std::io::Result<()> {
    let procs = files::read(dir, "cgroup.procs")?;
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    if depth > 64 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            match collect_pids(&entry.path(), out, depth + 1) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// rmdir, retrying while busy; sub-cgroups the container made are removed first.
fn remove_dir_retry(dir: &Path) -> Result<()> {
    let mut delay = std::time::Duration::from_millis(5);
    let mut last: Option<std::io::Error> = None;
    for attempt in 0..20 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                let errno = e.raw_os_error();
                if errno != Some(libc::EBUSY) && errno != Some(libc::ENOTEMPTY) {
                    return Err(anyhow!(
                        "cgroup: removing {}: {}",
                        dir.display(),
                        files::errno_text(&e)
                    ));
                }
                if attempt == 0 {
                    remove_children(dir);
                }
                last = Some(e);
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(std::time::Duration::from_millis(100));
    }
    let e = last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EBUSY));
    Err(anyhow!(
        "cgroup: removing {}: {}",
        dir.display(),
        files::errno_text(&e)
    ))
}

/// Remove the sub-cgroups under `dir` (deepest first), ignoring errors.
fn remove_children(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let p = entry.path();
            remove_children(&p);
            let _ = std::fs::remove_dir(&p);
        }
    }
}

#[cfg(test)]
mod tests;

fn wants_hugetlb(resources: Option<&LinuxResources>) -> bool {
    resources
        .and_then(|r| r.hugepage_limits().as_ref())
        .is_some_and(|l| !l.is_empty())
}
