use crate::cli::Update;
use crate::container::lifecycle;
use crate::state::Status;
use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::{LinuxMemory, LinuxPids, LinuxResources};
use std::io::Read;
use std::path::Path;

pub fn run(root: &Path, a: Update) -> Result<i32> {
    let (dir, st, _lock) = lifecycle::load_locked(root, &a.id)?;
    if dir.status(&st) == Status::Stopped {
        bail!("container {} is not running", a.id);
    }
    let mut res: LinuxResources = match a.resources.as_deref() {
        Some(src) => {
            let mut data = Vec::new();
            if src == "-" {
                std::io::stdin().read_to_end(&mut data)?;
            } else {
                data = std::fs::read(src).map_err(|e| anyhow!("--resources {src}: {e}"))?;
            }
            let de = &mut serde_json::Deserializer::from_slice(&data);
            serde_path_to_error::deserialize(de)
                .map_err(|e| anyhow!("--resources: {}: {}", e.path(), e.inner()))?
        }
        None => LinuxResources::default(),
    };
    apply_flags(&a, &mut res)?;
    st.cgroup.update(&res)?;
    Ok(0)
}

fn apply_flags(a: &Update, res: &mut LinuxResources) -> Result<()> {
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    macro_rules! set {
        ($target:ident, $flag:expr, $setter:ident, $flagset:ident) => {
            if let Some(v) = $flag.clone() {
                $target.$setter(Some(v.into()));
                $flagset = true;
            }
        };
    }
    set!(cpu, a.cpu_period, set_period, cpu_set);
    set!(cpu, a.cpu_quota, set_quota, cpu_set);
    set!(cpu, a.cpu_share, set_shares, cpu_set);
    set!(cpu, a.cpu_rt_period, set_realtime_period, cpu_set);
    set!(cpu, a.cpu_rt_runtime, set_realtime_runtime, cpu_set);
    set!(cpu, a.cpuset_cpus, set_cpus, cpu_set);
    set!(cpu, a.cpuset_mems, set_mems, cpu_set);
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    let mut mem: LinuxMemory = (*res.memory()).unwrap_or_default();
    let mut mem_set = false;
    for (flag, name, setter) in [
        (
            &a.memory,
            "--memory",
            LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
        ),
        (
            &a.memory_reservation,
            "--memory-reservation",
            LinuxMemory::set_reservation,
        ),
        (&a.memory_swap, "--memory-swap", LinuxMemory::set_swap),
    ] {
        if let Some(v) = flag {
            setter(
                &mut mem,
                Some(parse_bytes(v).map_err(|e| anyhow!("{name}: {e}"))?),
            );
            mem_set = true;
        }
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    if let Some(p) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        res.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(())
}

/// "256m", "1g", "1024", "-1" → bytes (binary units, as runc/docker parse them).
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size {s:?}"))?;
    Ok((n * mult as f64) as i64)
}
