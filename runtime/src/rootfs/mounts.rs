//! `mounts[]`: option parsing and mounting each entry inside the rootfs.
use super::paths::{create_in_root, Kind};
use crate::cgroups::Cgroup;
use crate::sys;
use crate::Result;
use anyhow::{anyhow, bail};
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// A mount's options, split the way the kernel wants them.
#[derive(Debug)]
pub struct Options {
    /// Flags for mount(2) itself.
    pub flags: MsFlags,
    /// Flags cleared explicitly ("rw", "suid", ...) — matters for bind remounts.
    pub cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (rro, rnosuid, ...): mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// Everything else goes to the filesystem as data ("size=64m,mode=755").
    pub data: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            data: Vec::new(),
        }
    }
}

impl Options {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Parse runc's mount options. Unknown ones are filesystem data, as in runc.
pub fn parse_options(options: &[String]) -> Result<Options> {
    let mut o = Options::default();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "acl" => (MsFlags::MS_POSIXACL, MsFlags::empty()),
            "noacl" => (MsFlags::empty(), MsFlags::MS_POSIXACL),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "nosymfollow" => (
                MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
                MsFlags::empty(),
            ),
            "symfollow" => (
                MsFlags::empty(),
                MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
            ),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                o.propagation
                    .push(propagation_flag(opt).unwrap_or(MsFlags::MS_PRIVATE));
                continue;
            }
            "rro" => {
                o.rec_set |= sys::MOUNT_ATTR_RDONLY;
                continue;
            }
            "rrw" => {
                o.rec_clear |= sys::MOUNT_ATTR_RDONLY;
                continue;
            }
            "rnosuid" => {
                o.rec_set |= sys::MOUNT_ATTR_NOSUID;
                continue;
            }
            "rsuid" => {
                o.rec_clear |= sys::MOUNT_ATTR_NOSUID;
                continue;
            }
            "rnodev" => {
                o.rec_set |= sys::MOUNT_ATTR_NODEV;
                continue;
            }
            "rdev" => {
                o.rec_clear |= sys::MOUNT_ATTR_NODEV;
                continue;
            }
            "rnoexec" => {
                o.rec_set |= sys::MOUNT_ATTR_NOEXEC;
                continue;
            }
            "rexec" => {
                o.rec_clear |= sys::MOUNT_ATTR_NOEXEC;
                continue;
            }
            "rnosymfollow" => {
                o.rec_set |= sys::MOUNT_ATTR_NOSYMFOLLOW;
                continue;
            }
            "rsymfollow" => {
                o.rec_clear |= sys::MOUNT_ATTR_NOSYMFOLLOW;
                continue;
            }
            "rnoatime" => {
                o.rec_set |= sys::MOUNT_ATTR_NOATIME;
                o.rec_clear |= sys::MOUNT_ATTR__ATIME;
                continue;
            }
            "rstrictatime" => {
                o.rec_set |= sys::MOUNT_ATTR_STRICTATIME;
                o.rec_clear |= sys::MOUNT_ATTR__ATIME;
                continue;
            }
            "rrelatime" => {
                o.rec_clear |= sys::MOUNT_ATTR__ATIME;
                continue;
            }
            "rnorelatime" | "ratime" => {
                o.rec_set |= sys::MOUNT_ATTR_STRICTATIME;
                o.rec_clear |= sys::MOUNT_ATTR__ATIME;
                continue;
            }
            "rnostrictatime" => {
                o.rec_clear |= sys::MOUNT_ATTR__ATIME;
                continue;
            }
            "rnodiratime" => {
                o.rec_set |= sys::MOUNT_ATTR_NODIRATIME;
                continue;
            }
            "rdiratime" => {
                o.rec_clear |= sys::MOUNT_ATTR_NODIRATIME;
                continue;
            }
            "tmpcopyup" => continue,
            "idmap" | "ridmap" => bail!("option {opt:?}: id-mapped mounts are not supported yet"),
            _ => {
                o.data.push(opt.clone());
                continue;
            }
        };
        o.flags |= set;
        o.flags &= !clear;
        o.cleared |= clear;
    }
    Ok(o)
}

/// Every option `parse_options` understands (the rest is filesystem data); `features` lists them.
pub const KNOWN_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

const ATTR_FLAGS: [(MsFlags, u64); 4] = [
    (MsFlags::MS_RDONLY, sys::MOUNT_ATTR_RDONLY),
    (MsFlags::MS_NOSUID, sys::MOUNT_ATTR_NOSUID),
    (MsFlags::MS_NODEV, sys::MOUNT_ATTR_NODEV),
    (MsFlags::MS_NOEXEC, sys::MOUNT_ATTR_NOEXEC),
];

fn none() -> Option<&'static str> {
    None
}

/// Mount one `mounts[i]` entry inside the rootfs (before pivot_root).
pub fn mount_entry(root: BorrowedFd, index: usize, m: &Mount, cgroup: &Cgroup) -> Result<()> {
    let field = format!("mounts[{index}]");
    let dest = m.destination();
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]))
        .map_err(|e| anyhow!("{field}.options: {e}"))?;
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if opts.is_bind() { "bind" } else { "" });
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let bind = opts.is_bind() || typ == "bind";

    let kind = if bind && !source.is_dir() {
        Kind::File
    } else {
        Kind::Dir
    };
    if bind && !source.exists() {
        bail!(
            "{field}.source: {}: no such file or directory",
            source.display()
        );
    }
    let target =
        create_in_root(root, dest, kind).map_err(|e| anyhow!("{field}.destination: {e}"))?;
    let tpath = sys::fd_path(&target);
    let err = |what: &str, e: nix::Error| {
        anyhow!(
            "{field}: {what} {} on {}: {e}",
            source.display(),
            dest.display()
        )
    };

    if typ == "cgroup" {
        return mount_cgroup(root, &field, &tpath, &opts, cgroup, dest);
    }
    if bind {
        let rec = opts.flags & MsFlags::MS_REC;
        mount(
            Some(&source),
            &tpath,
            none(),
            MsFlags::MS_BIND | rec,
            none(),
        )
        .map_err(|e| err("bind-mounting", e))?;
        // Re-open: the fd still points at the covered directory, not the new mount.
        let target = super::paths::open_in_root(root, dest, libc::O_PATH)?;
        let (set, clear) = attrs(&opts);
        if set != 0 || clear != 0 {
            sys::mount_setattr(target.as_raw_fd(), Path::new(""), false, set, clear, 0)
                .map_err(|e| anyhow!("{field}: setting options on {}: {e}", dest.display()))?;
        }
        return finish(&field, &target, &opts, dest);
    }
    let data = opts.data.join(",");
    let data = (!data.is_empty()).then_some(data.as_str());
    match mount(Some(&source), &tpath, Some(typ), opts.flags, data) {
        Ok(()) => {}
        // sysfs can't be mounted in a user namespace without its own network namespace:
        // bind the host's instead, as runc does.
        Err(nix::Error::EPERM) if typ == "sysfs" => {
            mount(
                Some("/sys"),
                &tpath,
                none(),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none(),
            )
            .map_err(|e| err("bind-mounting /sys as", e))?;
        }
        Err(e) => return Err(err(&format!("mounting {typ}"), e)),
    }
    let target = super::paths::open_in_root(root, dest, libc::O_PATH)?;
    finish(&field, &target, &opts, dest)
}

fn attrs(opts: &Options) -> (u64, u64) {
    let (mut set, mut clear) = (0, 0);
    for (flag, attr) in ATTR_FLAGS {
        if opts.flags.contains(flag) {
            set |= attr;
        }
        if opts.cleared.contains(flag) {
            clear |= attr;
        }
    }
    (set, clear)
}

/// Recursive attributes and propagation, applied to the mount just made.
fn finish(field: &str, target: &impl AsRawFd, opts: &Options, dest: &Path) -> Result<()> {
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        sys::mount_setattr(
            target.as_raw_fd(),
            Path::new(""),
            true,
            opts.rec_set,
            opts.rec_clear,
            0,
        )
        .map_err(|e| {
            anyhow!(
                "{field}.options: recursive attributes on {}: {e}",
                dest.display()
            )
        })?;
    }
    let tpath = sys::fd_path(target);
    for p in &opts.propagation {
        mount(none(), &tpath, none(), *p, none())
            .map_err(|e| anyhow!("{field}.options: propagation on {}: {e}", dest.display()))?;
    }
    Ok(())
}

/// `type: cgroup`: a read-only view of the container's own cgroups.
fn mount_cgroup(
    root: BorrowedFd,
    field: &str,
    tpath: &Path,
    opts: &Options,
    cgroup: &Cgroup,
    dest: &Path,
) -> Result<()> {
    let sources = cgroup.mount_sources();
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let ro_attrs = sys::MOUNT_ATTR_RDONLY
        | sys::MOUNT_ATTR_NOSUID
        | sys::MOUNT_ATTR_NODEV
        | sys::MOUNT_ATTR_NOEXEC;
    if sources.len() == 1 && sources[0].1.is_empty() {
        // cgroup v2: bind the container's cgroup directory.
        mount(Some(&sources[0].0), tpath, none(), MsFlags::MS_BIND, none())
            .map_err(|e| anyhow!("{field}: binding cgroup on {}: {e}", dest.display()))?;
    } else {
        mount(Some("tmpfs"), tpath, Some("tmpfs"), base, Some("mode=755"))
            .map_err(|e| anyhow!("{field}: tmpfs for cgroups on {}: {e}", dest.display()))?;
        for (src, name) in &sources {
            let sub = dest.join(name);
            let t = create_in_root(root, &sub, Kind::Dir)?;
            mount(
                Some(src),
                &sys::fd_path(&t),
                none(),
                MsFlags::MS_BIND,
                none(),
            )
            .map_err(|e| {
                anyhow!(
                    "{field}: binding {} on {}: {e}",
                    src.display(),
                    sub.display()
                )
            })?;
            if ro {
                let t = super::paths::open_in_root(root, &sub, libc::O_PATH)?;
                sys::mount_setattr(t.as_raw_fd(), Path::new(""), false, ro_attrs, 0, 0)
                    .map_err(|e| anyhow!("{field}: read-only {}: {e}", sub.display()))?;
            }
        }
    }
    if ro {
        let t = super::paths::open_in_root(root, dest, libc::O_PATH)?;
        sys::mount_setattr(
            t.as_raw_fd(),
            Path::new(""),
            false,
            sys::MOUNT_ATTR_RDONLY,
            0,
            0,
        )
        .map_err(|e| anyhow!("{field}: read-only {}: {e}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_option_is_understood() {
        for opt in KNOWN_OPTIONS {
            let o = parse_options(&[opt.to_string()]).expect(opt);
            assert!(o.data.is_empty(), "{opt} fell through to filesystem data");
        }
    }

    #[test]
    fn flags_and_data_split() {
        let o = parse_options(&[
            "nosuid".into(),
            "rro".into(),
            "size=64k".into(),
            "rslave".into(),
            "rbind".into(),
        ])
        .unwrap();
        assert!(o
            .flags
            .contains(MsFlags::MS_NOSUID | MsFlags::MS_BIND | MsFlags::MS_REC));
        assert_eq!(o.rec_set, sys::MOUNT_ATTR_RDONLY);
        assert_eq!(o.data, vec!["size=64k".to_string()]);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let o = parse_options(&["ro".into(), "rw".into()]).unwrap();
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }
}
