//! cgroup v1: one hierarchy per controller (this host), plus the hybrid cgroup2 mount for
//! hugetlb when no v1 hugetlb hierarchy exists. Semantics follow runc's libcontainer/cgroups/fs.
use super::files::{self, write};
use super::Cgroup;
use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxResources,
};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The device rules runc appends after the config's own (specconv.AllowedDevices).
pub(crate) const DEFAULT_ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

fn need(cg: &Cgroup, controller: &str, field: &str) -> Result<PathBuf> {
    cg.dir_of(controller)
        .ok_or_else(|| anyhow!("{field}: no {controller} cgroup hierarchy is mounted on this host"))
}

/// A new cpuset dir has empty cpuset.cpus/mems and no task may join it: copy the parent's
/// values into the directories we created (parents first). Ok(false), writing nothing,
/// when the parent's own values are empty (then `ensure_cpuset` walks from the root).
pub(super) fn copy_cpuset_from_parent(created: &[PathBuf]) -> Result<bool> {
    let Some(parent) = created.first().and_then(|d| d.parent()) else {
        return Ok(true);
    };
    let cpus = files::read_opt(parent, "cpuset.cpus").unwrap_or_default();
    let mems = files::read_opt(parent, "cpuset.mems").unwrap_or_default();
    if cpus.is_empty() || mems.is_empty() {
        return Ok(false);
    }
    for d in created {
        write(d, "cpuset.cpus", &cpus, "linux.cgroupsPath")?;
        write(d, "cpuset.mems", &mems, "linux.cgroupsPath")?;
    }
    Ok(true)
}

/// Walk from the hierarchy root to the container's dir and fill every level whose
/// cpuset.cpus/mems is empty (levels in `created` are known to be) from its parent.
pub(super) fn ensure_cpuset(mount: &Path, path: &str, created: &[PathBuf]) -> Result<()> {
    let mut cpus = files::read_opt(mount, "cpuset.cpus").unwrap_or_default();
    let mut mems = files::read_opt(mount, "cpuset.mems").unwrap_or_default();
    let mut cur = mount.to_path_buf();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        cur.push(comp);
        let new = created.iter().any(|d| d == &cur);
        for (file, val) in [("cpuset.cpus", &mut cpus), ("cpuset.mems", &mut mems)] {
            let own = if new {
                String::new()
            } else {
                files::read_opt(&cur, file).unwrap_or_default()
            };
            if own.is_empty() {
                if !val.is_empty() {
                    write(&cur, file, val, "linux.cgroupsPath")?;
                }
            } else {
                *val = own;
            }
        }
    }
    Ok(())
}

pub(super) fn apply(cg: &Cgroup, res: Option<&LinuxResources>, creating: bool) -> Result<()> {
    // runc always installs its device allow-list on create, config rules first. `update`
    // leaves devices alone, as runc's does.
    // Never in the root cgroup (cgroupsPath "/"): that would confine the whole host.
    if creating && cg.path != "/" {
        devices(cg, res.and_then(|r| r.devices().as_deref()))?;
    }
    let Some(r) = res else {
        return Ok(());
    };
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let dir = need(cg, "pids", "linux.resources.pids.limit")?;
            let v = files::limit(p.limit());
            write(&dir, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    if let Some(b) = r.block_io() {
        blkio(cg, b)?;
    }
    if let Some(limits) = r.hugepage_limits() {
        for (i, l) in limits.iter().enumerate() {
            hugetlb(cg, i, l.page_size(), l.limit())?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let f = "linux.resources.network.classID";
            let dir = need(cg, "net_cls", f)?;
            write(&dir, "net_cls.classid", &id.to_string(), f)?;
        }
        if let Some(prios) = n.priorities() {
            for (i, p) in prios.iter().enumerate() {
                let f = format!("linux.resources.network.priorities[{i}]");
                let dir = need(cg, "net_prio", &f)?;
                let v = format!("{} {}", p.name(), p.priority());
                write(&dir, "net_prio.ifpriomap", &v, &f)?;
            }
        }
    }
    if let Some(rdma) = r.rdma() {
        let mut devs: Vec<_> = rdma.iter().collect();
        devs.sort_by(|a, b| a.0.cmp(b.0));
        for (dev, l) in devs {
            let f = format!("linux.resources.rdma.{dev}");
            let dir = need(cg, "rdma", &f)?;
            write(&dir, "rdma.max", &rdma_line(dev, l), &f)?;
        }
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        bail!("linux.resources.unified: cgroup v2 settings cannot be applied: this host uses cgroup v1");
    }
    Ok(())
}

pub(super) fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let mut s = dev.to_string();
    if let Some(h) = l.hca_handles() {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// One config device rule as the kernel's "type major:minor access" (None: not for the
/// devices cgroup, i.e. FIFOs).
pub(crate) fn device_rule(d: &LinuxDeviceCgroup, field: &str) -> Result<Option<String>> {
    let t = match d.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => return Ok(None),
    };
    let num = |n: Option<i64>, what: &str| -> Result<String> {
        match n {
            None | Some(-1) => Ok("*".into()),
            Some(n) if n >= 0 => Ok(n.to_string()),
            Some(n) => bail!("{field}.{what}: invalid value {n}"),
        }
    };
    let access = match d.access().as_deref() {
        None | Some("") => "rwm",
        Some(a) => {
            if !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                bail!("{field}.access: {a:?} is not a combination of r, w and m");
            }
            a
        }
    };
    Ok(Some(format!(
        "{t} {}:{} {access}",
        num(d.major(), "major")?,
        num(d.minor(), "minor")?
    )))
}

fn devices(cg: &Cgroup, rules: Option<&[LinuxDeviceCgroup]>) -> Result<()> {
    const F: &str = "linux.resources.devices";
    let rules = rules.unwrap_or(&[]);
    let Some(dir) = cg.dir_of("devices") else {
        if rules.is_empty() {
            return Ok(());
        }
        bail!("{F}: no devices cgroup hierarchy is mounted on this host");
    };
    // Deny everything, then replay the rules in order (like runc: the config's rules,
    // then its default allow-list). Each write(2) to a cgroup file is one rule, so each
    // file is opened once.
    let mut allow = DevFile::new(&dir, "devices.allow");
    let mut deny = DevFile::new(&dir, "devices.deny");
    deny.write("a", F)?;
    let mut denied_all = true;
    for (i, d) in rules.iter().enumerate() {
        let field = format!("{F}[{i}]");
        let Some(rule) = device_rule(d, &field)? else {
            continue;
        };
        let is_all = rule.starts_with("a *:* ");
        if !d.allow() && is_all && denied_all {
            continue; // the deny-all we just wrote
        }
        denied_all = false;
        if d.allow() {
            allow.write(&rule, &field)?;
        } else {
            deny.write(&rule, &field)?;
        }
    }
    for rule in DEFAULT_ALLOWED_DEVICES {
        allow.write(rule, F)?;
    }
    Ok(())
}

/// A devices.allow/deny file opened on first use and kept open.
struct DevFile<'a> {
    dir: &'a Path,
    name: &'static str,
    file: Option<std::fs::File>,
}

impl<'a> DevFile<'a> {
    fn new(dir: &'a Path, name: &'static str) -> Self {
        DevFile {
            dir,
            name,
            file: None,
        }
    }
    fn write(&mut self, rule: &str, field: &str) -> Result<()> {
        use std::io::Write as _;
        let err = |e: std::io::Error| files::werr(self.dir, self.name, rule, field, &e);
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(self.dir.join(self.name))
                .map_err(err)?;
            self.file = Some(f);
        }
        match self.file.as_mut() {
            Some(f) => f.write_all(rule.as_bytes()).map_err(err),
            None => Ok(()),
        }
    }
}

fn memory(cg: &Cgroup, m: &LinuxMemory) -> Result<()> {
    const F: &str = "linux.resources.memory";
    #[allow(deprecated)]
    let kernel = m.kernel().unwrap_or(0);
    let any = m.limit().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
        || kernel != 0
        || m.kernel_tcp().is_some_and(|v| v != 0)
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true);
    if !any {
        return Ok(());
    }
    let dir = need(cg, "memory", F)?;
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // runc: unlimited memory with swap unset means unlimited swap too.
    if limit == -1 && swap == 0 && dir.join("memory.memsw.limit_in_bytes").exists() {
        swap = -1;
    }
    let set_limit = || -> Result<()> {
        if limit != 0 {
            write(
                &dir,
                "memory.limit_in_bytes",
                &limit.to_string(),
                &format!("{F}.limit"),
            )?;
        }
        Ok(())
    };
    let set_swap = || -> Result<()> {
        if swap != 0 {
            write(
                &dir,
                "memory.memsw.limit_in_bytes",
                &swap.to_string(),
                &format!("{F}.swap"),
            )?;
        }
        Ok(())
    };
    // memsw must stay >= limit at every step: raise swap first when growing.
    let swap_first = limit != 0
        && swap != 0
        && (swap == -1 || {
            let cur = files::read_u64(&dir, "memory.limit_in_bytes", u64::MAX).unwrap_or(u64::MAX);
            swap > 0 && cur < swap as u64
        });
    if swap_first {
        set_swap()?;
        set_limit()?;
    } else {
        set_limit()?;
        set_swap()?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        write(
            &dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &format!("{F}.reservation"),
        )?;
    }
    if kernel != 0 {
        // Kernel memory limits are obsolete (gone or a no-op on new kernels): like runc,
        // never fail on them.
        let v = kernel.to_string();
        match files::write_raw(&dir, "memory.kmem.limit_in_bytes", &v) {
            Ok(()) => {}
            Err(e)
                if e.kind() == ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::EOPNOTSUPP)
                    || e.raw_os_error() == Some(libc::EINVAL) =>
            {
                crate::logging::warn(&format!(
                    "{F}.kernel: kernel memory limits are not supported by this kernel ({}); ignored, as runc does",
                    files::errno_text(&e)
                ));
            }
            Err(e) => {
                return Err(files::werr(
                    &dir,
                    "memory.kmem.limit_in_bytes",
                    &v,
                    &format!("{F}.kernel"),
                    &e,
                ))
            }
        }
    }
    if let Some(t) = m.kernel_tcp().filter(|v| *v != 0) {
        write(
            &dir,
            "memory.kmem.tcp.limit_in_bytes",
            &t.to_string(),
            &format!("{F}.kernelTCP"),
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            bail!("{F}.swappiness: invalid value {s}, the valid range is 0-100");
        }
        write(
            &dir,
            "memory.swappiness",
            &s.to_string(),
            &format!("{F}.swappiness"),
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(
            &dir,
            "memory.oom_control",
            "1",
            &format!("{F}.disableOOMKiller"),
        )?;
    }
    Ok(())
}

fn cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<()> {
    const F: &str = "linux.resources.cpu";
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let dir = need(cg, "cpuset", F)?;
        if let Some(v) = cpus {
            write(&dir, "cpuset.cpus", v, &format!("{F}.cpus"))?;
        }
        if let Some(v) = mems {
            write(&dir, "cpuset.mems", v, &format!("{F}.mems"))?;
        }
    }
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    let rt_period = c.realtime_period().unwrap_or(0);
    if shares == 0
        && quota == 0
        && period == 0
        && rt_runtime == 0
        && rt_period == 0
        && c.burst().is_none()
        && c.idle().is_none()
    {
        return Ok(());
    }
    let dir = need(cg, "cpu", F)?;
    // Realtime: period and runtime depend on each other; retry the period after the
    // runtime if the kernel refuses it first (runc's order).
    let mut rt_period_pending = false;
    if rt_period != 0 {
        let v = rt_period.to_string();
        if let Err(e) = files::write_raw(&dir, "cpu.rt_period_us", &v) {
            if e.raw_os_error() != Some(libc::EINVAL) || rt_runtime == 0 {
                return Err(files::werr(
                    &dir,
                    "cpu.rt_period_us",
                    &v,
                    &format!("{F}.realtimePeriod"),
                    &e,
                ));
            }
            rt_period_pending = true;
        }
    }
    if rt_runtime != 0 {
        write(
            &dir,
            "cpu.rt_runtime_us",
            &rt_runtime.to_string(),
            &format!("{F}.realtimeRuntime"),
        )?;
        if rt_period_pending {
            write(
                &dir,
                "cpu.rt_period_us",
                &rt_period.to_string(),
                &format!("{F}.realtimePeriod"),
            )?;
        }
    }
    if shares != 0 {
        let f = format!("{F}.shares");
        write(&dir, "cpu.shares", &shares.to_string(), &f)?;
        // The kernel clamps silently; tell the user like runc does.
        if let Some(got) = files::read_u64(&dir, "cpu.shares", u64::MAX) {
            if shares > got {
                bail!("{f}: {shares} is above the maximum allowed cpu-shares {got}");
            } else if shares < got {
                bail!("{f}: {shares} is below the minimum allowed cpu-shares {got}");
            }
        }
    }
    let mut period_pending = false;
    if period != 0 {
        let v = period.to_string();
        if let Err(e) = files::write_raw(&dir, "cpu.cfs_period_us", &v) {
            // A smaller period can be refused while the old quota is set: retry after it.
            if e.raw_os_error() != Some(libc::EINVAL) || quota == 0 {
                return Err(files::werr(
                    &dir,
                    "cpu.cfs_period_us",
                    &v,
                    &format!("{F}.period"),
                    &e,
                ));
            }
            period_pending = true;
        }
    }
    if quota != 0 {
        write(
            &dir,
            "cpu.cfs_quota_us",
            &quota.to_string(),
            &format!("{F}.quota"),
        )?;
        if period_pending {
            write(
                &dir,
                "cpu.cfs_period_us",
                &period.to_string(),
                &format!("{F}.period"),
            )?;
        }
    }
    if let Some(b) = c.burst() {
        write(
            &dir,
            "cpu.cfs_burst_us",
            &b.to_string(),
            &format!("{F}.burst"),
        )?;
    }
    if let Some(i) = c.idle() {
        write(&dir, "cpu.idle", &i.to_string(), &format!("{F}.idle"))?;
    }
    Ok(())
}

fn blkio(cg: &Cgroup, b: &LinuxBlockIo) -> Result<()> {
    const F: &str = "linux.resources.blockIO";
    let wd = b.weight_device().as_deref().unwrap_or(&[]);
    let throttles: [(
        &str,
        &str,
        &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>,
    ); 4] = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    let weight = b.weight().unwrap_or(0);
    let leaf = b.leaf_weight().unwrap_or(0);
    let any_throttle = throttles
        .iter()
        .any(|t| t.2.as_ref().is_some_and(|v| !v.is_empty()));
    if weight == 0 && leaf == 0 && wd.is_empty() && !any_throttle {
        return Ok(());
    }
    let dir = need(cg, "blkio", F)?;
    // CFQ's blkio.weight if present, else BFQ's (runc's detectWeightFilenames).
    let (wfile, wdfile) = if dir.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if weight != 0 {
        write(&dir, wfile, &weight.to_string(), &format!("{F}.weight"))?;
    }
    if leaf != 0 {
        write(
            &dir,
            "blkio.leaf_weight",
            &leaf.to_string(),
            &format!("{F}.leafWeight"),
        )?;
    }
    for (i, d) in wd.iter().enumerate() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            files::write_device_weight(&dir, wdfile, &v, &format!("{F}.weightDevice[{i}].weight"))?;
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            write(
                &dir,
                "blkio.leaf_weight_device",
                &v,
                &format!("{F}.weightDevice[{i}].leafWeight"),
            )?;
        }
    }
    for (name, file, list) in throttles {
        for (i, t) in list.as_deref().unwrap_or(&[]).iter().enumerate() {
            let v = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            write(&dir, file, &v, &format!("{F}.{name}[{i}]"))?;
        }
    }
    Ok(())
}

/// hugetlb: a v1 hierarchy if there is one, else the hybrid cgroup2 mount.
fn hugetlb(cg: &Cgroup, i: usize, size: &str, limit: i64) -> Result<()> {
    match (cg.dir_of("hugetlb"), cg.unified_dir()) {
        (Some(d), _) => files::hugetlb(&d, i, size, limit, false),
        (None, Some(d)) => files::hugetlb(&d, i, size, limit, true),
        (None, None) => {
            bail!("linux.resources.hugepageLimits[{i}]: no hugetlb cgroup controller is available on this host")
        }
    }
}

/// Write FROZEN and wait until the whole cgroup is FROZEN (tasks may take a moment).
pub(super) fn freeze(dir: &Path) -> Result<()> {
    const F: &str = "cgroup: freeze";
    write(dir, "freezer.state", "FROZEN", F)?;
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        let state = files::read(dir, "freezer.state").map_err(|e| {
            anyhow!(
                "{F}: reading {}: {}",
                dir.join("freezer.state").display(),
                files::errno_text(&e)
            )
        })?;
        let state = state.trim();
        if state == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = files::write_raw(dir, "freezer.state", "THAWED");
            bail!(
                "{F}: {} stayed {state} for 5s; thawed it again",
                dir.display()
            );
        }
        i += 1;
        if i.is_multiple_of(20) {
            // Nudge a stuck FREEZING state (a task in an uninterruptible sleep).
            let _ = files::write_raw(dir, "freezer.state", "FROZEN");
        }
        std::thread::sleep(if i < 10 {
            Duration::from_micros(200)
        } else {
            Duration::from_millis(5)
        });
    }
}
