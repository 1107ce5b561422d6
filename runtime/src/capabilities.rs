//! process.capabilities: the five sets (bounding, effective, inheritable, permitted, ambient).
//!
//! Contract (called by `container::init::lock_down`, which `exec` shares, in this order):
//! 1. `drop_bounding(caps)` while still uid 0 with full capabilities;
//! 2. the uid/gid switch in `process::set_user` (which keeps permitted caps across setuid);
//! 3. `apply(caps)` sets effective, permitted, inheritable, then raises ambient.
//!
//! Errors name the JSON path. oci-spec's parser rejects unknown capability names (with
//! the path, e.g. `process.capabilities.bounding[2]`), but it parses each set into a
//! HashSet, so the JSON order (and index) of an entry is lost by the time we see it:
//! errors here name the set and the capability, e.g. `process.capabilities.ambient:
//! CAP_NET_RAW ...`.
//!
//! An absent set means an empty set (runc). Capabilities the running kernel does not know
//! (above /proc/sys/kernel/cap_last_cap) are skipped.
use crate::sys::seccomp as sys;
use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use std::sync::OnceLock;

/// The kernel's number for a capability (include/uapi/linux/capability.h).
pub fn index(c: Capability) -> u8 {
    use Capability::*;
    match c {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// `CAP_...` name of a kernel capability number (for messages).
fn name(idx: u8) -> String {
    const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    match NAMES.get(usize::from(idx)) {
        Some(n) => format!("CAP_{n}"),
        None => format!("capability {idx}"),
    }
}

fn names(mask: u64) -> String {
    (0..64u8)
        .filter(|i| mask & (1 << i) != 0)
        .map(name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The highest capability number the running kernel knows (cap_last_cap), found with
/// PR_CAPBSET_READ (EINVAL above it), so /proc is not needed.
pub fn last_cap() -> u8 {
    static LAST: OnceLock<u8> = OnceLock::new();
    *LAST.get_or_init(|| {
        let known = |c: u8| sys::capbset_read(c).is_ok();
        let mut last = index(Capability::CheckpointRestore);
        if known(last) {
            while last < 63 && known(last + 1) {
                last += 1;
            }
        } else {
            while last > 0 && !known(last) {
                last -= 1;
            }
        }
        last
    })
}

/// Mask of the capabilities in `set` the running kernel knows.
fn mask(set: &Option<Capabilities>, last: u8) -> u64 {
    set.iter()
        .flatten()
        .map(|c| index(*c))
        .filter(|&i| i <= last)
        .fold(0, |m, i| m | (1u64 << i))
}

/// All five sets absent, i.e. empty: what an absent `process.capabilities` means (runc
/// then runs the process with no capabilities at all). `LinuxCapabilities::default()`
/// is not this: it holds oci-spec's three default capabilities.
pub fn empty() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None)
        .set_effective(None)
        .set_inheritable(None)
        .set_permitted(None)
        .set_ambient(None);
    c
}

/// Drops from the bounding set every capability not in `bounding` (PR_CAPBSET_DROP).
/// Needs CAP_SETPCAP, so it runs before the uid switch.
pub fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let last = last_cap();
    let keep = mask(caps.bounding(), last);
    for cap in 0..=last {
        if keep & (1 << cap) != 0 {
            continue;
        }
        sys::capbset_drop(cap).map_err(|e| {
            anyhow!(
                "process.capabilities.bounding: dropping {} from the bounding set: {e}",
                name(cap)
            )
        })?;
    }
    Ok(())
}

/// Sets inheritable, permitted and effective (one capset), then the ambient set.
/// Runs after the uid switch (which keeps the permitted set with PR_SET_KEEPCAPS).
pub fn apply(caps: &LinuxCapabilities) -> Result<()> {
    let last = last_cap();
    let want = sys::CapSets {
        effective: mask(caps.effective(), last),
        permitted: mask(caps.permitted(), last),
        inheritable: mask(caps.inheritable(), last),
    };
    let extra = want.effective & !want.permitted;
    if extra != 0 {
        bail!(
            "process.capabilities.effective: {} not in process.capabilities.permitted \
             (the effective set must be a subset of the permitted set)",
            names(extra)
        );
    }
    // The kernel refuses an ambient capability outside permitted ∩ inheritable. runc
    // skips such entries silently, and its own `runc spec` default lists ambient caps
    // without inheritable ones: skipped, with a debug line (a warning would go to the
    // container's stderr for every default config).
    let mut ambient = mask(caps.ambient(), last);
    let missing = ambient & !(want.permitted & want.inheritable);
    if missing != 0 {
        crate::logging::debug(&format!(
            "process.capabilities.ambient: {} not raised: an ambient capability must also be \
             in process.capabilities.permitted and process.capabilities.inheritable",
            names(missing)
        ));
        ambient &= !missing;
    }

    if let Err(e) = sys::capset(want) {
        return Err(capset_error(e, want));
    }

    // The kernel already dropped ambient capabilities outside permitted ∩ inheritable;
    // clear the rest so only the configured ones remain.
    sys::ambient_clear_all()
        .map_err(|e| anyhow!("process.capabilities.ambient: clearing the ambient set: {e}"))?;
    for cap in (0..=last).filter(|c| ambient & (1 << c) != 0) {
        sys::ambient_raise(cap).map_err(|e| {
            anyhow!(
                "process.capabilities.ambient: raising {} in the ambient set: {e}",
                name(cap)
            )
        })?;
    }
    Ok(())
}

/// A capset failure, saying which configured capabilities rt itself lacks.
fn capset_error(e: std::io::Error, want: sys::CapSets) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::EPERM) {
        if let Ok(have) = sys::capget() {
            let lacking = want.permitted & !have.permitted;
            if lacking != 0 {
                return anyhow!(
                    "process.capabilities.permitted: {} not held by the runtime, cannot grant: {e}",
                    names(lacking)
                );
            }
            let lacking = want.inheritable & !(have.inheritable | have.permitted);
            if lacking != 0 {
                return anyhow!(
                    "process.capabilities.inheritable: {} not held by the runtime, cannot grant: {e}",
                    names(lacking)
                );
            }
            let bounding = (0..=last_cap())
                .filter(|&c| sys::capbset_read(c).unwrap_or(false))
                .fold(0u64, |m, c| m | (1 << c));
            let lacking = want.inheritable & !(have.inheritable | bounding);
            if lacking != 0 {
                return anyhow!(
                    "process.capabilities.inheritable: {} not in process.capabilities.bounding \
                     (an inheritable capability must be in the bounding set): {e}",
                    names(lacking)
                );
            }
        }
    }
    anyhow!("process.capabilities: capset: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::testutil::{assert_ok, in_child};
    use serde_json::json;

    fn caps(v: serde_json::Value) -> LinuxCapabilities {
        serde_json::from_value(v).unwrap()
    }

    fn status_field(status: &str, key: &str) -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(u64::MAX)
    }

    fn bits(list: &[u8]) -> u64 {
        list.iter().fold(0, |m, &c| m | (1 << c))
    }

    /// Compares the Cap* lines of a /proc/<pid>/status text with the wanted masks.
    fn check(status: &str, want: [(&str, u64); 5]) -> Result<(), String> {
        for (k, v) in want {
            let got = status_field(status, k);
            if got != v {
                return Err(format!("{k} {got:016x}, want {v:016x}\n{status}"));
            }
        }
        Ok(())
    }

    fn own_status() -> Result<String, String> {
        std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())
    }

    /// uid/gid switch as process::set_user does it (keeping permitted caps).
    fn become_user(uid: u32) -> Result<(), String> {
        // SAFETY: prctl/setres[ug]id with integer arguments.
        unsafe {
            if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0
                || libc::setresgid(uid, uid, uid) != 0
                || libc::setresuid(uid, uid, uid) != 0
            {
                return Err(std::io::Error::last_os_error().to_string());
            }
        }
        Ok(())
    }

    /// In a child: `setup`, then exec busybox cat /proc/self/status; returns its output.
    fn status_after_exec(setup: impl FnOnce() -> Result<(), String>) -> String {
        use nix::unistd::{dup2, execv, pipe};
        use std::ffi::CString;
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (r, w) = pipe().unwrap();
        // SAFETY: the child only sets up and execs.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(r);
                if let Err(e) = setup() {
                    eprintln!("setup: {e}");
                    // SAFETY: leaving the forked child.
                    unsafe { libc::_exit(1) }
                }
                let _ = dup2(w.as_raw_fd(), 1);
                let argv = [c"cat", c"/proc/self/status"].map(CString::from);
                let _ = execv(c"/bin/busybox", &argv);
                // SAFETY: leaving the forked child.
                unsafe { libc::_exit(127) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(w);
                let mut out = String::new();
                std::fs::File::from(r).read_to_string(&mut out).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                out
            }
        }
    }

    #[test]
    fn last_cap_matches_proc() {
        let proc: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(last_cap(), proc);
    }

    #[test]
    fn five_sets_as_root() {
        let c = caps(json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETPCAP"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_KILL"],
            "inheritable": ["CAP_CHOWN", "CAP_NET_RAW"],
            "ambient": ["CAP_NET_RAW"]
        }));
        assert_ok(in_child(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            apply(&c).map_err(|e| format!("{e:#}"))?;
            check(
                &own_status()?,
                [
                    ("CapBnd:", bits(&[0, 5, 8, 13])),
                    ("CapPrm:", bits(&[0, 5, 13])),
                    ("CapEff:", bits(&[5])),
                    ("CapInh:", bits(&[0, 13])),
                    ("CapAmb:", bits(&[13])),
                ],
            )
        }));
    }

    #[test]
    fn absent_sets_are_empty() {
        let c = caps(json!({}));
        assert_ok(in_child(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            apply(&c).map_err(|e| format!("{e:#}"))?;
            check(
                &own_status()?,
                [
                    ("CapBnd:", 0),
                    ("CapPrm:", 0),
                    ("CapEff:", 0),
                    ("CapInh:", 0),
                    ("CapAmb:", 0),
                ],
            )
        }));
    }

    #[test]
    fn empty_has_no_sets() {
        let c = empty();
        assert!(c.bounding().is_none() && c.effective().is_none() && c.ambient().is_none());
        assert!(c.permitted().is_none() && c.inheritable().is_none());
    }

    #[test]
    fn non_root_user_with_ambient_keeps_them_across_exec() {
        let c = caps(json!({
            "bounding": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"],
            "permitted": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"],
            "effective": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"],
            "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "ambient": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
        }));
        let out = status_after_exec(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            become_user(1000)?;
            apply(&c).map_err(|e| format!("{e:#}"))
        });
        let amb = bits(&[10, 13]);
        check(
            &out,
            [
                ("CapBnd:", bits(&[5, 10, 13])),
                ("CapPrm:", amb),
                ("CapEff:", amb),
                ("CapInh:", amb),
                ("CapAmb:", amb),
            ],
        )
        .unwrap();
        assert!(out.contains("Uid:\t1000\t1000\t1000\t1000"), "{out}");
    }

    #[test]
    fn non_root_user_without_ambient_has_none_after_exec() {
        let c = caps(json!({
            "bounding": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]
        }));
        let out = status_after_exec(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            become_user(1000)?;
            apply(&c).map_err(|e| format!("{e:#}"))
        });
        check(
            &out,
            [
                ("CapBnd:", bits(&[0])),
                ("CapPrm:", 0),
                ("CapEff:", 0),
                ("CapInh:", 0),
                ("CapAmb:", 0),
            ],
        )
        .unwrap();
    }

    #[test]
    fn ambient_outside_permitted_and_inheritable_is_skipped() {
        // runc's own default spec: ambient = permitted, no inheritable.
        let c = caps(json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_CHOWN"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"]
        }));
        assert_ok(in_child(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            apply(&c).map_err(|e| format!("{e:#}"))?;
            check(
                &own_status()?,
                [
                    ("CapBnd:", bits(&[0, 5])),
                    ("CapPrm:", bits(&[0, 5])),
                    ("CapEff:", bits(&[0, 5])),
                    ("CapInh:", bits(&[0])),
                    ("CapAmb:", bits(&[0])),
                ],
            )
        }));
    }

    #[test]
    fn dropping_cap_chown_makes_chown_fail() {
        let dir = std::env::temp_dir().join(format!("rt-caps-test-{}", std::process::id()));
        std::fs::write(&dir, b"").unwrap();
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let c = caps(json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "effective": ["CAP_KILL"]}));
        let res = in_child(|| {
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            apply(&c).map_err(|e| format!("{e:#}"))?;
            // Root without CAP_CHOWN cannot give the file away.
            // SAFETY: valid C string.
            let r = unsafe { libc::chown(path.as_ptr(), 1000, 1000) };
            let e = std::io::Error::last_os_error();
            if r == 0 || e.raw_os_error() != Some(libc::EPERM) {
                return Err(format!("chown: {r} {e}"));
            }
            Ok(())
        });
        let _ = std::fs::remove_file(&dir);
        assert_ok(res);
    }

    #[test]
    fn errors_name_the_set() {
        let res = in_child(|| {
            let c =
                caps(json!({"permitted": ["CAP_KILL"], "effective": ["CAP_KILL", "CAP_MKNOD"]}));
            let e = format!("{:#}", apply(&c).unwrap_err());
            if !e.starts_with("process.capabilities.effective: CAP_MKNOD") {
                return Err(e);
            }
            // The host's root lacks CAP_SYS_RESOURCE; ask for a cap the process lacks.
            let mut have = sys::capget().map_err(|e| e.to_string())?;
            have.permitted &= !(1 << 27);
            have.effective &= !(1 << 27);
            sys::capset(have).map_err(|e| e.to_string())?;
            let c = caps(json!({"permitted": ["CAP_MKNOD"]}));
            let e = format!("{:#}", apply(&c).unwrap_err());
            if !e.starts_with("process.capabilities.permitted: CAP_MKNOD") {
                return Err(e);
            }
            // An inheritable cap outside the bounding set.
            let c = caps(json!({"bounding": ["CAP_KILL"]}));
            drop_bounding(&c).map_err(|e| format!("{e:#}"))?;
            let c =
                caps(json!({"permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL", "CAP_CHOWN"]}));
            let e = format!("{:#}", apply(&c).unwrap_err());
            if !e.starts_with("process.capabilities.inheritable: CAP_CHOWN") {
                return Err(e);
            }
            Ok(())
        });
        assert_ok(res);
    }
}
