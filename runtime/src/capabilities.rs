//! process.capabilities: the five sets (bounding, effective, inheritable, permitted, ambient).
//!
//! Contract (called by `container::init` and `container::exec`, in this order):
//! 1. `drop_bounding(caps)` while still uid 0 with full capabilities;
//! 2. the uid/gid switch in `process::set_user` (which keeps permitted caps across setuid);
//! 3. `apply(caps)` sets effective, permitted, inheritable, then raises ambient.
//! `validate` names the JSON path of an unknown capability
//! (`process.capabilities.bounding[2]`); oci-spec's parser already rejects most.
//!
//! An absent set means an empty set (runc). Capabilities the running kernel does not know
//! (above /proc/sys/kernel/cap_last_cap) are skipped. oci-spec parses each set into a
//! HashSet, so the JSON order (and index) of an entry is lost: errors name the set and
//! the capability, e.g. `process.capabilities.ambient: CAP_NET_RAW ...`.
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
    let ambient = mask(caps.ambient(), last);
    let missing = ambient & !(want.permitted & want.inheritable);
    if missing != 0 {
        bail!(
            "process.capabilities.ambient: {} must also be in process.capabilities.permitted \
             and process.capabilities.inheritable",
            names(missing)
        );
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
