//! Stats: `rt events --stats` (runc's JSON) converted to containerd's cgroups v1 Metrics.

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat,
};
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn entry(v: &Value) -> MemoryEntry {
    MemoryEntry {
        limit: u(&v["limit"]),
        usage: u(&v["usage"]),
        max: u(&v["max"]),
        failcnt: u(&v["failcnt"]),
        ..Default::default()
    }
}

/// `data` is the `data` object of rt's stats event.
pub fn metrics(data: &Value) -> Metrics {
    let mut m = Metrics::new();
    let p = &data["pids"];
    m.pids = Some(PidsStat {
        current: u(&p["current"]),
        limit: u(&p["limit"]),
        ..Default::default()
    })
    .into();
    let c = &data["cpu"]["usage"];
    let percpu = c["percpu"]
        .as_array()
        .map(|a| a.iter().map(u).collect())
        .unwrap_or_default();
    m.cpu = Some(CPUStat {
        usage: Some(CPUUsage {
            total: u(&c["total"]),
            kernel: u(&c["kernel"]),
            user: u(&c["user"]),
            per_cpu: percpu,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    })
    .into();
    let mem = &data["memory"];
    let st = &mem["stats"];
    m.memory = Some(MemoryStat {
        cache: u(&mem["cache"]),
        rss: u(&st["rss"]),
        mapped_file: u(&st["mapped_file"]),
        pg_fault: u(&st["pgfault"]),
        pg_maj_fault: u(&st["pgmajfault"]),
        inactive_file: u(&st["inactive_file"]),
        active_file: u(&st["active_file"]),
        total_rss: u(&st["total_rss"]),
        total_cache: u(&st["total_cache"]),
        usage: Some(entry(&mem["usage"])).into(),
        swap: Some(entry(&mem["swap"])).into(),
        kernel: Some(entry(&mem["kernel"])).into(),
        kernel_tcp: Some(entry(&mem["kernelTCP"])).into(),
        ..Default::default()
    })
    .into();
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn runc_stats_json_becomes_v1_metrics() {
        let data = serde_json::json!({
            "pids": {"current": 3, "limit": 100},
            "cpu": {"usage": {"total": 5000, "kernel": 1000, "user": 4000, "percpu": [2000, 3000]}},
            "memory": {"cache": 7, "usage": {"usage": 4096, "limit": 8192, "max": 5000, "failcnt": 1},
                       "stats": {"rss": 11}},
        });
        let m = super::metrics(&data);
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.pids.limit, 100);
        assert_eq!(m.cpu.usage.total, 5000);
        assert_eq!(m.cpu.usage.per_cpu, vec![2000, 3000]);
        assert_eq!(m.memory.usage.limit, 8192);
        assert_eq!(m.memory.usage.failcnt, 1);
        assert_eq!(m.memory.rss, 11);
        assert_eq!(m.memory.cache, 7);
    }
}
