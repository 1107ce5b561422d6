//! Validation of a parsed config.json against the runtime spec and this host.
//!
//! Contract: `validate(spec, bundle)` runs in `create`/`run` before anything is made on
//! the host. The first problem found is returned as one line that starts with the JSON
//! path of the offending field, e.g. `linux.namespaces[2].path: no such file`.
//!
//! It is on the start path, so it stays cheap: no process is spawned and the only
//! syscalls are a stat of root.path, of each bind-mount source, and an
//! open/fstatfs/ioctl of each namespace path to join.
//!
//! Type errors (unknown enum strings, wrong JSON types, unknown capabilities, unknown
//! personality domains) never reach here: `spec::parse` reports them with their path.
//! linux.seccomp is checked by the seccomp module when it compiles the filter.
use crate::Result;
use anyhow::bail;
use oci_spec::runtime::{
    Hook, LinuxCpu, LinuxDeviceType, LinuxIdMapping, LinuxMemory, LinuxNamespaceType,
    LinuxResources, LinuxSchedulerPolicy, Mount, Process, Spec,
};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

/// Fail with `<path>: <message>`.
macro_rules! fail {
    ($path:expr, $($arg:tt)+) => {
        bail!("{}: {}", $path, format_args!($($arg)+))
    };
}

pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    check_version(spec.version())?;
    check_root(spec, bundle)?;
    match spec.process() {
        Some(p) => validate_process(p, "process")?,
        None => fail!("process", "missing (create needs a process to run)"),
    }
    let ns = Namespaces::from_spec(spec)?;
    check_uts(spec, &ns)?;
    check_mounts(spec, bundle)?;
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let prestart = hooks.prestart();
        check_hooks("prestart", prestart)?;
        check_hooks("createRuntime", hooks.create_runtime())?;
        check_hooks("createContainer", hooks.create_container())?;
        check_hooks("startContainer", hooks.start_container())?;
        check_hooks("poststart", hooks.poststart())?;
        check_hooks("poststop", hooks.poststop())?;
    }
    check_linux(spec, &ns)?;
    check_unsupported(spec)?;
    Ok(())
}

/// Fields rt does not apply yet: refused rather than silently ignored.
fn check_unsupported(spec: &Spec) -> Result<()> {
    let Some(l) = spec.linux() else { return Ok(()) };
    if l.intel_rdt().is_some() {
        fail!("linux.intelRdt", "Intel RDT is not supported by rt yet");
    }
    if l.memory_policy().is_some() {
        fail!(
            "linux.memoryPolicy",
            "memory policies are not supported by rt yet"
        );
    }
    if l.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        fail!(
            "linux.netDevices",
            "moving network devices into the container is not supported by rt yet"
        );
    }
    Ok(())
}

fn check_version(v: &str) -> Result<()> {
    if v.is_empty() {
        fail!("ociVersion", "missing");
    }
    let ok = v
        .strip_prefix("1.")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    if !ok {
        fail!("ociVersion", "unsupported version {v:?} (want 1.x)");
    }
    Ok(())
}

fn check_root(spec: &Spec, bundle: &Path) -> Result<()> {
    let Some(root) = spec.root() else {
        fail!("root", "missing");
    };
    let p = root.path();
    if p.as_os_str().is_empty() {
        fail!("root.path", "missing");
    }
    let full = bundle.join(p);
    match std::fs::metadata(&full) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => fail!("root.path", "{}: not a directory", full.display()),
        Err(e) => fail!("root.path", "{}: {}", full.display(), io_msg(&e)),
    }
}

/// Checks a process object; `prefix` is its JSON path ("process" in config.json, "" for
/// the process.json of `exec -p`). Also usable by `exec` for the process it builds.
pub fn validate_process(p: &Process, prefix: &str) -> Result<()> {
    let args = p.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        fail!(
            at(prefix, "args"),
            "missing or empty (create needs a command)"
        );
    }
    if args[0].is_empty() {
        fail!(at(prefix, "args[0]"), "empty");
    }
    for (i, a) in args.iter().enumerate() {
        if a.contains('\0') {
            fail!(at(prefix, &format!("args[{i}]")), "contains a NUL byte");
        }
    }
    for (i, e) in p.env().as_deref().unwrap_or_default().iter().enumerate() {
        let path = at(prefix, &format!("env[{i}]"));
        match e.split_once('=') {
            None => fail!(path, "{e:?} has no '='"),
            Some(("", _)) => fail!(path, "{e:?} has an empty name"),
            Some(_) if e.contains('\0') => fail!(path, "contains a NUL byte"),
            Some(_) => {}
        }
    }
    if !p.cwd().is_absolute() {
        fail!(
            at(prefix, "cwd"),
            "must be an absolute path, got {:?}",
            p.cwd().display().to_string()
        );
    }
    if let Some(umask) = p.user().umask() {
        if umask > 0o777 {
            fail!(
                at(prefix, "user.umask"),
                "{umask:#o} out of range (0 to 0777)"
            );
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            fail!(at(prefix, "oomScoreAdj"), "{adj} out of range -1000..1000");
        }
    }
    if let Some(io) = p.io_priority() {
        let prio = io.priority();
        if !(0..=7).contains(&prio) {
            fail!(
                at(prefix, "ioPriority.priority"),
                "{prio} out of range 0..7"
            );
        }
    }
    if let Some(s) = p.scheduler() {
        let policy = *s.policy();
        let rt = matches!(
            policy,
            LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
        );
        if policy == LinuxSchedulerPolicy::SchedIso {
            fail!(
                at(prefix, "scheduler.policy"),
                "SCHED_ISO is not supported by Linux"
            );
        }
        if let Some(nice) = *s.nice() {
            if !(-20..=19).contains(&nice) {
                fail!(at(prefix, "scheduler.nice"), "{nice} out of range -20..19");
            }
        }
        let prio = s.priority().unwrap_or(0);
        if rt && !(1..=99).contains(&prio) {
            fail!(
                at(prefix, "scheduler.priority"),
                "{prio} out of range 1..99 for {policy}"
            );
        }
        if !rt && prio != 0 {
            fail!(
                at(prefix, "scheduler.priority"),
                "only SCHED_FIFO and SCHED_RR take a priority, not {policy}"
            );
        }
        let (runtime, deadline, period) = (*s.runtime(), *s.deadline(), *s.period());
        if policy == LinuxSchedulerPolicy::SchedDeadline {
            let runtime = runtime.unwrap_or(0);
            let deadline = deadline.unwrap_or(0);
            let period = period.filter(|&p| p != 0).unwrap_or(deadline);
            if runtime < 1024 {
                fail!(
                    at(prefix, "scheduler.runtime"),
                    "SCHED_DEADLINE needs a runtime of at least 1024 ns"
                );
            }
            if deadline < runtime {
                fail!(at(prefix, "scheduler.deadline"), "must be >= runtime");
            }
            if period < deadline {
                fail!(at(prefix, "scheduler.period"), "must be >= deadline");
            }
        } else {
            for (name, v) in [
                ("runtime", runtime),
                ("deadline", deadline),
                ("period", period),
            ] {
                if v.is_some_and(|v| v != 0) {
                    fail!(
                        at(prefix, &format!("scheduler.{name}")),
                        "only SCHED_DEADLINE takes one, not {policy}"
                    );
                }
            }
        }
    }
    let rlimits = p.rlimits().as_deref().unwrap_or_default();
    for (i, r) in rlimits.iter().enumerate() {
        if rlimits[..i].iter().any(|o| o.typ() == r.typ()) {
            fail!(
                at(prefix, &format!("rlimits[{i}].type")),
                "duplicate {} (given twice)",
                r.typ()
            );
        }
        if r.soft() > r.hard() {
            fail!(
                at(prefix, &format!("rlimits[{i}].soft")),
                "{} above the hard limit {}",
                r.soft(),
                r.hard()
            );
        }
    }
    Ok(())
}

/// `prefix.field`, or `field` alone when the prefix is empty.
fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// linux.namespaces, by type: the index in the array and the path to join, if any.
#[derive(Default)]
struct Namespaces<'a> {
    entries: [Option<(usize, Option<&'a Path>)>; 8],
}

const NS_TYPES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Time,
];

fn ns_slot(t: LinuxNamespaceType) -> usize {
    NS_TYPES.iter().position(|&x| x == t).unwrap_or(0)
}

/// The name config.json uses for a namespace type.
fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

impl<'a> Namespaces<'a> {
    fn from_spec(spec: &'a Spec) -> Result<Namespaces<'a>> {
        let mut ns = Namespaces::default();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or_default();
        for (i, n) in list.iter().enumerate() {
            let slot = &mut ns.entries[ns_slot(n.typ())];
            if slot.is_some() {
                fail!(
                    format!("linux.namespaces[{i}].type"),
                    "duplicate {} (given twice)",
                    ns_name(n.typ())
                );
            }
            let path = n.path().as_deref().filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = path {
                check_ns_file(&format!("linux.namespaces[{i}].path"), p, n.typ())?;
            }
            *slot = Some((i, path));
        }
        Ok(ns)
    }
    /// Listed in linux.namespaces, new or joined.
    fn has(&self, t: LinuxNamespaceType) -> bool {
        self.entries[ns_slot(t)].is_some()
    }
    /// Listed without a path: a new one is made.
    fn is_new(&self, t: LinuxNamespaceType) -> bool {
        matches!(self.entries[ns_slot(t)], Some((_, None)))
    }
    fn path(&self, t: LinuxNamespaceType) -> Option<&'a Path> {
        self.entries[ns_slot(t)].and_then(|(_, p)| p)
    }
    fn index(&self, t: LinuxNamespaceType) -> Option<usize> {
        self.entries[ns_slot(t)].map(|(i, _)| i)
    }
}

/// A namespace file to join: absolute, exists, on nsfs, and of the right type.
fn check_ns_file(json: &str, p: &Path, t: LinuxNamespaceType) -> Result<()> {
    if !p.is_absolute() {
        fail!(
            json,
            "must be an absolute path, got {:?}",
            p.display().to_string()
        );
    }
    // O_PATH first: opening whatever the path names for real (a fifo, a device) could
    // block or have side effects; only a file on nsfs is opened.
    let fp = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(p)
    {
        Ok(f) => f,
        Err(e) => fail!(json, "{}: {}", p.display(), io_msg(&e)),
    };
    match nix::sys::statfs::fstatfs(fp.as_fd()) {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC => {}
        Ok(_) => fail!(json, "{}: not a namespace file", p.display()),
        Err(e) => fail!(json, "{}: {}", p.display(), e.desc()),
    }
    let f = match std::fs::File::open(crate::sys::fd_path(&fp)) {
        Ok(f) => f,
        Err(e) => fail!(json, "{}: {}", p.display(), io_msg(&e)),
    };
    match crate::sys::validate::ns_get_nstype(f.as_fd()) {
        Ok(got) if got == t as i32 => Ok(()),
        Ok(got) => {
            let got = NS_TYPES
                .iter()
                .find(|&&x| x as i32 == got)
                .map_or("unknown", |&x| ns_name(x));
            fail!(
                json,
                "{}: is a namespace of type {got}, not {}",
                p.display(),
                ns_name(t)
            )
        }
        Err(e) => fail!(json, "{}: {}", p.display(), io_msg(&e)),
    }
}

fn check_uts(spec: &Spec, ns: &Namespaces) -> Result<()> {
    // A joined uts namespace may take a hostname (containerd sets one on containers that
    // join their pod's namespace); runc refuses only where there is no uts namespace.
    for (field, v) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if v.as_deref().is_some_and(|s| !s.is_empty()) && !ns.has(LinuxNamespaceType::Uts) {
            fail!(field, "set without a uts namespace in linux.namespaces");
        }
    }
    Ok(())
}

const PROPAGATION: [&str; 8] = [
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

fn check_mounts(spec: &Spec, bundle: &Path) -> Result<()> {
    for (i, m) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        check_mount(i, m, bundle)?;
    }
    Ok(())
}

fn check_mount(i: usize, m: &Mount, bundle: &Path) -> Result<()> {
    let dest = m.destination();
    if !dest.is_absolute() {
        fail!(
            format!("mounts[{i}].destination"),
            "must be an absolute path, got {:?}",
            dest.display().to_string()
        );
    }
    if dest.components().all(|c| c == Component::RootDir) {
        fail!(
            format!("mounts[{i}].destination"),
            "\"/\" is refused (the root is root.path)"
        );
    }
    let options = m.options().as_deref().unwrap_or_default();
    let typ = m.typ().as_deref().unwrap_or_default();
    let bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
    if bind {
        let Some(src) = m.source().as_deref().filter(|s| !s.as_os_str().is_empty()) else {
            fail!(format!("mounts[{i}].source"), "missing for a bind mount");
        };
        let full = bundle.join(src);
        if let Err(e) = std::fs::metadata(&full) {
            fail!(
                format!("mounts[{i}].source"),
                "{}: {}",
                full.display(),
                io_msg(&e)
            );
        }
    } else if typ.is_empty() {
        fail!(
            format!("mounts[{i}].type"),
            "missing (only a bind mount may leave it out)"
        );
    }
    let mut seen: Option<&str> = None;
    for (j, o) in options.iter().enumerate() {
        if o.is_empty() {
            fail!(format!("mounts[{i}].options[{j}]"), "empty option");
        }
        if !PROPAGATION.contains(&o.as_str()) {
            continue;
        }
        match seen {
            Some(prev) if prev != o => fail!(
                format!("mounts[{i}].options[{j}]"),
                "propagation {o:?} conflicts with {prev:?}"
            ),
            _ => seen = Some(o),
        }
    }
    Ok(())
}

fn check_hooks(kind: &str, hooks: &Option<Vec<Hook>>) -> Result<()> {
    for (i, h) in hooks.as_deref().unwrap_or_default().iter().enumerate() {
        if !h.path().is_absolute() {
            fail!(
                format!("hooks.{kind}[{i}].path"),
                "must be an absolute path, got {:?}",
                h.path().display().to_string()
            );
        }
        if let Some(t) = h.timeout() {
            if t <= 0 {
                fail!(format!("hooks.{kind}[{i}].timeout"), "must be > 0, got {t}");
            }
        }
    }
    Ok(())
}

fn check_linux(spec: &Spec, ns: &Namespaces) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    use LinuxNamespaceType as T;

    // User namespace and id mappings.
    let uid = linux.uid_mappings().as_deref();
    let gid = linux.gid_mappings().as_deref();
    if ns.has(T::User) {
        if ns.is_new(T::User) {
            let at = ns.index(T::User).unwrap_or(0);
            if uid.is_none_or(|m| m.is_empty()) {
                fail!(
                    "linux.uidMappings",
                    "missing: a new user namespace (linux.namespaces[{at}]) needs uid and gid mappings"
                );
            }
            if gid.is_none_or(|m| m.is_empty()) {
                fail!(
                    "linux.gidMappings",
                    "missing: a new user namespace (linux.namespaces[{at}]) needs uid and gid mappings"
                );
            }
        }
    } else {
        if uid.is_some_and(|m| !m.is_empty()) {
            fail!("linux.uidMappings", "given without a user namespace");
        }
        if gid.is_some_and(|m| !m.is_empty()) {
            fail!("linux.gidMappings", "given without a user namespace");
        }
    }
    check_mappings("linux.uidMappings", uid)?;
    check_mappings("linux.gidMappings", gid)?;

    // Time namespace offsets.
    if let Some(offsets) = linux.time_offsets().as_ref().filter(|o| !o.is_empty()) {
        if !ns.is_new(T::Time) {
            fail!(
                "linux.timeOffsets",
                "given without a new time namespace (offsets cannot be set on a joined one)"
            );
        }
        for (clock, off) in sorted(offsets) {
            if clock != "monotonic" && clock != "boottime" {
                fail!(
                    format!("linux.timeOffsets.{clock}"),
                    "unknown clock (want monotonic or boottime)"
                );
            }
            if off.nanosecs().is_some_and(|n| n >= 1_000_000_000) {
                fail!(
                    format!("linux.timeOffsets.{clock}.nanosecs"),
                    "must be below 1000000000"
                );
            }
        }
    }

    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) && !ns.has(T::Network) {
        fail!("linux.netDevices", "given without a network namespace");
    }

    // Devices.
    for (i, d) in linux
        .devices()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let p = d.path();
        let under_dev = p.starts_with("/dev")
            && p != Path::new("/dev")
            && !p.components().any(|c| c == Component::ParentDir);
        if !under_dev {
            fail!(
                format!("linux.devices[{i}].path"),
                "must be under /dev, got {:?}",
                p.display().to_string()
            );
        }
        match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::B | LinuxDeviceType::U => {
                if d.major() == 0 && d.minor() == 0 {
                    fail!(
                        format!("linux.devices[{i}].major"),
                        "major and minor missing (0:0) for a {:?} device",
                        d.typ().as_str()
                    );
                }
                if d.major() < 0 || d.minor() < 0 {
                    fail!(
                        format!("linux.devices[{i}].major"),
                        "negative device number {}:{}",
                        d.major(),
                        d.minor()
                    );
                }
            }
            LinuxDeviceType::P => {}
            LinuxDeviceType::A => fail!(
                format!("linux.devices[{i}].type"),
                "\"a\" is not a device type (want c, b, u or p)"
            ),
        }
        if let Some(mode) = d.file_mode() {
            // Permission bits, optionally with the file type bits of `type` (podman passes
            // the host node's st_mode for --privileged and --device; runc accepts it).
            let kind = match d.typ() {
                LinuxDeviceType::B => libc::S_IFBLK,
                LinuxDeviceType::P => libc::S_IFIFO,
                _ => libc::S_IFCHR,
            };
            let fmt = mode & libc::S_IFMT;
            if mode & !(libc::S_IFMT | 0o7777) != 0 || (fmt != 0 && fmt != kind) {
                fail!(
                    format!("linux.devices[{i}].fileMode"),
                    "{mode:#o} has bits beyond 07777 other than the file type of {:?}",
                    d.typ().as_str()
                );
            }
        }
    }

    // Sysctls, sorted so that the first error is always the same one.
    if let Some(sysctl) = linux.sysctl() {
        for (key, _) in sorted(sysctl) {
            check_sysctl(key, spec, ns)?;
        }
    }

    // Masked and readonly paths: absolute, and never in the host's mount namespace.
    for (field, list) in [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ] {
        let list = list.as_deref().unwrap_or_default();
        for (i, p) in list.iter().enumerate() {
            if !p.starts_with('/') {
                fail!(
                    format!("linux.{field}[{i}]"),
                    "must be an absolute path, got {p:?}"
                );
            }
        }
        if !list.is_empty() && !ns.has(T::Mount) {
            fail!(
                format!("linux.{field}"),
                "needs a mount namespace (it would change the host's)"
            );
        }
    }

    if let Some(cg) = linux.cgroups_path() {
        if cg.components().any(|c| c == Component::ParentDir) {
            fail!(
                "linux.cgroupsPath",
                "\"..\" components are refused, got {:?}",
                cg.display().to_string()
            );
        }
    }
    if let Some(r) = linux.resources() {
        check_resources(r)?;
    }

    if let Some(p) = linux.personality() {
        if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            fail!(
                "linux.personality.flags",
                "no flag is supported (the runtime spec defines none)"
            );
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if !prop.is_empty() && !PROPAGATION.contains(&prop.as_str()) {
            fail!(
                "linux.rootfsPropagation",
                "{prop:?} is not one of {}",
                PROPAGATION.join(", ")
            );
        }
    }
    Ok(())
}

fn check_mappings(field: &str, maps: Option<&[LinuxIdMapping]>) -> Result<()> {
    let maps = maps.unwrap_or_default();
    if maps.len() > 340 {
        fail!(
            field,
            "{} entries, the kernel takes at most 340",
            maps.len()
        );
    }
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            fail!(format!("{field}[{i}].size"), "must be > 0");
        }
        let end = |start: u32| u64::from(start) + u64::from(m.size());
        if end(m.container_id()) > 1 << 32 || end(m.host_id()) > 1 << 32 {
            fail!(format!("{field}[{i}]"), "range beyond 2^32");
        }
    }
    Ok(())
}

const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Like runc: only sysctls of a namespace the container has of its own are allowed.
fn check_sysctl(key: &str, spec: &Spec, ns: &Namespaces) -> Result<()> {
    use LinuxNamespaceType as T;
    let json = format!("linux.sysctl.{key}");
    // runc accepts both "net.ipv4.ip_forward" and "net/ipv4/ip_forward".
    let name = key.replace('/', ".");
    if name.split('.').any(|c| c.is_empty() || c == "..") {
        fail!(json, "malformed sysctl name");
    }
    if IPC_SYSCTLS.contains(&name.as_str()) || name.starts_with("fs.mqueue.") {
        if !ns.has(T::Ipc) {
            fail!(json, "needs an ipc namespace (refused in the host's)");
        }
        return Ok(());
    }
    if name.starts_with("net.") {
        if !ns.has(T::Network) {
            fail!(json, "needs a network namespace (refused in the host's)");
        }
        if let Some(p) = ns.path(T::Network) {
            if same_file(p, Path::new("/proc/self/ns/net")) {
                fail!(json, "the joined network namespace is the host's, refused");
            }
        }
        return Ok(());
    }
    if name == "kernel.hostname" || name == "kernel.domainname" {
        if !ns.has(T::Uts) {
            fail!(json, "needs a uts namespace (refused in the host's)");
        }
        if name == "kernel.hostname" && spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) {
            fail!(json, "conflicts with the hostname field");
        }
        return Ok(());
    }
    fail!(json, "not namespaced, refused")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn check_resources(r: &LinuxResources) -> Result<()> {
    const P: &str = "linux.resources";
    if let Some(pids) = r.pids() {
        if pids.limit() < -1 {
            fail!(
                format!("{P}.pids.limit"),
                "{} is invalid (-1 means unlimited)",
                pids.limit()
            );
        }
    }
    if let Some(m) = r.memory() {
        check_memory(m)?;
    }
    if let Some(c) = r.cpu() {
        check_cpu(c)?;
    }
    if let Some(b) = r.block_io() {
        for (name, w) in [("weight", b.weight()), ("leafWeight", b.leaf_weight())] {
            if let Some(w) = w.filter(|&w| w > 1000) {
                fail!(format!("{P}.blockIO.{name}"), "{w} out of range 10..1000");
            }
        }
        for (i, d) in b
            .weight_device()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if let Some(w) = d.weight().filter(|&w| w > 1000) {
                fail!(
                    format!("{P}.blockIO.weightDevice[{i}].weight"),
                    "{w} out of range 10..1000"
                );
            }
        }
    }
    for (i, h) in r
        .hugepage_limits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let size = h.page_size();
        let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &size[digits.len()..];
        let ok = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && ["KB", "MB", "GB", "TB", "PB"].contains(&unit);
        if !ok {
            fail!(
                format!("{P}.hugepageLimits[{i}].pageSize"),
                "{size:?} is not a page size like \"2MB\" or \"1GB\""
            );
        }
    }
    for (i, d) in r
        .devices()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if let Some(a) = d.access() {
            if let Some(bad) = a.chars().find(|c| !"rwm".contains(*c)) {
                fail!(
                    format!("{P}.devices[{i}].access"),
                    "{bad:?} is not one of r, w, m"
                );
            }
        }
        for (name, v) in [("major", d.major()), ("minor", d.minor())] {
            if let Some(v) = v.filter(|&v| v < -1) {
                fail!(
                    format!("{P}.devices[{i}].{name}"),
                    "{v} is invalid (-1 means any)"
                );
            }
        }
    }
    if let Some(unified) = r.unified() {
        for (key, _) in sorted(unified) {
            if key.is_empty() || key.contains('/') || key == "." || key == ".." {
                fail!(format!("{P}.unified.{key}"), "not a cgroup file name");
            }
        }
    }
    Ok(())
}

fn check_memory(m: &LinuxMemory) -> Result<()> {
    const P: &str = "linux.resources.memory";
    #[allow(deprecated)]
    let kernel = m.kernel();
    for (name, v) in [
        ("limit", m.limit()),
        ("reservation", m.reservation()),
        ("swap", m.swap()),
        ("kernel", kernel),
        ("kernelTCP", m.kernel_tcp()),
    ] {
        if let Some(v) = v.filter(|&v| v < -1) {
            fail!(format!("{P}.{name}"), "{v} is invalid (-1 means unlimited)");
        }
    }
    if let (Some(limit), Some(swap)) = (m.limit(), m.swap()) {
        if limit > 0 && swap > 0 && swap < limit {
            fail!(
                format!("{P}.swap"),
                "{swap} is below memory.limit {limit} (swap counts memory+swap)"
            );
        }
    }
    if let Some(s) = m.swappiness().filter(|&s| s > 100) {
        fail!(format!("{P}.swappiness"), "{s} out of range 0..100");
    }
    Ok(())
}

fn check_cpu(c: &LinuxCpu) -> Result<()> {
    const P: &str = "linux.resources.cpu";
    // 0 means "not set", as in runc.
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        if !(2..=262144).contains(&s) {
            fail!(format!("{P}.shares"), "{s} out of range 2..262144");
        }
    }
    if let Some(q) = c.quota() {
        if q < -1 || (1..1000).contains(&q) {
            fail!(
                format!("{P}.quota"),
                "{q} is invalid (-1 for unlimited, or at least 1000 us)"
            );
        }
    }
    if let Some(p) = c.period().filter(|&p| p != 0) {
        if !(1000..=1_000_000).contains(&p) {
            fail!(format!("{P}.period"), "{p} out of range 1000..1000000 us");
        }
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r < -1) {
        fail!(
            format!("{P}.realtimeRuntime"),
            "{r} is invalid (-1 means unlimited)"
        );
    }
    if let Some(i) = c.idle().filter(|&i| i != 0 && i != 1) {
        fail!(format!("{P}.idle"), "{i} is invalid (want 0 or 1)");
    }
    for (name, v) in [("cpus", c.cpus()), ("mems", c.mems())] {
        if let Some(list) = v.as_deref().filter(|s| !s.is_empty()) {
            if !is_cpu_list(list) {
                fail!(
                    format!("{P}.{name}"),
                    "{list:?} is not a list like \"0-3,5\""
                );
            }
        }
    }
    Ok(())
}

/// "0-3,5,7-8": comma-separated numbers or ascending ranges.
fn is_cpu_list(s: &str) -> bool {
    let num = |p: &str| -> Option<u32> {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => matches!((num(a), num(b)), (Some(a), Some(b)) if a <= b),
        None => num(part).is_some(),
    })
}

fn sorted<V>(m: &HashMap<String, V>) -> Vec<(&str, &V)> {
    let mut v: Vec<(&str, &V)> = m.iter().map(|(k, v)| (k.as_str(), v)).collect();
    v.sort_unstable_by_key(|(k, _)| *k);
    v
}

/// An io::Error as a short message without the "(os error N)" tail.
fn io_msg(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A bundle directory with an empty rootfs, removed on drop.
    struct TmpBundle(PathBuf);
    impl TmpBundle {
        fn new() -> TmpBundle {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "rt-validate-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(dir.join("rootfs")).unwrap();
            std::fs::write(dir.join("afile"), b"").unwrap();
            TmpBundle(dir)
        }
    }
    impl Drop for TmpBundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn base() -> Value {
        json!({
            "ociVersion": "1.0.2-dev",
            "root": {"path": "rootfs", "readonly": true},
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh"],
                "env": ["PATH=/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "hostname": "rt",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/etc/afile", "type": "bind", "source": "afile",
                 "options": ["rbind", "ro", "rprivate"]}
            ],
            "linux": {
                "namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                    {"type": "uts"}, {"type": "mount"}
                ],
                "resources": {
                    "devices": [{"allow": false, "access": "rwm"}],
                    "pids": {"limit": -1},
                    "cpu": {"shares": 1024, "quota": -1, "period": 100000, "cpus": "0-1,3"},
                    "memory": {"limit": 1000000, "swap": 2000000}
                },
                "cgroupsPath": "/rt-test/x",
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
                "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000",
                           "fs.mqueue.msg_max": "10", "kernel.domainname": "x"},
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "rootfsPropagation": "rprivate"
            },
            "hooks": {"prestart": [{"path": "/bin/true", "timeout": 5}]}
        })
    }

    /// Validate `base()` after `edit`; the error message, or None when valid.
    fn check(edit: impl FnOnce(&mut Value)) -> Option<String> {
        let b = TmpBundle::new();
        let mut v = base();
        edit(&mut v);
        let spec = match crate::spec::parse(v.to_string().as_bytes()) {
            Ok(s) => s,
            Err(e) => panic!("test spec does not parse: {e:#}"),
        };
        validate(&spec, &b.0).err().map(|e| format!("{e:#}"))
    }

    fn fails(edit: impl FnOnce(&mut Value), prefix: &str) {
        match check(edit) {
            Some(msg) => {
                assert!(
                    msg.starts_with(prefix),
                    "error {msg:?} does not start with {prefix:?}"
                );
                assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
            }
            None => panic!("validation passed, expected an error at {prefix:?}"),
        }
    }

    fn ns(v: &mut Value) -> &mut Vec<Value> {
        v["linux"]["namespaces"].as_array_mut().unwrap()
    }

    #[test]
    fn valid_spec_passes() {
        assert_eq!(check(|_| {}), None);
    }

    #[test]
    fn valid_variants_pass() {
        // absolute root path, minimal config without linux.
        let b = TmpBundle::new();
        let root = b.0.join("rootfs").display().to_string();
        let spec = crate::spec::parse(
            json!({"ociVersion": "1.2.0", "root": {"path": root},
                   "process": {"user": {"uid": 0, "gid": 0}, "args": ["x"], "cwd": "/"}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        validate(&spec, Path::new("/nonexistent")).unwrap();
        // user namespace with mappings, time namespace with offsets.
        assert_eq!(
            check(|v| {
                ns(v).push(json!({"type": "user"}));
                ns(v).push(json!({"type": "time"}));
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 10}});
            }),
            None
        );
        // joining our own namespaces by path.
        assert_eq!(
            check(|v| {
                ns(v)[2] = json!({"type": "ipc", "path": "/proc/self/ns/ipc"});
                ns(v)[3] = json!({"type": "uts", "path": "/proc/self/ns/uts"});
            }),
            None
        );
        // RT scheduler, deadline scheduler.
        assert_eq!(
            check(|v| v["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10})),
            None
        );
        assert_eq!(
            check(|v| {
                v["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE",
                    "runtime": 10000, "deadline": 20000, "period": 30000})
            }),
            None
        );
        // sysctl in slash form; shares 0 means unset.
        assert_eq!(
            check(|v| {
                v["linux"]["sysctl"] = json!({"net/ipv4/ip_forward": "1"});
                v["linux"]["resources"]["cpu"]["shares"] = json!(0);
            }),
            None
        );
    }

    #[test]
    fn version() {
        fails(
            |v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("ociVersion")
                    .map(drop)
                    .unwrap()
            },
            "ociVersion: missing",
        );
        fails(
            |v| v["ociVersion"] = json!("2.0.0"),
            "ociVersion: unsupported",
        );
        fails(|v| v["ociVersion"] = json!("1"), "ociVersion: unsupported");
    }

    #[test]
    fn root() {
        fails(
            |v| drop(v.as_object_mut().unwrap().remove("root")),
            "root: missing",
        );
        fails(
            |v| v["root"] = json!({"readonly": true}),
            "root.path: missing",
        );
        fails(|v| v["root"]["path"] = json!("nope"), "root.path: ");
        fails(|v| v["root"]["path"] = json!("afile"), "root.path: ");
        let msg = check(|v| v["root"]["path"] = json!("afile")).unwrap();
        assert!(msg.ends_with("not a directory"), "{msg}");
        let msg = check(|v| v["root"]["path"] = json!("nope")).unwrap();
        assert!(msg.ends_with("no such file or directory"), "{msg}");
    }

    #[test]
    fn process() {
        fails(
            |v| drop(v.as_object_mut().unwrap().remove("process")),
            "process: missing",
        );
        fails(|v| v["process"]["args"] = json!([]), "process.args: ");
        fails(
            |v| drop(v["process"].as_object_mut().unwrap().remove("args")),
            "process.args: ",
        );
        fails(|v| v["process"]["args"] = json!([""]), "process.args[0]: ");
        fails(
            |v| v["process"]["args"] = json!(["sh", "a\u{0}b"]),
            "process.args[1]: ",
        );
        fails(
            |v| v["process"]["env"] = json!(["A=1", "NOEQUALS"]),
            "process.env[1]: ",
        );
        fails(|v| v["process"]["env"] = json!(["=x"]), "process.env[0]: ");
        fails(
            |v| v["process"]["cwd"] = json!("relative/dir"),
            "process.cwd: ",
        );
        fails(|v| v["process"]["cwd"] = json!(""), "process.cwd: ");
        fails(
            |v| v["process"]["user"]["umask"] = json!(0o1000),
            "process.user.umask: ",
        );
        fails(
            |v| v["process"]["oomScoreAdj"] = json!(1001),
            "process.oomScoreAdj: ",
        );
        fails(
            |v| v["process"]["oomScoreAdj"] = json!(-1001),
            "process.oomScoreAdj: ",
        );
        fails(
            |v| v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "process.ioPriority.priority: ",
        );
        fails(
            |v| v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": -1}),
            "process.ioPriority.priority: ",
        );
    }

    #[test]
    fn process_json_of_exec_has_bare_paths() {
        let p: Process = serde_json::from_value(json!({
            "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "rel"
        }))
        .unwrap();
        let msg = format!("{:#}", validate_process(&p, "").unwrap_err());
        assert!(msg.starts_with("cwd: must be an absolute path"), "{msg}");
        let msg = format!("{:#}", validate_process(&p, "process").unwrap_err());
        assert!(msg.starts_with("process.cwd: "), "{msg}");
    }

    #[test]
    fn scheduler() {
        let sched = |s: Value| move |v: &mut Value| v["process"]["scheduler"] = s;
        fails(
            sched(json!({"policy": "SCHED_OTHER", "priority": 5})),
            "process.scheduler.priority: ",
        );
        fails(
            sched(json!({"policy": "SCHED_FIFO"})),
            "process.scheduler.priority: ",
        );
        fails(
            sched(json!({"policy": "SCHED_RR", "priority": 100})),
            "process.scheduler.priority: ",
        );
        fails(
            sched(json!({"policy": "SCHED_OTHER", "nice": 20})),
            "process.scheduler.nice: ",
        );
        fails(
            sched(json!({"policy": "SCHED_OTHER", "nice": -21})),
            "process.scheduler.nice: ",
        );
        fails(
            sched(json!({"policy": "SCHED_ISO"})),
            "process.scheduler.policy: ",
        );
        fails(
            sched(json!({"policy": "SCHED_BATCH", "runtime": 5})),
            "process.scheduler.runtime: ",
        );
        fails(
            sched(json!({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 1000})),
            "process.scheduler.deadline: ",
        );
        fails(
            sched(json!({"policy": "SCHED_DEADLINE"})),
            "process.scheduler.runtime: ",
        );
    }

    #[test]
    fn rlimits() {
        fails(
            |v| {
                v["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10},
                    {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                    {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 20}
                ])
            },
            "process.rlimits[2].type: duplicate RLIMIT_NOFILE",
        );
        fails(
            |v| v["process"]["rlimits"] = json!([{"type": "RLIMIT_CORE", "hard": 1, "soft": 2}]),
            "process.rlimits[0].soft: ",
        );
    }

    #[test]
    fn uts() {
        fails(|v| drop(ns(v).remove(3)), "hostname: ");
        fails(
            |v| {
                drop(ns(v).remove(3));
                v.as_object_mut().unwrap().remove("hostname");
                v["domainname"] = json!("example.org");
                v["linux"]["sysctl"] = json!({});
            },
            "domainname: ",
        );
    }

    #[test]
    fn namespaces() {
        fails(
            |v| ns(v).push(json!({"type": "pid"})),
            "linux.namespaces[5].type: duplicate pid",
        );
        fails(
            |v| ns(v)[1] = json!({"type": "network", "path": "/nonexistent/ns"}),
            "linux.namespaces[1].path: /nonexistent/ns: no such file",
        );
        fails(
            |v| ns(v)[1] = json!({"type": "network", "path": "/etc/hostname"}),
            "linux.namespaces[1].path: /etc/hostname: not a namespace file",
        );
        fails(
            |v| ns(v)[1] = json!({"type": "network", "path": "/proc/self/ns/ipc"}),
            "linux.namespaces[1].path: /proc/self/ns/ipc: is a namespace of type ipc, not network",
        );
        fails(
            |v| ns(v)[1] = json!({"type": "network", "path": "proc/self/ns/net"}),
            "linux.namespaces[1].path: must be an absolute path",
        );
    }

    #[test]
    fn user_and_time() {
        fails(
            |v| v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]),
            "linux.uidMappings: given without a user namespace",
        );
        fails(
            |v| v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]),
            "linux.gidMappings: given without a user namespace",
        );
        fails(
            |v| ns(v).push(json!({"type": "user"})),
            "linux.uidMappings: missing",
        );
        fails(
            |v| {
                ns(v).push(json!({"type": "user"}));
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            },
            "linux.gidMappings: missing",
        );
        fails(
            |v| {
                ns(v).push(json!({"type": "user"}));
                v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 0}]);
                v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            },
            "linux.uidMappings[0].size: ",
        );
        fails(
            |v| v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}}),
            "linux.timeOffsets: given without a new time namespace",
        );
        fails(
            |v| {
                ns(v).push(json!({"type": "time"}));
                v["linux"]["timeOffsets"] = json!({"realtime": {"secs": 1}});
            },
            "linux.timeOffsets.realtime: ",
        );
    }

    #[test]
    fn mounts() {
        let mount = |m: Value| move |v: &mut Value| v["mounts"].as_array_mut().unwrap().push(m);
        fails(
            mount(json!({"destination": "relative", "type": "tmpfs", "source": "tmpfs"})),
            "mounts[3].destination: must be an absolute path",
        );
        fails(
            mount(json!({"destination": "/", "type": "tmpfs", "source": "tmpfs"})),
            "mounts[3].destination: ",
        );
        fails(
            mount(json!({"destination": "/x", "type": "bind", "source": "/nonexistent/src"})),
            "mounts[3].source: /nonexistent/src: no such file or directory",
        );
        fails(
            mount(json!({"destination": "/x", "source": "nope", "options": ["rbind"]})),
            "mounts[3].source: ",
        );
        fails(
            mount(json!({"destination": "/x", "type": "bind", "options": ["rbind"]})),
            "mounts[3].source: missing",
        );
        fails(
            mount(json!({"destination": "/x", "source": "tmpfs"})),
            "mounts[3].type: missing",
        );
        fails(
            mount(
                json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                         "options": ["private", "nosuid", "shared"]}),
            ),
            "mounts[3].options[2]: propagation \"shared\" conflicts with \"private\"",
        );
        // Options-only bind mount with a relative source (the bundle's afile) passes.
        assert_eq!(
            check(mount(
                json!({"destination": "/y", "source": "afile", "options": ["bind"]})
            )),
            None
        );
    }

    #[test]
    fn devices() {
        let dev = |d: Value| move |v: &mut Value| v["linux"]["devices"] = json!([d]);
        fails(
            dev(json!({"path": "/tmp/fuse", "type": "c", "major": 10, "minor": 229})),
            "linux.devices[0].path: must be under /dev",
        );
        fails(
            dev(json!({"path": "/dev/../etc/x", "type": "c", "major": 10, "minor": 229})),
            "linux.devices[0].path: ",
        );
        fails(
            dev(json!({"path": "/dev/x", "type": "a", "major": 10, "minor": 229})),
            "linux.devices[0].type: ",
        );
        fails(
            dev(json!({"path": "/dev/x", "type": "b"})),
            "linux.devices[0].major: ",
        );
        fails(
            dev(
                json!({"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o10666}),
            ),
            "linux.devices[0].fileMode: ",
        );
        fails(
            dev(
                json!({"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o1020666}),
            ),
            "linux.devices[0].fileMode: ",
        );
        // st_mode of the host node, as podman passes it: the type matches, accepted.
        assert_eq!(
            check(dev(
                json!({"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20666})
            )),
            None
        );
        assert_eq!(check(dev(json!({"path": "/dev/fifo", "type": "p"}))), None);
    }

    #[test]
    fn sysctl() {
        let sysctl = |k: &str| {
            let k = k.to_string();
            move |v: &mut Value| v["linux"]["sysctl"] = json!({ k: "1" })
        };
        fails(
            sysctl("vm.swappiness"),
            "linux.sysctl.vm.swappiness: not namespaced, refused",
        );
        fails(
            sysctl("kernel.core_pattern"),
            "linux.sysctl.kernel.core_pattern: not namespaced",
        );
        fails(sysctl("net..ipv4"), "linux.sysctl.net..ipv4: malformed");
        fails(
            sysctl("net/ipv4/../../kernel/x"),
            "linux.sysctl.net/ipv4/../../kernel/x: malformed",
        );
        fails(
            sysctl("kernel.hostname"),
            "linux.sysctl.kernel.hostname: conflicts",
        );
        let without = |i: usize, k: &'static str| {
            move |v: &mut Value| {
                ns(v).remove(i);
                v["linux"]["sysctl"] = json!({ k: "1" });
                v.as_object_mut().unwrap().remove("hostname");
            }
        };
        fails(
            without(1, "net.ipv4.ip_forward"),
            "linux.sysctl.net.ipv4.ip_forward: needs a network namespace",
        );
        fails(
            without(2, "kernel.shmmax"),
            "linux.sysctl.kernel.shmmax: needs an ipc namespace",
        );
        fails(
            without(2, "fs.mqueue.msg_max"),
            "linux.sysctl.fs.mqueue.msg_max: needs an ipc",
        );
        fails(
            without(3, "kernel.domainname"),
            "linux.sysctl.kernel.domainname: needs a uts",
        );
        fails(
            |v| {
                ns(v)[1] = json!({"type": "network", "path": "/proc/self/ns/net"});
                v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            },
            "linux.sysctl.net.ipv4.ip_forward: the joined network namespace is the host's",
        );
    }

    #[test]
    fn paths_hooks_cgroups() {
        fails(
            |v| v["linux"]["maskedPaths"] = json!(["/ok", "proc/kcore"]),
            "linux.maskedPaths[1]: ",
        );
        fails(
            |v| v["linux"]["readonlyPaths"] = json!(["sys"]),
            "linux.readonlyPaths[0]: ",
        );
        fails(
            |v| drop(ns(v).remove(4)),
            "linux.maskedPaths: needs a mount namespace",
        );
        fails(
            |v| v["hooks"]["prestart"] = json!([{"path": "true"}]),
            "hooks.prestart[0].path: must be an absolute path",
        );
        fails(
            |v| {
                v["hooks"]["poststop"] =
                    json!([{"path": "/bin/true"}, {"path": "/bin/true", "timeout": 0}])
            },
            "hooks.poststop[1].timeout: must be > 0",
        );
        fails(
            |v| v["hooks"]["createRuntime"] = json!([{"path": "/bin/true", "timeout": -3}]),
            "hooks.createRuntime[0].timeout: ",
        );
        fails(
            |v| v["linux"]["cgroupsPath"] = json!("/rt-test/../../x"),
            "linux.cgroupsPath: ",
        );
        fails(
            |v| v["linux"]["cgroupsPath"] = json!("a/.."),
            "linux.cgroupsPath: ",
        );
    }

    #[test]
    fn resources() {
        let res = |path: &'static [&'static str], val: Value| {
            move |v: &mut Value| {
                let mut cur = &mut v["linux"]["resources"];
                for p in path {
                    cur = &mut cur[*p];
                }
                *cur = val;
            }
        };
        fails(
            res(&["pids", "limit"], json!(-2)),
            "linux.resources.pids.limit: ",
        );
        fails(
            res(&["cpu", "shares"], json!(1)),
            "linux.resources.cpu.shares: ",
        );
        fails(
            res(&["cpu", "shares"], json!(300000)),
            "linux.resources.cpu.shares: ",
        );
        fails(
            res(&["cpu", "quota"], json!(-5)),
            "linux.resources.cpu.quota: ",
        );
        fails(
            res(&["cpu", "quota"], json!(500)),
            "linux.resources.cpu.quota: ",
        );
        fails(
            res(&["cpu", "period"], json!(10)),
            "linux.resources.cpu.period: ",
        );
        fails(
            res(&["cpu", "cpus"], json!("0-")),
            "linux.resources.cpu.cpus: ",
        );
        fails(
            res(&["cpu", "mems"], json!("3-1")),
            "linux.resources.cpu.mems: ",
        );
        fails(
            res(&["cpu", "idle"], json!(2)),
            "linux.resources.cpu.idle: ",
        );
        fails(
            res(&["memory", "limit"], json!(-2)),
            "linux.resources.memory.limit: ",
        );
        fails(
            res(&["memory", "swap"], json!(10)),
            "linux.resources.memory.swap: ",
        );
        fails(
            res(&["memory", "swappiness"], json!(101)),
            "linux.resources.memory.swappiness: ",
        );
        fails(
            res(&["blockIO"], json!({"weight": 1001})),
            "linux.resources.blockIO.weight: ",
        );
        fails(
            res(
                &["hugepageLimits"],
                json!([{"pageSize": "2XB", "limit": 1}]),
            ),
            "linux.resources.hugepageLimits[0].pageSize: ",
        );
        fails(
            res(&["devices"], json!([{"allow": true, "access": "rwx"}])),
            "linux.resources.devices[0].access: ",
        );
        fails(
            res(&["unified"], json!({"../x": "1"})),
            "linux.resources.unified.../x: ",
        );
    }

    #[test]
    fn personality_and_propagation() {
        fails(
            |v| v["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["X"]}),
            "linux.personality.flags: ",
        );
        fails(
            |v| v["linux"]["rootfsPropagation"] = json!("bogus"),
            "linux.rootfsPropagation: ",
        );
        assert_eq!(
            check(|v| v["linux"]["rootfsPropagation"] = json!("rslave")),
            None
        );
    }

    /// What spec::parse already rejects, with the path: the validator never sees these.
    #[test]
    fn parse_reports_type_errors_with_path() {
        let parse_err = |edit: &dyn Fn(&mut Value)| {
            let mut v = base();
            edit(&mut v);
            format!(
                "{:#}",
                crate::spec::parse(v.to_string().as_bytes()).unwrap_err()
            )
        };
        let m = parse_err(&|v| v["linux"]["namespaces"][0]["type"] = json!("bogus"));
        assert!(
            m.starts_with("config.json: linux.namespaces[0].type: "),
            "{m}"
        );
        let m = parse_err(&|v| v["process"]["capabilities"]["bounding"] = json!(["CAP_BOGUS"]));
        assert!(m.contains("process.capabilities.bounding"), "{m}");
        let m = parse_err(&|v| v["linux"]["personality"] = json!({"domain": "BSD"}));
        assert!(m.contains("linux.personality.domain"), "{m}");
        let m = parse_err(&|v| v["process"]["oomScoreAdj"] = json!("high"));
        assert!(m.contains("process.oomScoreAdj"), "{m}");
    }
}
