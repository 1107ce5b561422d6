//! Stats: `rt events --stats` (runc's JSON) converted to containerd's cgroups Metrics, the
//! type the host's hierarchy calls for (as containerd's runc shim does): v1 Metrics on a v1
//! or hybrid host, `io.containerd.cgroups.v2.Metrics` on a pure cgroup v2 host.
//!
//! containerd-shim-protos 0.10 (the version containerd-shim 0.10 is built on) has no v2
//! Metrics type, and a newer protos crate would bring a second ttrpc and protobuf codegen
//! for one message: the v2 message is encoded here with protobuf's `CodedOutputStream`, by
//! the field numbers of containerd's `cgroup2/stats/metrics.proto` (the same numbers in the
//! cgroups v1.0 module containerd 1.6's ctr decodes with).

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryStat, Metrics, PidsStat,
};
use containerd_shim::protos::protobuf::{self, CodedOutputStream};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The type URLs containerd registers for the two Metrics types.
pub const V1_TYPE: &str = "io.containerd.cgroups.v1.Metrics";
pub const V2_TYPE: &str = "io.containerd.cgroups.v2.Metrics";

/// Whether /sys/fs/cgroup is a cgroup2 mount (a pure v2 host; hybrid hosts mount tmpfs there).
pub fn host_is_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

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

/// A protobuf message being encoded; zero values and empty messages are left out, as proto3
/// encoders do.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn put(&mut self, f: impl FnOnce(&mut CodedOutputStream) -> protobuf::Result<()>) {
        let mut os = CodedOutputStream::vec(&mut self.0);
        // Writing into a Vec does not fail.
        let _ = f(&mut os).and_then(|()| os.flush());
    }

    fn u64(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.put(|os| os.write_uint64(field, v));
        }
        self
    }

    fn str(&mut self, field: u32, v: &str) -> &mut Self {
        if !v.is_empty() {
            self.put(|os| os.write_string(field, v));
        }
        self
    }

    fn msg(&mut self, field: u32, m: Msg) -> &mut Self {
        if !m.0.is_empty() {
            self.put(|os| os.write_bytes(field, &m.0));
        }
        self
    }
}

/// v2's "max" (no limit) as rt reports it.
const V2_MAX: u64 = u64::MAX;

/// `data` is the `data` object of rt's stats event, `events` the container's
/// `memory.events` (key → count); returns the encoded `io.containerd.cgroups.v2.Metrics`.
pub fn metrics_v2(data: &Value, events: &BTreeMap<String, u64>) -> Vec<u8> {
    let mut m = Msg::default();
    // PidsStat pids = 1
    let p = &data["pids"];
    let mut pids = Msg::default();
    pids.u64(1, u(&p["current"])).u64(2, u(&p["limit"]));
    m.msg(1, pids);
    // CPUStat cpu = 2 (rt reports nanoseconds, v2 Metrics microseconds)
    let c = &data["cpu"];
    let mut cpu = Msg::default();
    cpu.u64(1, u(&c["usage"]["total"]) / 1000)
        .u64(2, u(&c["usage"]["user"]) / 1000)
        .u64(3, u(&c["usage"]["kernel"]) / 1000)
        .u64(4, u(&c["throttling"]["periods"]))
        .u64(5, u(&c["throttling"]["throttledPeriods"]))
        .u64(6, u(&c["throttling"]["throttledTime"]) / 1000);
    m.msg(2, cpu);
    // MemoryStat memory = 4: memory.stat's keys by field number, then usage and limits.
    let mem = &data["memory"];
    let raw = &mem["raw"];
    let mut ms = Msg::default();
    const STAT: [&str; 31] = [
        "anon",
        "file",
        "kernel_stack",
        "slab",
        "sock",
        "shmem",
        "file_mapped",
        "file_dirty",
        "file_writeback",
        "anon_thp",
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
        "slab_reclaimable",
        "slab_unreclaimable",
        "pgfault",
        "pgmajfault",
        "workingset_refault",
        "workingset_activate",
        "workingset_nodereclaim",
        "pgrefill",
        "pgscan",
        "pgsteal",
        "pgactivate",
        "pgdeactivate",
        "pglazyfree",
        "pglazyfreed",
        "thp_fault_alloc",
        "thp_collapse_alloc",
    ];
    for (i, k) in STAT.iter().enumerate() {
        ms.u64(i as u32 + 1, u(&raw[*k]));
    }
    let usage = u(&mem["usage"]["usage"]);
    let limit = u(&mem["usage"]["limit"]);
    // rt's (runc's) "swap" is memory+swap; v2 Metrics has swap alone.
    let swap = u(&mem["swap"]["usage"]).saturating_sub(usage);
    let swap_limit = match u(&mem["swap"]["limit"]) {
        V2_MAX => V2_MAX,
        l if limit == V2_MAX => l,
        l => l.saturating_sub(limit),
    };
    ms.u64(32, usage)
        .u64(33, limit)
        .u64(34, swap)
        .u64(35, swap_limit)
        .u64(36, u(&mem["usage"]["max"]));
    m.msg(4, ms);
    // IOStat io = 6: one IOEntry per device from the blkio lists.
    let mut io: BTreeMap<(u64, u64), [u64; 4]> = BTreeMap::new();
    for (list, base) in [("ioServiceBytesRecursive", 0), ("ioServicedRecursive", 2)] {
        for e in data["blkio"][list].as_array().into_iter().flatten() {
            let slot = match e["op"].as_str() {
                Some("Read") => base,
                Some("Write") => base + 1,
                _ => continue,
            };
            let dev = io.entry((u(&e["major"]), u(&e["minor"]))).or_default();
            dev[slot] += u(&e["value"]);
        }
    }
    let mut ios = Msg::default();
    for ((major, minor), [rb, wb, ri, wi]) in io {
        let mut e = Msg::default();
        e.u64(1, major)
            .u64(2, minor)
            .u64(3, rb)
            .u64(4, wb)
            .u64(5, ri)
            .u64(6, wi);
        ios.msg(1, e);
    }
    m.msg(6, ios);
    // repeated HugeTlbStat hugetlb = 7
    if let Some(h) = data["hugetlb"].as_object() {
        for (size, e) in h {
            let mut s = Msg::default();
            s.u64(1, u(&e["usage"]))
                .u64(2, u(&e["max"]))
                .str(3, size)
                .u64(4, u(&e["failcnt"]));
            m.msg(7, s);
        }
    }
    // MemoryEvents memory_events = 8
    let ev = |k: &str| events.get(k).copied().unwrap_or(0);
    let mut me = Msg::default();
    me.u64(1, ev("low"))
        .u64(2, ev("high"))
        .u64(3, ev("max"))
        .u64(4, ev("oom"))
        .u64(5, ev("oom_kill"))
        .u64(6, ev("oom_group_kill"));
    m.msg(8, me);
    m.0
}

/// A cgroup v2 directory's `memory.events` (empty when unreadable).
pub fn memory_events(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(dir.join("memory.events"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
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

#[cfg(test)]
mod v2_tests {
    use containerd_shim::protos::protobuf::well_known_types::empty::Empty;
    use containerd_shim::protos::protobuf::{Message, UnknownValueRef};
    use std::collections::BTreeMap;

    /// Decodes a message's fields generically: field number → values (varints, or the bytes
    /// of a nested message / string).
    fn fields(b: &[u8]) -> BTreeMap<u32, Vec<Result<u64, Vec<u8>>>> {
        let msg = Empty::parse_from_bytes(b).unwrap_or_default();
        let mut out: BTreeMap<u32, Vec<Result<u64, Vec<u8>>>> = BTreeMap::new();
        for (n, v) in msg.special_fields.unknown_fields().iter() {
            let v = match v {
                UnknownValueRef::Varint(x) => Ok(x),
                UnknownValueRef::LengthDelimited(d) => Err(d.to_vec()),
                _ => Err(Vec::new()),
            };
            out.entry(n).or_default().push(v);
        }
        out
    }

    fn sub(m: &BTreeMap<u32, Vec<Result<u64, Vec<u8>>>>, n: u32) -> Vec<Vec<u8>> {
        m.get(&n)
            .into_iter()
            .flatten()
            .filter_map(|v| v.clone().err())
            .collect()
    }

    fn num(m: &BTreeMap<u32, Vec<Result<u64, Vec<u8>>>>, n: u32) -> u64 {
        m.get(&n)
            .and_then(|v| v.first().cloned())
            .and_then(Result::ok)
            .unwrap_or(0)
    }

    /// rt's stats JSON on a v2 host (the shape runtime/src/cgroups/stats.rs writes).
    #[test]
    fn rt_v2_stats_json_becomes_v2_metrics_by_field_number() {
        let data = serde_json::json!({
            "pids": {"current": 3, "limit": 100},
            "cpu": {"usage": {"total": 5_000_000, "kernel": 1_000_000, "user": 4_000_000},
                    "throttling": {"periods": 7, "throttledPeriods": 2, "throttledTime": 9_000}},
            "memory": {"cache": 7,
                       "usage": {"usage": 4096, "limit": 16_777_216, "max": 5000, "failcnt": 1},
                       "swap": {"usage": 4096 + 100, "limit": 16_777_216 + 1000},
                       "raw": {"anon": 11, "file": 12, "pgmajfault": 19, "thp_collapse_alloc": 31}},
            "blkio": {"ioServiceBytesRecursive": [
                          {"major": 254, "op": "Read", "value": 512},
                          {"major": 254, "op": "Write", "value": 1024}],
                      "ioServicedRecursive": [{"major": 254, "op": "Read", "value": 2}]},
            "hugetlb": {"2MB": {"usage": 0, "max": 4, "failcnt": 1}},
        });
        let events = [("max", 1), ("oom", 2), ("oom_kill", 3)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let m = fields(&super::metrics_v2(&data, &events));
        let pids = fields(&sub(&m, 1)[0]);
        assert_eq!((num(&pids, 1), num(&pids, 2)), (3, 100));
        let cpu = fields(&sub(&m, 2)[0]);
        // usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec
        let cpu: Vec<u64> = (1..=6).map(|n| num(&cpu, n)).collect();
        assert_eq!(cpu, [5000, 4000, 1000, 7, 2, 9]);
        let mem = fields(&sub(&m, 4)[0]);
        assert_eq!((num(&mem, 1), num(&mem, 2)), (11, 12));
        assert_eq!((num(&mem, 19), num(&mem, 31)), (19, 31));
        // usage, usage_limit, swap_usage, swap_limit, max_usage
        let u: Vec<u64> = (32..=36).map(|n| num(&mem, n)).collect();
        assert_eq!(u, [4096, 16_777_216, 100, 1000, 5000]);
        let io = fields(&sub(&m, 6)[0]);
        let dev = fields(&sub(&io, 1)[0]);
        let d: Vec<u64> = (1..=6).map(|n| num(&dev, n)).collect();
        assert_eq!(d, [254, 0, 512, 1024, 2, 0]);
        let h = fields(&sub(&m, 7)[0]);
        assert_eq!((num(&h, 2), num(&h, 4)), (4, 1));
        assert_eq!(sub(&h, 3), [b"2MB".to_vec()]);
        let ev = fields(&sub(&m, 8)[0]);
        let e: Vec<u64> = (1..=6).map(|n| num(&ev, n)).collect();
        assert_eq!(e, [0, 0, 1, 2, 3, 0]);
        // Nothing outside containerd's field numbers.
        assert!(m.keys().all(|k| [1, 2, 4, 6, 7, 8].contains(k)));
    }

    #[test]
    fn unlimited_memory_and_swap_stay_unlimited() {
        let data = serde_json::json!({"memory": {
            "usage": {"usage": 10, "limit": u64::MAX},
            "swap": {"usage": 10, "limit": u64::MAX}}});
        let m = fields(&super::metrics_v2(&data, &BTreeMap::new()));
        let mem = fields(&sub(&m, 4)[0]);
        assert_eq!((num(&mem, 33), num(&mem, 35)), (u64::MAX, u64::MAX));
        assert_eq!(num(&mem, 34), 0);
    }

    #[test]
    fn memory_events_file_is_read_by_key() {
        let dir = std::env::temp_dir().join(format!("rt-shim-ev-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        );
        let ev = super::memory_events(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(ev.get("max"), Some(&4));
        assert_eq!(ev.get("oom_kill"), Some(&1));
        assert!(super::memory_events(std::path::Path::new("/nonexistent")).is_empty());
    }
}
