//! cgroup v2 (unified): runc's fs2 conversions.
use super::files::{self, write};
use super::{devfilter, Cgroup};
use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources};
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directories from the mount down to the parent of the container's dir.
fn ancestors(mount: &Path, path: &str) -> Vec<PathBuf> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut out = Vec::with_capacity(comps.len());
    let mut cur = mount.to_path_buf();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        out.push(cur.clone());
        cur.push(c);
    }
    if !comps.is_empty() {
        out.push(cur);
    }
    out
}

/// Like runc: in every ancestor, enable in cgroup.subtree_control all the controllers it
/// has (all at once; if refused, one by one; failures are not fatal).
pub(super) fn enable_all_controllers(mount: &Path, path: &str) {
    for dir in ancestors(mount, path) {
        let Some(avail) = files::read_opt(&dir, "cgroup.controllers") else {
            continue;
        };
        if avail.is_empty() {
            continue;
        }
        let all: Vec<String> = avail.split(' ').map(|c| format!("+{c}")).collect();
        if files::write_raw(&dir, "cgroup.subtree_control", &all.join(" ")).is_err() {
            for c in &all {
                let _ = files::write_raw(&dir, "cgroup.subtree_control", c);
            }
        }
    }
}

/// Enable `ctl` ("+hugetlb") in every ancestor's subtree_control; errors name `field`.
pub(super) fn enable_controllers(mount: &Path, path: &str, ctl: &str, field: &str) -> Result<()> {
    for dir in ancestors(mount, path) {
        write(&dir, "cgroup.subtree_control", ctl, field)?;
    }
    Ok(())
}

/// runc's numToStr: 0 is "unset", -1 is "max".
fn num(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// cgroups.ConvertCPUSharesToCgroupV2Value.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// cgroups.ConvertBlkIOToIOWeightValue.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// cgroups.ConvertMemorySwapToCgroupV2Value: the v1 memsw total to memory.swap.max.
pub fn swap_to_v2(swap: i64, limit: i64) -> std::result::Result<i64, String> {
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        return Err("a swap limit needs a memory limit".into());
    }
    if limit < 0 {
        return Err(format!("invalid memory value {limit}"));
    }
    if swap < limit {
        return Err(format!(
            "memory+swap ({swap}) must be >= the memory limit ({limit})"
        ));
    }
    Ok(swap - limit)
}

pub(super) fn apply(cg: &Cgroup, res: Option<&LinuxResources>, creating: bool) -> Result<()> {
    let dir = cg
        .unified_dir()
        .ok_or_else(|| anyhow!("linux.resources: no cgroup2 hierarchy is mounted"))?;
    // Like v1 (and runc), the device filter goes in on create and `update` leaves it;
    // never in the root cgroup.
    if creating && cg.path != "/" {
        devices(&dir, res.and_then(|r| r.devices().as_deref()))?;
    }
    let Some(r) = res else {
        return Ok(());
    };
    if let Some(m) = r.memory() {
        memory(&dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(&dir, c)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let v = files::limit(p.limit());
            write(&dir, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    if let Some(b) = r.block_io() {
        io(&dir, b)?;
    }
    for (i, l) in r.hugepage_limits().iter().flatten().enumerate() {
        files::hugetlb(&dir, i, l.page_size(), l.limit(), true)?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            bail!("linux.resources.network.classID: net_cls/net_prio do not exist on cgroup v2 (use eBPF or tc instead)");
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            bail!("linux.resources.network.priorities: net_cls/net_prio do not exist on cgroup v2 (use eBPF or tc instead)");
        }
    }
    if let Some(rdma) = r.rdma() {
        let mut devs: Vec<_> = rdma.iter().collect();
        devs.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, l) in devs {
            let f = format!("linux.resources.rdma.{dev}");
            write(&dir, "rdma.max", &super::v1::rdma_line(dev, l), &f)?;
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in keys {
            let f = format!("linux.resources.unified.{k}");
            if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
                bail!("{f}: invalid cgroup file name");
            }
            match files::write_raw(&dir, k, v) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let ctl = k.split('.').next().unwrap_or("");
                    bail!(
                        "{f}: {} does not exist (is the {ctl} controller available and enabled?)",
                        dir.join(k).display()
                    );
                }
                Err(e) => return Err(files::werr(&dir, k, v, &f, &e)),
            }
        }
    }
    Ok(())
}

/// Compile "deny all, the config's rules, runc's default allow-list" into an eBPF device
/// program and attach it to the container's cgroup.
fn devices(dir: &Path, rules: Option<&[LinuxDeviceCgroup]>) -> Result<()> {
    const F: &str = "linux.resources.devices";
    let mut list = Vec::new();
    for (i, d) in rules.unwrap_or(&[]).iter().enumerate() {
        let field = format!("{F}[{i}]");
        let Some(rule) = super::v1::device_rule(d, &field)? else {
            continue;
        };
        let r = devfilter::parse(d.allow(), &rule)
            .ok_or_else(|| anyhow!("{field}: invalid device rule {rule:?}"))?;
        list.push(r);
    }
    for rule in super::v1::DEFAULT_ALLOWED_DEVICES {
        list.extend(devfilter::parse(true, rule));
    }
    let insns = devfilter::program(&list);
    let prog = crate::sys::cgroups::bpf_load_device_prog(&insns)
        .map_err(|e| anyhow!("{F}: loading the cgroup v2 device filter (bpf): {e}"))?;
    let cg = std::fs::File::open(dir)
        .map_err(|e| anyhow!("{F}: opening {}: {}", dir.display(), files::errno_text(&e)))?;
    crate::sys::cgroups::bpf_attach_device_prog(
        cg.as_fd(),
        prog.as_fd(),
        crate::sys::cgroups::BPF_F_ALLOW_MULTI,
    )
    .map_err(|e| {
        anyhow!(
            "{F}: attaching the device filter to {}: {}",
            dir.display(),
            files::errno_text(&e)
        )
    })
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    const F: &str = "linux.resources.memory";
    // swappiness has no v2 file, but an out-of-range value is invalid input everywhere:
    // rejected as on v1, so one config does not fail on one host and pass on another.
    if let Some(s) = m.swappiness().filter(|s| *s > 100) {
        bail!("{F}.swappiness: invalid value {s}, the valid range is 0-100");
    }
    let limit = m.limit().unwrap_or(0);
    let swap_in = m.swap().unwrap_or(0);
    if m.check_before_update() == Some(true) && limit > 0 {
        if let Some(cur) = files::read_u64(dir, "memory.current", u64::MAX) {
            if (limit as u64) < cur {
                bail!("{F}.limit: the new limit {limit} is below the current usage {cur} (checkBeforeUpdate)");
            }
        }
    }
    let swap = swap_to_v2(swap_in, limit).map_err(|e| anyhow!("{F}.swap: {e}"))?;
    let mut swap_str = num(swap);
    if swap_str.is_none() && swap == 0 && swap_in > 0 {
        swap_str = Some("0".into()); // swap == limit: no swap at all
    }
    if let Some(v) = swap_str {
        match files::write_raw(dir, "memory.swap.max", &v) {
            Ok(()) => {}
            // No swap accounting: "max" and "0" are what we have anyway.
            Err(e) if e.kind() == ErrorKind::NotFound && (v == "max" || v == "0") => {}
            Err(e) => {
                return Err(files::werr(
                    dir,
                    "memory.swap.max",
                    &v,
                    &format!("{F}.swap"),
                    &e,
                ))
            }
        }
    }
    if let Some(v) = num(limit) {
        write(dir, "memory.max", &v, &format!("{F}.limit"))?;
    }
    if let Some(v) = num(m.reservation().unwrap_or(0)) {
        write(dir, "memory.low", &v, &format!("{F}.reservation"))?;
    }
    // kernel, kernelTCP, swappiness and disableOOMKiller have no v2 files; runc ignores
    // them there too (an out-of-range swappiness is rejected above). Not silently: a
    // warning names each one.
    #[allow(deprecated)]
    let ignored = [
        ("kernel", m.kernel().is_some_and(|v| v != 0)),
        ("kernelTCP", m.kernel_tcp().is_some_and(|v| v != 0)),
        ("swappiness", m.swappiness().is_some()),
        ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
    ];
    for (name, set) in ignored {
        if set {
            crate::logging::warn(&format!(
                "{F}.{name}: has no cgroup v2 equivalent; ignored, as runc does"
            ));
        }
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    const F: &str = "linux.resources.cpu";
    if c.realtime_runtime().is_some_and(|v| v != 0) {
        bail!("{F}.realtimeRuntime: realtime scheduling limits are not supported on cgroup v2");
    }
    if c.realtime_period().is_some_and(|v| v != 0) {
        bail!("{F}.realtimePeriod: realtime scheduling limits are not supported on cgroup v2");
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        let w = shares_to_weight(s);
        write(dir, "cpu.weight", &w.to_string(), &format!("{F}.shares"))?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        let f = if quota != 0 { "quota" } else { "period" };
        write(dir, "cpu.max", &v, &format!("{F}.{f}"))?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", &b.to_string(), &format!("{F}.burst"))?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", &i.to_string(), &format!("{F}.idle"))?;
    }
    if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", v, &format!("{F}.cpus"))?;
    }
    if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", v, &format!("{F}.mems"))?;
    }
    Ok(())
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    const F: &str = "linux.resources.blockIO";
    if b.leaf_weight().is_some_and(|w| w != 0) {
        crate::logging::warn(&format!(
            "{F}.leafWeight: has no cgroup v2 equivalent; ignored, as runc does"
        ));
    }
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if dir.join("io.bfq.weight").exists() {
            write(dir, "io.bfq.weight", &w.to_string(), &format!("{F}.weight"))?;
        } else {
            let v = blkio_weight_to_io_weight(w).to_string();
            write(dir, "io.weight", &v, &format!("{F}.weight"))?;
        }
    }
    for (i, d) in b
        .weight_device()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            files::write_device_weight(
                dir,
                "io.bfq.weight",
                &v,
                &format!("{F}.weightDevice[{i}].weight"),
            )?;
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, key, list) in throttles {
        for (i, t) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            let v = format!("{}:{} {key}={rate}", t.major(), t.minor());
            write(dir, "io.max", &v, &format!("{F}.{name}[{i}]"))?;
        }
    }
    Ok(())
}

/// Write cgroup.freeze and wait for cgroup.events to say `frozen 1` (or 0).
pub(super) fn freeze(dir: &Path, on: bool) -> Result<()> {
    let (val, what) = if on { ("1", "freeze") } else { ("0", "thaw") };
    let f = format!("cgroup: {what}");
    write(dir, "cgroup.freeze", val, &f)?;
    let want = format!("frozen {val}");
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        match files::read(dir, "cgroup.events") {
            Ok(s) if s.lines().any(|l| l == want) => return Ok(()),
            Ok(_) => {}
            // Old kernels without the frozen key in cgroup.events: trust the write.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => bail!(
                "{f}: reading {}: {}",
                dir.join("cgroup.events").display(),
                files::errno_text(&e)
            ),
        }
        if start.elapsed() > Duration::from_secs(5) {
            if on {
                let _ = files::write_raw(dir, "cgroup.freeze", "0");
            }
            bail!("{f}: {} did not report {want} within 5s", dir.display());
        }
        i += 1;
        std::thread::sleep(if i < 10 {
            Duration::from_micros(200)
        } else {
            Duration::from_millis(5)
        });
    }
}
