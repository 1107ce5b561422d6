//! linux.namespaces: which are new and which are joined by path, uid/gid mappings and
//! time offsets.
//!
//! The fast path is one clone(2) from rt straight into every new namespace (the new user
//! namespace, if any, owns the others). Joined namespaces are opened by rt before the
//! clone: pid is entered by rt itself just around the clone (it only affects children);
//! the others are entered by the init right after it starts.
use crate::Result;
use anyhow::{anyhow, bail, Context};
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

pub struct Plan {
    /// Flags for the clone that makes the init (CLONE_NEW* for new namespaces).
    pub clone_flags: CloneFlags,
    /// The init unshares its cgroup namespace once it sits in its cgroup.
    pub new_cgroup: bool,
    /// The init unshares its time namespace (it is entered at execve).
    pub new_time: bool,
    pub new_user: bool,
    pub new_uts: bool,
    pub new_net: bool,
    pub new_ipc: bool,
    /// Namespaces joined by path, opened by rt: the pid one rt enters around the clone.
    pub join_pid: Option<File>,
    /// A user namespace joined by path (entered by the intermediate process).
    pub join_user: Option<File>,
    /// The rest, entered by the init (mount last of all, so the others' paths resolve).
    pub join: Vec<(LinuxNamespaceType, File)>,
}

impl Plan {
    /// Whether the init will be in rt's own pid namespace (none new, none joined, or
    /// ours joined by path): then the container can see rt's processes.
    pub fn shares_our_pid_ns(&self) -> Result<bool> {
        if self.clone_flags.contains(CloneFlags::CLONE_NEWPID) {
            return Ok(false);
        }
        let Some(joined) = &self.join_pid else {
            return Ok(true);
        };
        let ours = std::fs::metadata("/proc/self/ns/pid")
            .map_err(|e| anyhow!("/proc/self/ns/pid: {e}"))?;
        let theirs = joined
            .metadata()
            .map_err(|e| anyhow!("linux.namespaces: pid namespace: {e}"))?;
        use std::os::unix::fs::MetadataExt;
        Ok(ours.dev() == theirs.dev() && ours.ino() == theirs.ino())
    }
}

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The /proc/<pid>/ns/<name> name of a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

impl Plan {
    /// A joined user namespace, or a new one beside joined namespaces, needs a process
    /// that enters the joined ones first and then creates the new ones inside them.
    pub fn needs_intermediate(&self) -> bool {
        self.join_user.is_some()
            || (self.new_user && (!self.join.is_empty() || self.join_pid.is_some()))
    }
}

pub fn plan(linux: Option<&Linux>) -> Result<Plan> {
    let mut p = Plan {
        clone_flags: CloneFlags::empty(),
        new_cgroup: false,
        new_time: false,
        new_user: false,
        new_uts: false,
        new_net: false,
        new_ipc: false,
        join_pid: None,
        join_user: None,
        join: Vec::new(),
    };
    let namespaces = linux.and_then(|l| l.namespaces().as_ref());
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        let t = ns.typ();
        match ns.path() {
            Some(path) => {
                let f = File::open(path)
                    .with_context(|| format!("linux.namespaces[{i}].path: {}", path.display()))?;
                match t {
                    LinuxNamespaceType::Pid => p.join_pid = Some(f),
                    LinuxNamespaceType::User => p.join_user = Some(f),
                    _ => p.join.push((t, f)),
                }
            }
            None => match t {
                LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                LinuxNamespaceType::Time => p.new_time = true,
                _ => {
                    p.clone_flags |= flag(t);
                    match t {
                        LinuxNamespaceType::User => p.new_user = true,
                        LinuxNamespaceType::Uts => p.new_uts = true,
                        LinuxNamespaceType::Network => p.new_net = true,
                        LinuxNamespaceType::Ipc => p.new_ipc = true,
                        _ => {}
                    }
                }
            },
        }
    }
    // Mount last: after it, other paths would resolve in the container's view.
    p.join.sort_by_key(|(t, _)| *t == LinuxNamespaceType::Mount);
    Ok(p)
}

/// In the init: enter the namespaces joined by path.
pub fn enter_joined(join: &[(LinuxNamespaceType, File)]) -> Result<()> {
    for (t, f) in join {
        setns(f.as_fd(), flag(*t))
            .map_err(|e| anyhow!("joining {} namespace: {e}", proc_name(*t)))?;
    }
    Ok(())
}

/// rt's own namespaces of the kinds that only affect children (pid, time), saved before
/// rt changes them for the init's clone.
pub struct ForChildren(Vec<(OwnedFd, CloneFlags)>);

/// In rt (or the intermediate), just before cloning the init: enter the pid namespace it
/// must be born in, and make its new time namespace with linux.timeOffsets written (done
/// here, not in the init, so the init is born in it on every kernel: only newer kernels
/// move a process into its time namespace for children at execve).
pub fn enter_for_children(plan: &Plan, linux: Option<&Linux>) -> Result<ForChildren> {
    let mut saved = Vec::new();
    if let Some(f) = &plan.join_pid {
        saved.push((
            File::open("/proc/self/ns/pid")?.into(),
            CloneFlags::CLONE_NEWPID,
        ));
        setns(f.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| anyhow!("joining pid namespace: {e}"))?;
    }
    if plan.new_time {
        let time = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        saved.push((File::open("/proc/self/ns/time")?.into(), time));
        unshare_time(linux)?;
    }
    Ok(ForChildren(saved))
}

/// After the clone: rt's later children (hooks) are born in rt's own namespaces again.
pub fn leave_for_children(saved: ForChildren) -> Result<()> {
    for (fd, flag) in saved.0 {
        setns(fd.as_fd(), flag)?;
    }
    Ok(())
}

fn map_lines(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// In rt: write the init's uid/gid maps (rt is root in the parent user namespace).
pub fn write_id_maps(pid: i32, linux: Option<&Linux>) -> Result<()> {
    let Some(linux) = linux else { return Ok(()) };
    if let Some(maps) = linux.uid_mappings() {
        std::fs::write(format!("/proc/{pid}/uid_map"), map_lines(maps))
            .map_err(|e| anyhow!("linux.uidMappings: writing /proc/{pid}/uid_map: {e}"))?;
    }
    if let Some(maps) = linux.gid_mappings() {
        std::fs::write(format!("/proc/{pid}/gid_map"), map_lines(maps))
            .map_err(|e| anyhow!("linux.gidMappings: writing /proc/{pid}/gid_map: {e}"))?;
    }
    Ok(())
}

/// A new time namespace for the caller's children, with linux.timeOffsets written
/// (before any process is in it, as the kernel requires).
fn unshare_time(linux: Option<&Linux>) -> Result<()> {
    nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .map_err(|e| anyhow!("linux.namespaces: new time namespace: {e}"))?;
    let offsets = linux.and_then(|l| l.time_offsets().as_ref());
    let mut text = String::new();
    for (clock, off) in offsets.into_iter().flatten() {
        let id = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => bail!("linux.timeOffsets.{other}: unknown clock (want monotonic or boottime)"),
        };
        text.push_str(&format!(
            "{id} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", text)
            .map_err(|e| anyhow!("linux.timeOffsets: writing /proc/self/timens_offsets: {e}"))?;
    }
    Ok(())
}

/// Paths of a running container's namespaces, for `exec` (those that differ from rt's own).
pub fn of_process(pid: i32) -> Vec<(LinuxNamespaceType, PathBuf)> {
    use LinuxNamespaceType::*;
    let mut out = Vec::new();
    for t in [User, Ipc, Uts, Network, Pid, Cgroup, Time, Mount] {
        let name = proc_name(t);
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let same = match (
            std::fs::metadata(&theirs),
            std::fs::metadata(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.ino() == b.ino() && a.dev() == b.dev()
            }
            _ => true,
        };
        if !same {
            out.push((t, theirs));
        }
    }
    out
}
