//! runc's `events --stats` `data` object (runc's types/events.go), from v1 or v2 files.
//! Fields runc tags `omitempty` are left out when zero.
use super::files::{self, keyed, read_keyed, read_opt, read_u64};
use super::{Cgroup, Layout};
use crate::Result;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The "unlimited" a v1 memory file reports (PAGE_COUNTER_MAX pages).
const V2_MAX: u64 = u64::MAX;

fn put(m: &mut Map<String, Value>, k: &str, v: u64) {
    if v != 0 {
        m.insert(k.into(), json!(v));
    }
}

pub(super) fn stats(cg: &Cgroup) -> Result<Value> {
    let mut out = Map::new();
    match cg.layout {
        Layout::V1 => v1(cg, &mut out),
        Layout::V2 => {
            if let Some(d) = cg.unified_dir() {
                v2(&d, &mut out);
            }
        }
    }
    out.entry("hugetlb").or_insert_with(|| json!({}));
    out.insert("intel_rdt".into(), json!({}));
    out.insert("network_interfaces".into(), Value::Null);
    Ok(Value::Object(out))
}

fn v1(cg: &Cgroup, out: &mut Map<String, Value>) {
    // cpu
    let mut usage = Map::new();
    let mut throttling = Map::new();
    if let Some(d) = cg.dir_of("cpuacct") {
        put(
            &mut usage,
            "total",
            read_u64(&d, "cpuacct.usage", 0).unwrap_or(0),
        );
        let list = |f: &str| -> Vec<u64> {
            read_opt(&d, f)
                .map(|s| {
                    s.split_whitespace()
                        .filter_map(|x| x.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let percpu = list("cpuacct.usage_percpu");
        if !percpu.is_empty() {
            usage.insert("percpu".into(), json!(percpu));
        }
        // cpuacct.usage_all: "cpu user system" per line after a header.
        if let Some(all) = read_opt(&d, "cpuacct.usage_all") {
            let (mut k, mut u) = (vec![], vec![]);
            for l in all.lines().skip(1) {
                let f: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if f.len() == 3 {
                    u.push(f[1]);
                    k.push(f[2]);
                }
            }
            if !k.is_empty() {
                usage.insert("percpu_kernel".into(), json!(k));
                usage.insert("percpu_user".into(), json!(u));
            }
        }
        let st = read_keyed(&d, "cpuacct.stat");
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as u64 } else { 100 };
        usage.insert(
            "kernel".into(),
            json!(keyed(&st, "system") * 1_000_000_000 / hz),
        );
        usage.insert(
            "user".into(),
            json!(keyed(&st, "user") * 1_000_000_000 / hz),
        );
    }
    if let Some(d) = cg.dir_of("cpu") {
        let st = read_keyed(&d, "cpu.stat");
        put(&mut throttling, "periods", keyed(&st, "nr_periods"));
        put(
            &mut throttling,
            "throttledPeriods",
            keyed(&st, "nr_throttled"),
        );
        put(
            &mut throttling,
            "throttledTime",
            keyed(&st, "throttled_time"),
        );
    }
    usage.entry("kernel").or_insert(json!(0));
    usage.entry("user").or_insert(json!(0));
    out.insert(
        "cpu".into(),
        json!({"usage": usage, "throttling": throttling}),
    );

    // cpuset
    if let Some(d) = cg.dir_of("cpuset") {
        let n = |f: &str| read_u64(&d, f, 0).unwrap_or(0);
        let mut m = Map::new();
        let cpus = parse_list(&read_opt(&d, "cpuset.cpus").unwrap_or_default());
        if !cpus.is_empty() {
            m.insert("cpus".into(), json!(cpus));
        }
        m.insert("cpu_exclusive".into(), json!(n("cpuset.cpu_exclusive")));
        let mems = parse_list(&read_opt(&d, "cpuset.mems").unwrap_or_default());
        if !mems.is_empty() {
            m.insert("mems".into(), json!(mems));
        }
        for (k, f) in [
            ("mem_hardwall", "cpuset.mem_hardwall"),
            ("mem_exclusive", "cpuset.mem_exclusive"),
            ("memory_migrate", "cpuset.memory_migrate"),
            ("memory_spread_page", "cpuset.memory_spread_page"),
            ("memory_spread_slab", "cpuset.memory_spread_slab"),
            ("memory_pressure", "cpuset.memory_pressure"),
            ("sched_load_balance", "cpuset.sched_load_balance"),
        ] {
            m.insert(k.into(), json!(n(f)));
        }
        let lvl: i64 = read_opt(&d, "cpuset.sched_relax_domain_level")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        m.insert("sched_relax_domain_level".into(), json!(lvl));
        out.insert("cpuset".into(), Value::Object(m));
    }

    // memory
    let mut mem = Map::new();
    if let Some(d) = cg.dir_of("memory") {
        let entry = |prefix: &str| -> Value {
            let f = |s: &str| read_u64(&d, &format!("{prefix}{s}"), V2_MAX).unwrap_or(0);
            let mut e = Map::new();
            e.insert("limit".into(), json!(f("limit_in_bytes")));
            put(&mut e, "usage", f("usage_in_bytes"));
            put(&mut e, "max", f("max_usage_in_bytes"));
            e.insert("failcnt".into(), json!(f("failcnt")));
            Value::Object(e)
        };
        let raw = read_keyed(&d, "memory.stat");
        put(&mut mem, "cache", keyed(&raw, "cache"));
        mem.insert("usage".into(), entry("memory."));
        mem.insert("swap".into(), entry("memory.memsw."));
        mem.insert("kernel".into(), entry("memory.kmem."));
        mem.insert("kernelTCP".into(), entry("memory.kmem.tcp."));
        if !raw.is_empty() {
            let m: Map<String, Value> = raw.into_iter().map(|(k, v)| (k, json!(v))).collect();
            mem.insert("raw".into(), Value::Object(m));
        }
    }
    out.insert("memory".into(), Value::Object(mem));

    // pids
    let mut pids = Map::new();
    if let Some(d) = cg.dir_of("pids") {
        put(
            &mut pids,
            "current",
            read_u64(&d, "pids.current", 0).unwrap_or(0),
        );
        put(&mut pids, "limit", read_u64(&d, "pids.max", 0).unwrap_or(0));
    }
    out.insert("pids".into(), Value::Object(pids));

    // blkio: CFQ files, else BFQ, else the throttle ones (runc's fallback order).
    let mut blkio = Map::new();
    if let Some(d) = cg.dir_of("blkio") {
        for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
            let sb = blkio_entries(&d, &format!("{prefix}io_service_bytes_recursive"));
            let sd = blkio_entries(&d, &format!("{prefix}io_serviced_recursive"));
            if sb.is_empty() && sd.is_empty() {
                continue;
            }
            if !sb.is_empty() {
                blkio.insert("ioServiceBytesRecursive".into(), Value::Array(sb));
            }
            if !sd.is_empty() {
                blkio.insert("ioServicedRecursive".into(), Value::Array(sd));
            }
            break;
        }
    }
    out.insert("blkio".into(), Value::Object(blkio));

    // hugetlb
    if let Some(d) = cg.dir_of("hugetlb") {
        let mut h = Map::new();
        for size in page_sizes() {
            let f = |s: &str| read_u64(&d, &format!("hugetlb.{size}.{s}"), V2_MAX);
            let Some(usage) = f("usage_in_bytes") else {
                continue;
            };
            let mut e = Map::new();
            put(&mut e, "usage", usage);
            put(&mut e, "max", f("max_usage_in_bytes").unwrap_or(0));
            e.insert("failcnt".into(), json!(f("failcnt").unwrap_or(0)));
            h.insert(size, Value::Object(e));
        }
        out.insert("hugetlb".into(), Value::Object(h));
    } else if let Some(d) = cg.unified_dir() {
        out.insert("hugetlb".into(), hugetlb_v2(&d));
    }
}

fn v2(d: &Path, out: &mut Map<String, Value>) {
    let st = read_keyed(d, "cpu.stat");
    let mut usage = Map::new();
    put(&mut usage, "total", keyed(&st, "usage_usec") * 1000);
    usage.insert("kernel".into(), json!(keyed(&st, "system_usec") * 1000));
    usage.insert("user".into(), json!(keyed(&st, "user_usec") * 1000));
    let mut throttling = Map::new();
    put(&mut throttling, "periods", keyed(&st, "nr_periods"));
    put(
        &mut throttling,
        "throttledPeriods",
        keyed(&st, "nr_throttled"),
    );
    put(
        &mut throttling,
        "throttledTime",
        keyed(&st, "throttled_usec") * 1000,
    );
    out.insert(
        "cpu".into(),
        json!({"usage": usage, "throttling": throttling}),
    );

    let mut mem = Map::new();
    let raw = read_keyed(d, "memory.stat");
    put(&mut mem, "cache", keyed(&raw, "file"));
    let events = read_keyed(d, "memory.events");
    let cur = read_u64(d, "memory.current", V2_MAX).unwrap_or(0);
    let max = read_u64(d, "memory.max", V2_MAX).unwrap_or(V2_MAX);
    let mut u = Map::new();
    u.insert("limit".into(), json!(max));
    put(&mut u, "usage", cur);
    put(&mut u, "max", read_u64(d, "memory.peak", 0).unwrap_or(0));
    u.insert("failcnt".into(), json!(keyed(&events, "max")));
    mem.insert("usage".into(), Value::Object(u));
    // Like runc: "swap" is memory+swap, as on v1.
    let mut s = Map::new();
    let swap_cur = read_u64(d, "memory.swap.current", 0).unwrap_or(0);
    let swap_max = read_u64(d, "memory.swap.max", V2_MAX).unwrap_or(V2_MAX);
    let limit = if swap_max == V2_MAX || max == V2_MAX {
        V2_MAX
    } else {
        swap_max.saturating_add(max)
    };
    s.insert("limit".into(), json!(limit));
    put(&mut s, "usage", swap_cur + cur);
    s.insert("failcnt".into(), json!(0));
    mem.insert("swap".into(), Value::Object(s));
    mem.insert("kernel".into(), json!({"limit": 0, "failcnt": 0}));
    mem.insert("kernelTCP".into(), json!({"limit": 0, "failcnt": 0}));
    if !raw.is_empty() {
        let m: Map<String, Value> = raw.into_iter().map(|(k, v)| (k, json!(v))).collect();
        mem.insert("raw".into(), Value::Object(m));
    }
    out.insert("memory".into(), Value::Object(mem));

    let mut pids = Map::new();
    put(
        &mut pids,
        "current",
        read_u64(d, "pids.current", 0).unwrap_or(0),
    );
    put(&mut pids, "limit", read_u64(d, "pids.max", 0).unwrap_or(0));
    out.insert("pids".into(), Value::Object(pids));

    // io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
    let mut bytes = vec![];
    let mut ios = vec![];
    if let Ok(s) = files::read(d, "io.stat") {
        for line in s.lines() {
            let mut it = line.split_whitespace();
            let Some((maj, min)) = it.next().and_then(majmin) else {
                continue;
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(v) = v.parse::<u64>() else { continue };
                let (list, op) = match k {
                    "rbytes" => (&mut bytes, "Read"),
                    "wbytes" => (&mut bytes, "Write"),
                    "rios" => (&mut ios, "Read"),
                    "wios" => (&mut ios, "Write"),
                    _ => continue,
                };
                list.push(blkio_entry(maj, min, op, v));
            }
        }
    }
    let mut blkio = Map::new();
    if !bytes.is_empty() {
        blkio.insert("ioServiceBytesRecursive".into(), Value::Array(bytes));
    }
    if !ios.is_empty() {
        blkio.insert("ioServicedRecursive".into(), Value::Array(ios));
    }
    out.insert("blkio".into(), Value::Object(blkio));
    out.insert("hugetlb".into(), hugetlb_v2(d));
    // runc leaves cpuset stats zero on v2.
    out.insert(
        "cpuset".into(),
        json!({"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,
               "memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,
               "sched_load_balance":0,"sched_relax_domain_level":0}),
    );
}

fn hugetlb_v2(d: &Path) -> Value {
    let mut h = Map::new();
    for size in page_sizes() {
        let Some(usage) = read_u64(d, &format!("hugetlb.{size}.current"), V2_MAX) else {
            continue;
        };
        let mut e = Map::new();
        put(&mut e, "usage", usage);
        let ev = read_keyed(d, &format!("hugetlb.{size}.events"));
        e.insert("failcnt".into(), json!(keyed(&ev, "max")));
        h.insert(size, Value::Object(e));
    }
    Value::Object(h)
}

/// Huge page sizes as the cgroup files name them ("2MB", "1GB"), from /sys/kernel/mm/hugepages.
pub(crate) fn page_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return vec![];
    };
    let mut sizes: Vec<u64> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            n.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    sizes.sort_unstable();
    sizes.into_iter().map(size_name).collect()
}

fn size_name(kb: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut v = kb;
    let mut u = 0;
    while v >= 1024 && v.is_multiple_of(1024) && u < UNITS.len() - 1 {
        v /= 1024;
        u += 1;
    }
    format!("{v}{}", UNITS[u])
}

fn majmin(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn blkio_entry(major: u64, minor: u64, op: &str, value: u64) -> Value {
    let mut e = Map::new();
    put(&mut e, "major", major);
    put(&mut e, "minor", minor);
    if !op.is_empty() {
        e.insert("op".into(), json!(op));
    }
    put(&mut e, "value", value);
    Value::Object(e)
}

/// "8:0 Read 123" lines (the "Total N" summary line is skipped).
fn blkio_entries(d: &Path, file: &str) -> Vec<Value> {
    let Ok(s) = files::read(d, file) else {
        return vec![];
    };
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = majmin(f[0])?;
            Some(blkio_entry(maj, min, f[1], f[2].parse().ok()?))
        })
        .collect()
}

/// "0-3,5" → [0,1,2,3,5].
fn parse_list(s: &str) -> Vec<u32> {
    let mut out = vec![];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    if b >= a && b - a < 65536 {
                        out.extend(a..=b);
                    }
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod unit {
    #[test]
    fn lists_and_sizes() {
        assert_eq!(super::parse_list("0-2,5"), vec![0, 1, 2, 5]);
        assert_eq!(super::parse_list(""), Vec::<u32>::new());
        assert_eq!(super::size_name(2048), "2MB");
        assert_eq!(super::size_name(1048576), "1GB");
        assert_eq!(super::size_name(64), "64KB");
    }
}
