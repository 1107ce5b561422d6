//! Real cgroups, no mocks: every test makes its own `/rt-test-<pid>-...` cgroup (`unique`), runs real
//! processes in it and removes it. Needs root and a cgroup v1 (hybrid) or v2 host.
use super::*;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static N: AtomicUsize = AtomicUsize::new(0);

/// `/rt-test-<pid>-<tag>-<n>`; in a pid namespace other than the host's (Dockerfile.test's
/// image) `<pid>p<its inode>`, as integration's `pid_tag`: cgroups are shared with the host
/// and other containers, whose pids start at 1 too.
fn unique(tag: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let pid = match std::fs::metadata("/proc/self/ns/pid") {
        Ok(m) if m.ino() != 0xEFFF_FFFC => format!("{}p{}", std::process::id(), m.ino()),
        _ => std::process::id().to_string(),
    };
    format!("/rt-test-{pid}-{tag}-{}", N.fetch_add(1, Ordering::SeqCst))
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("resources json")
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
        .trim()
        .to_string()
}

/// Kills the processes and removes the cgroup even when a test fails.
struct Guard {
    cg: Cgroup,
    kids: Vec<Child>,
}

impl Guard {
    fn new(path: &str, r: Option<&LinuxResources>) -> Guard {
        Guard::with(Cgroup::new(Some(Path::new(path)), "unused").unwrap(), r)
    }
    fn with(mut cg: Cgroup, r: Option<&LinuxResources>) -> Guard {
        cg.create(r).unwrap();
        Guard { cg, kids: vec![] }
    }
    fn spawn(&mut self, args: &[&str], stdin: bool) -> i32 {
        let mut c = Command::new(args[0]);
        c.args(&args[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin {
            c.stdin(Stdio::piped());
        }
        let child = c.spawn().expect("spawn");
        let pid = child.id() as i32;
        self.cg.add_task(pid).unwrap();
        self.kids.push(child);
        pid
    }
    fn reap(&mut self) {
        let _ = self.cg.thaw();
        for k in &mut self.kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        self.kids.clear();
    }
}

impl Drop for Guard {
    /// Removes the cgroup and asserts that the container's directories are gone (unless
    /// the test is already failing: a second panic would abort).
    fn drop(&mut self) {
        self.reap();
        let res = self.cg.destroy();
        if std::thread::panicking() {
            return;
        }
        if let Err(e) = res {
            panic!("destroy {}: {e:#}", self.cg.path);
        }
        // The container's own directories; a parent it made may be left to another
        // container under it (parent_shared_with_another_container_is_left_to_it).
        for h in &self.cg.hierarchies {
            let d = self.cg.dir(h);
            if self.cg.created.contains(&d) {
                assert!(!d.exists(), "{} left behind", d.display());
            }
        }
    }
}

fn is_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.stat").exists()
}

fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 (1-based) => index 11, 12 after the comm.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

// ---------------------------------------------------------------- pure logic

const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 1 0:32 / /mnt/again rw,relatime - cgroup cgroup rw,memory
";

#[test]
fn mountinfo_hybrid() {
    let (layout, h) = parse_mountinfo(HYBRID).unwrap();
    assert_eq!(layout, Layout::V1);
    let names: Vec<_> = h.iter().map(|h| h.mount.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "/sys/fs/cgroup/cpu,cpuacct",
            "/sys/fs/cgroup/cpuset",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup/unified"
        ]
    );
    assert_eq!(h[0].controllers, ["cpu", "cpuacct"]);
    assert_eq!(h[3].controllers, ["name=systemd"]);
    assert!(h[4].v2);
    let cg = Cgroup::with_layout(Some(Path::new("a/b")), "id", layout, h).unwrap();
    assert_eq!(cg.path, "/a/b");
    assert_eq!(
        cg.dir_of("cpuacct").unwrap(),
        Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b")
    );
    assert_eq!(
        cg.unified_dir().unwrap(),
        Path::new("/sys/fs/cgroup/unified/a/b")
    );
    let ms = cg.mount_sources();
    let names: Vec<_> = ms.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(names, ["cpu,cpuacct", "cpuset", "memory", "systemd"]);
    assert_eq!(ms[2].0, Path::new("/sys/fs/cgroup/memory/a/b"));
}

#[test]
fn mountinfo_v2_and_none() {
    let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    let (layout, h) = parse_mountinfo(text).unwrap();
    assert_eq!(layout, Layout::V2);
    assert_eq!(h.len(), 1);
    let cg = Cgroup::with_layout(None, "abc", layout, h).unwrap();
    assert_eq!(cg.path, "/abc");
    assert_eq!(
        cg.dir_of("memory").unwrap(),
        Path::new("/sys/fs/cgroup/abc")
    );
    assert_eq!(
        cg.mount_sources(),
        vec![(PathBuf::from("/sys/fs/cgroup/abc"), String::new())]
    );
    assert!(parse_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n").is_err());
    assert_eq!(unescape(r"/a\040b"), "/a b");
}

#[test]
fn path_rules() {
    let p = |s: Option<&str>| {
        Cgroup::with_layout(s.map(Path::new), "id", Layout::V2, vec![])
            .unwrap()
            .path
    };
    assert_eq!(p(None), "/id");
    assert_eq!(p(Some("/x/y")), "/x/y");
    assert_eq!(p(Some("x/y")), "/x/y");
    assert_eq!(p(Some("/x/../../etc//y/.")), "/etc/y");
    assert_eq!(p(Some("")), "/id");
}

#[test]
fn v2_conversions() {
    assert_eq!(v2::shares_to_weight(0), 0);
    assert_eq!(v2::shares_to_weight(2), 1);
    assert_eq!(v2::shares_to_weight(1024), 39);
    assert_eq!(v2::shares_to_weight(262144), 10000);
    assert_eq!(v2::blkio_weight_to_io_weight(10), 1);
    assert_eq!(v2::blkio_weight_to_io_weight(1000), 10000);
    assert_eq!(v2::swap_to_v2(0, -1), Ok(-1));
    assert_eq!(v2::swap_to_v2(200, 100), Ok(100));
    assert_eq!(v2::swap_to_v2(100, 100), Ok(0));
    assert_eq!(v2::swap_to_v2(-1, 100), Ok(-1));
    assert!(v2::swap_to_v2(50, 100).is_err());
    assert!(v2::swap_to_v2(50, 0).is_err());
}

#[test]
fn serde_roundtrip() {
    let (layout, h) = parse_mountinfo(HYBRID).unwrap();
    let mut cg = Cgroup::with_layout(None, "id", layout, h).unwrap();
    cg.created = vec![PathBuf::from("/sys/fs/cgroup/memory/id")];
    let s = serde_json::to_string(&cg).unwrap();
    let back: Cgroup = serde_json::from_str(&s).unwrap();
    assert_eq!(back.hierarchies, cg.hierarchies);
    assert_eq!(back.created, cg.created);
    // An old state.json with only "path" still loads.
    let old: Cgroup = serde_json::from_str(r#"{"path":"/x"}"#).unwrap();
    assert_eq!(old.path, "/x");
}

// ---------------------------------------------------------------- real cgroups

#[test]
fn host_detection() {
    let cg = Cgroup::new(None, "x").unwrap();
    if is_v1() {
        assert_eq!(cg.layout, Layout::V1);
        assert!(cg.dir_of("memory").is_some());
        assert!(
            cg.dir_of("name=systemd").is_some() || !Path::new("/sys/fs/cgroup/systemd").exists()
        );
    } else {
        assert_eq!(cg.layout, Layout::V2);
    }
}

#[test]
fn lifecycle_nested_limits_freeze_stats_destroy() {
    let top = unique("life");
    let path = format!("{top}/a/b");
    let r = res(serde_json::json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
        "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 4, "access": "rw"}]
    }));
    let mut g = Guard::new(&path, Some(&r));
    let cg = g.cg.clone();
    // Every hierarchy got the three levels, parents first.
    assert_eq!(cg.created.len(), 3 * cg.hierarchies.len());
    for d in &cg.created {
        assert!(d.is_dir(), "{}", d.display());
    }
    if cg.layout == Layout::V1 {
        let mem = cg.dir_of("memory").unwrap();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
        assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "33554432");
        let cpu = cg.dir_of("cpu").unwrap();
        assert_eq!(read(&cpu, "cpu.shares"), "512");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
        let cs = cg.dir_of("cpuset").unwrap();
        assert_eq!(read(&cs, "cpuset.cpus"), "0");
        // The intermediate level got the parent's cpus/mems copied.
        let parent = cs.parent().unwrap();
        assert_eq!(
            read(parent, "cpuset.cpus"),
            read(Path::new("/sys/fs/cgroup/cpuset"), "cpuset.cpus")
        );
        assert!(!read(parent, "cpuset.mems").is_empty());
        assert_eq!(read(&cg.dir_of("pids").unwrap(), "pids.max"), "20");
        let devs = read(&cg.dir_of("devices").unwrap(), "devices.list");
        let want = [
            "c 4:* rw",
            "b *:* m",
            "c *:* m",
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:0 rwm",
            "c 5:2 rwm",
            "c 10:200 rwm",
            "c 136:* rwm",
        ];
        let mut got: Vec<&str> = devs.lines().collect();
        got.sort();
        let mut want = want.to_vec();
        want.sort();
        assert_eq!(got, want);
    } else {
        let d = cg.unified_dir().unwrap();
        assert_eq!(read(&d, "memory.max"), "67108864");
        assert_eq!(
            read(&d, "cpu.weight"),
            v2::shares_to_weight(512).to_string()
        );
        assert_eq!(read(&d, "cpu.max"), "50000 100000");
    }

    // A busy loop, so freezing is observable in its CPU time.
    let pid = g.spawn(&["/bin/busybox", "sh", "-c", "while :; do :; done"], false);
    let pid2 = g.spawn(&["sleep", "100"], false);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        own.lines().any(|l| l.ends_with(&format!(":{path}"))),
        "{own}"
    );
    if cg.layout == Layout::V1 {
        assert!(own.contains(&format!("memory:{path}")), "{own}");
        assert!(own.contains(&format!("name=systemd:{path}")), "{own}");
        if cg.unified_dir().is_some() {
            assert!(own.contains(&format!("0::{path}")), "{own}");
        }
    }
    let pids = cg.pids().unwrap();
    assert!(pids.contains(&pid) && pids.contains(&pid2), "{pids:?}");

    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    if let Some(f) = cg.dir_of("freezer").filter(|_| cg.layout == Layout::V1) {
        assert_eq!(read(&f, "freezer.state"), "FROZEN");
    }
    // CPU time is accounted at ticks: let the last partial one land first.
    std::thread::sleep(Duration::from_millis(100));
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), t0, "a frozen task must not run");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(cpu_ticks(pid) > t0, "a thawed task runs again");

    let st = cg.stats().unwrap();
    assert_eq!(st["memory"]["usage"]["limit"], 67108864, "{st}");
    // Charges do not move with a task on v1, so usage may be 0 (and then omitted).
    assert!(st["memory"]["usage"]["failcnt"].is_u64(), "{st}");
    assert!(st["memory"]["raw"].is_object(), "{st}");
    assert!(st["pids"]["current"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(st["pids"]["limit"], 20);
    assert!(st["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{st}");
    assert!(st["cpu"]["usage"]["user"].is_u64(), "{st}");
    assert!(st["hugetlb"].is_object());
    assert!(st["network_interfaces"].is_null());

    // Update: 0 / absent leave things alone.
    cg.update(&res(
        serde_json::json!({"memory": {"limit": 0}, "pids": {"limit": 30}}),
    ))
    .unwrap();
    if cg.layout == Layout::V1 {
        assert_eq!(
            read(&cg.dir_of("memory").unwrap(), "memory.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(read(&cg.dir_of("pids").unwrap(), "pids.max"), "30");
    }

    g.reap();
    cg.destroy().unwrap();
    for d in &cg.created {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    for h in &cg.hierarchies {
        assert!(!h.mount.join(top.trim_start_matches('/')).exists());
    }
}

#[test]
fn memory_swap_order_on_update() {
    if !is_v1() || !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        return;
    }
    let r = res(serde_json::json!({"memory": {"limit": 33554432, "swap": 67108864}}));
    let g = Guard::new(&unique("swap"), Some(&r));
    let mem = g.cg.dir_of("memory").unwrap();
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "67108864");
    // Growing: memsw must be raised before the limit.
    g.cg.update(&res(
        serde_json::json!({"memory": {"limit": 134217728, "swap": 268435456}}),
    ))
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "134217728");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "268435456");
    // Shrinking: the limit must go down first.
    g.cg.update(&res(
        serde_json::json!({"memory": {"limit": 16777216, "swap": 33554432}}),
    ))
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "16777216");
    assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "33554432");
    // -1 with no swap: both unlimited.
    g.cg.update(&res(serde_json::json!({"memory": {"limit": -1}})))
        .unwrap();
    assert_eq!(
        read(&mem, "memory.limit_in_bytes"),
        read(&mem, "memory.memsw.limit_in_bytes")
    );
}

#[test]
fn oom_kill_is_counted() {
    let r = res(serde_json::json!({"memory": {"limit": 33554432}}));
    let mut g = Guard::new(&unique("oom"), Some(&r));
    assert_eq!(g.cg.oom_count().unwrap(), 0);
    let notifier = g.cg.oom_notifier().unwrap();
    // Wait on stdin so the shell is in the cgroup before it allocates.
    g.spawn(
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "read x; head -c 64m /dev/zero | tail; echo rc=$?",
        ],
        true,
    );
    let mut kid = g.kids.pop().unwrap();
    kid.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = kid.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The OOM killer picks tail (the shell reports 137) or, now and then, the shell.
    use std::os::unix::process::ExitStatusExt as _;
    assert!(
        stdout.contains("rc=137") || out.status.signal() == Some(libc::SIGKILL),
        "something should be SIGKILLed: {stdout:?} {:?}",
        out.status
    );
    assert!(g.cg.oom_count().unwrap() >= 1);
    // The notifier fired.
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&notifier),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 5000) };
    assert_eq!(n, 1, "the oom notifier did not fire");
    let st = g.cg.stats().unwrap();
    if g.cg.layout == Layout::V1 {
        assert!(
            st["memory"]["usage"]["failcnt"].as_u64().unwrap() > 0,
            "{st}"
        );
    }
}

#[test]
fn pids_limit_stops_forks() {
    let r = res(serde_json::json!({"pids": {"limit": 1}}));
    let mut g = Guard::new(&unique("pids"), Some(&r));
    g.spawn(
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "read x; /bin/busybox true; echo rc=$?",
        ],
        true,
    );
    let mut kid = g.kids.pop().unwrap();
    kid.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = kid.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fork"), "{stderr:?}");
    let dir = g.cg.dir_of("pids").unwrap();
    let events = read(&dir, "pids.events");
    assert!(events.starts_with("max ") && events != "max 0", "{events}");
}

#[test]
fn errors_name_the_field_and_leave_nothing() {
    let path = unique("err");
    let mut cg = Cgroup::new(Some(Path::new(&path)), "x").unwrap();
    let bad = res(serde_json::json!({"memory": {"limit": 33554432}, "network": {"classID": 1}}));
    let e = cg.create(Some(&bad)).unwrap_err().to_string();
    if cg.layout == Layout::V1 && cg.dir_of("net_cls").is_none() {
        assert!(
            e.starts_with("linux.resources.network.classID: no net_cls"),
            "{e}"
        );
    } else if cg.layout == Layout::V2 {
        assert!(e.starts_with("linux.resources.network"), "{e}");
    }
    assert!(cg.created.is_empty());
    for h in &cg.hierarchies {
        assert!(!cg.dir(h).exists(), "{} left behind", cg.dir(h).display());
    }
    if cg.layout == Layout::V1 {
        let e = cg
            .create(Some(&res(
                serde_json::json!({"unified": {"memory.max": "1"}}),
            )))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.unified:"), "{e}");
    }
    let e = cg
        .create(Some(&res(
            serde_json::json!({"memory": {"swappiness": 101}}),
        )))
        .unwrap_err()
        .to_string();
    if cg.layout == Layout::V1 {
        assert!(e.starts_with("linux.resources.memory.swappiness:"), "{e}");
    }
    let e = cg
        .create(Some(&res(
            serde_json::json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
        )))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.hugepageLimits[0].pageSize:"),
        "{e}"
    );
    let e = cg
        .create(Some(&res(
            serde_json::json!({"devices": [{"allow": true, "type": "c", "access": "rwx"}]}),
        )))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.devices[0].access:"), "{e}");
    for h in &cg.hierarchies {
        assert!(!cg.dir(h).exists(), "{} left behind", cg.dir(h).display());
    }
}

#[test]
fn memory_limit_below_usage_is_ebusy() {
    let mut g = Guard::new(&unique("busy"), None);
    // Touch some anonymous memory, then wait: without swap it cannot be reclaimed. Only
    // once the shell sits in the cgroup (`go` on stdin): v1 does not move the charge of
    // memory used before the move, and a busy host's first attach can take a while.
    g.spawn(
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "read go; x=$(head -c 2000000 /dev/zero | tr '\\0' a); read y",
        ],
        true,
    );
    {
        use std::io::Write;
        let stdin = g.kids[0].stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
    // Wait until the shell holds most of its 2 MB (a busy host may take a while).
    let (dir, file) = match g.cg.layout {
        Layout::V2 => (g.cg.unified_dir().unwrap(), "memory.current"),
        Layout::V1 => (g.cg.dir_of("memory").unwrap(), "memory.usage_in_bytes"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while files::read_u64(&dir, file, 0).unwrap_or(0) < 1_500_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell never used 1.5 MB"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if g.cg.layout == Layout::V2 {
        // v2 would reclaim or OOM-kill instead of refusing: checkBeforeUpdate compares
        // with memory.current first (runc), and nothing is written.
        let d = g.cg.unified_dir().unwrap();
        let r = res(serde_json::json!({"memory": {"limit": 4096, "checkBeforeUpdate": true}}));
        let e = g.cg.update(&r).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "linux.resources.memory.limit: the new limit 4096 is below the current usage "
            ),
            "{e}"
        );
        assert_eq!(read(&d, "memory.max"), "max");
        return;
    }
    let e =
        g.cg.update(&res(serde_json::json!({"memory": {"limit": 4096}})))
            .unwrap_err()
            .to_string();
    let mem = g.cg.dir_of("memory").unwrap();
    let want = format!(
        "linux.resources.memory.limit: writing 4096 to {}: Device or resource busy",
        mem.join("memory.limit_in_bytes").display()
    );
    assert_eq!(e, want);
}

#[test]
fn hugetlb_limit() {
    let sizes = stats::page_sizes();
    if !sizes.iter().any(|s| s == "2MB") {
        return;
    }
    let r = res(serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    let g = Guard::new(&unique("huge"), Some(&r));
    let (dir, file) = match g.cg.dir_of("hugetlb").filter(|_| g.cg.layout == Layout::V1) {
        Some(d) => (d, "hugetlb.2MB.limit_in_bytes"),
        None => (g.cg.unified_dir().unwrap(), "hugetlb.2MB.max"),
    };
    assert_eq!(read(&dir, file), "4194304");
    g.cg.update(&res(
        serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 8388608}]}),
    ))
    .unwrap();
    assert_eq!(read(&dir, file), "8388608");
    let st = g.cg.stats().unwrap();
    assert!(st["hugetlb"]["2MB"].is_object(), "{st}");
}

#[test]
fn existing_dir_is_not_removed() {
    // A cgroup that already exists (shared with another container) is joined, not owned.
    let path = unique("shared");
    let first = Guard::new(&path, None);
    let mut second = Cgroup::new(Some(Path::new(&path)), "x").unwrap();
    second.create(None).unwrap();
    assert!(second.created.is_empty());
    second.destroy().unwrap();
    for h in &first.cg.hierarchies {
        assert!(first.cg.dir(h).is_dir());
    }
}

#[test]
fn destroy_waits_for_dying_tasks_and_sub_cgroups() {
    let mut g = Guard::new(&unique("dying"), None);
    let pid = g.spawn(&["sleep", "100"], false);
    // A sub-cgroup made from inside (as systemd in a container would).
    let mem = g.cg.dir_of("memory").unwrap();
    std::fs::create_dir(mem.join("inner")).unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Do not reap before destroy: the zombie leaves the cgroup when it dies.
    g.cg.destroy().unwrap();
    for d in &g.cg.created {
        assert!(!d.exists(), "{}", d.display());
    }
    g.reap();
}

/// The v2 code paths, on a pure v2 host or else on the hybrid cgroup2 mount of a v1 host
/// (which has the core v2 files: cgroup.freeze, cgroup.kill, cpu.stat, and here hugetlb).
#[test]
fn v2_code_paths() {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (_, h) = parse_mountinfo(&text).unwrap();
    let Some(u) = h.iter().find(|h| h.v2).cloned() else {
        return;
    };
    let hybrid = u.mount != Path::new("/sys/fs/cgroup");
    let path = unique("v2");
    let cg = Cgroup::with_layout(Some(Path::new(&path)), "x", Layout::V2, vec![u]).unwrap();
    let r = res(serde_json::json!({
        "unified": {"cgroup.max.descendants": "5"},
        "devices": [{"allow": false, "access": "rwm"}]
    }));
    let mut g = Guard::with(cg, Some(&r));
    let cg = g.cg.clone();
    let dir = cg.unified_dir().unwrap();
    assert_eq!(cg.created, vec![dir.clone()]);
    assert_eq!(read(&dir, "cgroup.max.descendants"), "5");
    assert_eq!(cg.mount_sources(), vec![(dir.clone(), String::new())]);

    let pid = g.spawn(&["/bin/busybox", "sh", "-c", "while :; do :; done"], false);
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    // The eBPF device filter: runc's default list allows /dev/null, nothing allows
    // /dev/kmsg (a write-only open of it needs no privilege otherwise).
    let mut probe = Command::new("/bin/busybox");
    probe
        .args(["sh", "-c", "read x; (: > /dev/null) 2>/dev/null && echo null=ok; (: > /dev/kmsg) 2>/dev/null || echo kmsg=denied"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut kid = probe.spawn().unwrap();
    cg.add_task(kid.id() as i32).unwrap();
    kid.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = kid.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "null=ok\nkmsg=denied\n"
    );
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    assert_eq!(read(&dir, "cgroup.freeze"), "1");
    // CPU time is accounted at ticks: let the last partial one land first.
    std::thread::sleep(Duration::from_millis(100));
    let t0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(pid), t0, "a frozen task must not run");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    let st = cg.stats().unwrap();
    assert!(st["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{st}");

    if stats::page_sizes().iter().any(|s| s == "2MB") {
        cg.update(&res(
            serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
        ))
        .unwrap();
        assert_eq!(read(&dir, "hugetlb.2MB.max"), "2097152");
    }
    let e = cg
        .update(&res(serde_json::json!({"unified": {"../x": "1"}})))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("linux.resources.unified.../x: "), "{e}");
    if hybrid {
        // No memory controller on this cgroup2 mount: the error names field and file.
        let e = cg
            .update(&res(serde_json::json!({"memory": {"limit": 1048576}})))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "linux.resources.memory.limit: writing 1048576 to {}: No such file or directory",
                dir.join("memory.max").display()
            )
        );
    }

    // cgroup.kill empties the cgroup in one write.
    assert!(cg.kill_all().unwrap());
    let mut kid = g.kids.pop().unwrap();
    let status = kid.wait().unwrap();
    assert!(!status.success());
    cg.destroy().unwrap();
    assert!(!dir.exists());
}

/// Start-path cost: `cargo test -p rt --lib cgroups::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_new_create_destroy() {
    let r = res(serde_json::json!({
        "memory": {"limit": 67108864},
        "cpu": {"shares": 512},
        "pids": {"limit": 100},
        "devices": [{"allow": false, "access": "rwm"}]
    }));
    let n = 200u32;
    let (mut t_new, mut t_create, mut t_frozen, mut t_destroy) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    for _ in 0..n {
        let path = unique("bench");
        let t = std::time::Instant::now();
        let mut cg = Cgroup::new(Some(Path::new(&path)), "x").unwrap();
        t_new += t.elapsed();
        let t = std::time::Instant::now();
        cg.create(Some(&r)).unwrap();
        t_create += t.elapsed();
        let t = std::time::Instant::now();
        assert!(!cg.is_frozen().unwrap());
        t_frozen += t.elapsed();
        let t = std::time::Instant::now();
        cg.destroy().unwrap();
        t_destroy += t.elapsed();
    }
    println!(
        "per call: new {:?}, create {:?}, is_frozen {:?}, destroy {:?}",
        t_new / n,
        t_create / n,
        t_frozen / n,
        t_destroy / n
    );
}

/// Print stats() of an existing cgroup: RT_CG_PATH=/x cargo test ... print_stats -- --ignored --nocapture
#[test]
#[ignore]
fn print_stats() {
    let p = std::env::var("RT_CG_PATH").unwrap_or_else(|_| "/".into());
    let cg = Cgroup::new(Some(Path::new(&p)), "x").unwrap();
    println!("STATS {}", cg.stats().unwrap());
}

#[test]
fn cpuset_parent_made_by_someone_else_is_filled() {
    if !is_v1() || !Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        return;
    }
    // A parent made outside rt, cpus/mems left empty.
    let top = unique("cpuset");
    let parent = Path::new("/sys/fs/cgroup/cpuset").join(top.trim_start_matches('/'));
    std::fs::create_dir(&parent).unwrap();
    assert_eq!(read(&parent, "cpuset.cpus"), "");
    {
        let mut g = Guard::new(&format!("{top}/leaf"), None);
        g.spawn(&["sleep", "100"], false); // add_task fails (ENOSPC) on an empty cpuset
        assert_eq!(
            read(&parent, "cpuset.cpus"),
            read(parent.parent().unwrap(), "cpuset.cpus")
        );
        assert!(!read(&g.cg.dir_of("cpuset").unwrap(), "cpuset.mems").is_empty());
    }
    std::fs::remove_dir(&parent).unwrap();
}

#[test]
fn parent_shared_with_another_container_is_left_to_it() {
    let top = unique("sharedparent");
    let a = Guard::new(&format!("{top}/a"), None);
    let b = Guard::new(&format!("{top}/b"), None);
    // a made `top`, b found it.
    assert_eq!(a.cg.created.len(), 2 * a.cg.hierarchies.len());
    assert_eq!(b.cg.created.len(), b.cg.hierarchies.len());
    a.cg.destroy().unwrap(); // `top` still holds b: not an error, not removed
    for h in &a.cg.hierarchies {
        assert!(!a.cg.dir(h).exists());
        assert!(b.cg.dir(h).is_dir());
    }
    drop(a);
    drop(b);
    for h in &Cgroup::new(None, "x").unwrap().hierarchies {
        let _ = std::fs::remove_dir(h.mount.join(top.trim_start_matches('/')));
    }
}

#[test]
fn root_cgroup_path_touches_nothing() {
    let mut cg = Cgroup::new(Some(Path::new("/")), "x").unwrap();
    let r = res(serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}));
    cg.create(Some(&r)).unwrap();
    assert!(cg.created.is_empty());
    if cg.layout == Layout::V1 {
        let list = read(Path::new("/sys/fs/cgroup/devices"), "devices.list");
        assert_eq!(list, "a *:* rwm");
    }
    cg.destroy().unwrap();
}

/// Rule order and partial access in the eBPF device filter (on the cgroup2 mount).
#[test]
fn v2_device_filter_rules() {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let (_, h) = parse_mountinfo(&text).unwrap();
    let Some(u) = h.iter().find(|h| h.v2).cloned() else {
        return;
    };
    let run = |rules: serde_json::Value| -> String {
        let cg = Cgroup::with_layout(
            Some(Path::new(&unique("v2dev"))),
            "x",
            Layout::V2,
            vec![u.clone()],
        )
        .unwrap();
        let g = Guard::with(cg, Some(&res(serde_json::json!({ "devices": rules }))));
        let mut kid = Command::new("/bin/busybox")
            .args([
                "sh",
                "-c",
                "read x; for d in /dev/kmsg /dev/null; do \
                 (: > $d) 2>/dev/null && echo w=ok || echo w=no; \
                 (: < $d) 2>/dev/null && echo r=ok || echo r=no; done",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        g.cg.add_task(kid.id() as i32).unwrap();
        kid.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = kid.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).replace('\n', " ")
    };
    // kmsg: write allowed only; null: runc's defaults.
    let s = run(serde_json::json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]));
    assert_eq!(s, "w=ok r=no w=ok r=ok ");
    // A later deny wins over an earlier allow.
    let s = run(serde_json::json!([
        {"allow": true, "type": "c", "major": 1, "access": "rwm"},
        {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}
    ]));
    assert_eq!(s, "w=no r=no w=ok r=ok ");
    // Allow-all (privileged): everything.
    let s = run(serde_json::json!([{"allow": true, "access": "rwm"}]));
    assert_eq!(s, "w=ok r=ok w=ok r=ok ");
}

#[test]
fn blkio_weight_and_throttle() {
    let Some(dev) = std::fs::read_to_string("/sys/block/vda/dev")
        .or_else(|_| std::fs::read_to_string("/sys/block/loop0/dev"))
        .ok()
    else {
        return;
    };
    let (maj, min) = dev.trim().split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    let r = res(serde_json::json!({"blockIO": {
        "weight": 200,
        "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]
    }}));
    let mut cg = Cgroup::new(Some(Path::new(&unique("blkio"))), "x").unwrap();
    if cg.layout == Layout::V2 {
        return; // v2: every_field_lands_in_its_file (io.max, io.bfq.weight on the lane's disk)
    }
    let weight_ok = match cg.create(Some(&r)) {
        Ok(()) => true,
        // No weight file at all (no CFQ, no BFQ): runc fails the same way.
        Err(e)
            if e.to_string()
                .starts_with("linux.resources.blockIO.weight: ") =>
        {
            false
        }
        Err(e) => panic!("{e}"),
    };
    if !weight_ok {
        let mut r2 = r.clone();
        let mut b = r2.block_io().clone().unwrap();
        b.set_weight(None);
        r2.set_block_io(Some(b));
        cg.create(Some(&r2)).unwrap();
    }
    let g = Guard { cg, kids: vec![] };
    let d = g.cg.dir_of("blkio").unwrap();
    if weight_ok {
        let f = if d.join("blkio.weight").exists() {
            "blkio.weight"
        } else {
            "blkio.bfq.weight"
        };
        assert!(read(&d, f).contains("200"), "{}", read(&d, f));
    }
    assert_eq!(
        read(&d, "blkio.throttle.read_bps_device"),
        format!("{maj}:{min} 1048576")
    );
    assert_eq!(
        read(&d, "blkio.throttle.write_iops_device"),
        format!("{maj}:{min} 100")
    );
    // leafWeight needs CFQ, gone from current kernels: an error naming the field.
    if !d.join("blkio.leaf_weight").exists() {
        let e =
            g.cg.update(&res(serde_json::json!({"blockIO": {"leafWeight": 300}})))
                .unwrap_err()
                .to_string();
        assert!(
            e.starts_with("linux.resources.blockIO.leafWeight: writing 300 to "),
            "{e}"
        );
    }
}

// ------------------------------------------------- every field, table-driven

/// What one field must do on one layout.
enum Exp {
    /// Written: `(controller, file, expected)`; the file's content must contain
    /// `expected`. `a|b` names alternatives (the first that exists is used). When a file
    /// does not exist on this kernel, the field must fail with an error naming it.
    Files(&'static [(&'static str, &'static str, &'static str)]),
    /// Refused on this layout with an error that contains the text.
    Err(&'static str),
    /// Accepted and not written: runc ignores the field on this layout.
    Ignored,
}

/// A whole-disk block device of this machine ("maj:min"), if there is one.
fn block_device() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| (!n.starts_with("vd") && !n.starts_with("sd"), n.clone()));
    names
        .iter()
        .find_map(|n| std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok())
        .map(|s| s.trim().to_string())
}

/// The file of `spec` ("a|b": the first alternative that exists) in the directory of
/// controller `ctl` (v2: always the unified dir; v1 hugetlb: the hybrid cgroup2 mount).
fn field_file(cg: &Cgroup, ctl: &str, spec: &str) -> Option<PathBuf> {
    let dir = match cg.layout {
        Layout::V2 => cg.unified_dir(),
        Layout::V1 => cg
            .dir_of(ctl)
            .or_else(|| (ctl == "hugetlb").then(|| cg.unified_dir()).flatten()),
    }?;
    spec.split('|').map(|f| dir.join(f)).find(|p| p.exists())
}

/// Every `linux.resources` field but devices (see `v2_device_filter_rules` and the
/// lifecycle test's devices.list) lands in its file on this host's layout, with runc's
/// v1→v2 conversions; a field this kernel lacks fails with an error naming it; a field
/// with no equivalent on the layout is refused (or, where runc does, ignored). Each case
/// is its own cgroup, and nothing of it is left afterwards, failed creates included.
#[test]
fn every_field_lands_in_its_file() {
    use serde_json::json;
    // Which files this kernel has: a bare cgroup of the same layout.
    let probe = Guard::new(&unique("fields-probe"), None);
    let dev = block_device();
    let (maj, min) = dev
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .map(|(a, b)| (a.parse::<i64>().unwrap(), b.parse::<i64>().unwrap()))
        .unwrap_or((259, 999_999)); // no block device (the v2 guest): a refused write
    let mm = |rest: &str| Box::leak(format!("{maj}:{min} {rest}").into_boxed_str()) as &str;
    let hp = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned());
    // hugepages-2048kB → 2MB
    let hp_size = hp
        .as_deref()
        .and_then(|n| {
            n.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse::<u64>()
                .ok()
        })
        .map(|kb| {
            if kb >= 1 << 20 {
                format!("{}GB", kb >> 20)
            } else {
                format!("{}MB", kb >> 10)
            }
        })
        .unwrap_or_else(|| "2MB".into());
    let hp_v1 = Box::leak(format!("hugetlb.{hp_size}.max").into_boxed_str()) as &str;
    let hp_v1_files: &'static [(&str, &str, &str)] =
        Box::leak(vec![("hugetlb", hp_v1, "4194304")].into_boxed_slice());
    let throttle_v1: &'static [(&str, &str, &str)] = Box::leak(
        vec![
            ("blkio", "blkio.throttle.read_bps_device", mm("1048576")),
            ("blkio", "blkio.throttle.write_bps_device", mm("2097152")),
            ("blkio", "blkio.throttle.read_iops_device", mm("100")),
            ("blkio", "blkio.throttle.write_iops_device", mm("200")),
        ]
        .into_boxed_slice(),
    );
    let throttle_v2: &'static [(&str, &str, &str)] = Box::leak(
        vec![(
            "io",
            "io.max",
            mm("rbps=1048576 wbps=2097152 riops=100 wiops=200"),
        )]
        .into_boxed_slice(),
    );
    let wd_v1: &'static [(&str, &str, &str)] = Box::leak(
        vec![(
            "blkio",
            "blkio.weight_device|blkio.bfq.weight_device",
            mm("300"),
        )]
        .into_boxed_slice(),
    );
    let wd_v2: &'static [(&str, &str, &str)] =
        Box::leak(vec![("io", "io.bfq.weight", mm("300"))].into_boxed_slice());
    // Per-device weights need the BFQ scheduler on that device (CFQ is gone).
    let bfq = dev.as_ref().is_some_and(|d| {
        std::fs::read_to_string(format!("/sys/dev/block/{d}/queue/scheduler"))
            .is_ok_and(|s| s.contains("[bfq]"))
    });
    let io_weight: &'static [(&str, &str, &str)] =
        if field_file(&probe.cg, "io", "io.bfq.weight").is_some() {
            &[("io", "io.bfq.weight", "default 500")]
        } else {
            &[("io", "io.weight", "default 4950")]
        };
    let dev_rate = |r: u64| json!([{"major": maj, "minor": min, "rate": r}]);

    let cases: Vec<(&str, serde_json::Value, Exp, Exp)> = vec![
        (
            "linux.resources.memory.limit",
            json!({"memory": {"limit": 67108864}}),
            Exp::Files(&[("memory", "memory.limit_in_bytes", "67108864")]),
            Exp::Files(&[("memory", "memory.max", "67108864")]),
        ),
        (
            "linux.resources.memory.swap",
            json!({"memory": {"limit": 67108864, "swap": 100663296}}),
            Exp::Files(&[
                ("memory", "memory.limit_in_bytes", "67108864"),
                ("memory", "memory.memsw.limit_in_bytes", "100663296"),
            ]),
            // memory.swap.max = swap − limit
            Exp::Files(&[
                ("memory", "memory.max", "67108864"),
                ("memory", "memory.swap.max", "33554432"),
            ]),
        ),
        (
            "linux.resources.memory.reservation",
            json!({"memory": {"reservation": 33554432}}),
            Exp::Files(&[("memory", "memory.soft_limit_in_bytes", "33554432")]),
            Exp::Files(&[("memory", "memory.low", "33554432")]),
        ),
        (
            // Obsolete in the kernel; runc never fails on it, nor does rt (docs/cgroups.md).
            "linux.resources.memory.kernel",
            json!({"memory": {"kernel": 67108864}}),
            Exp::Ignored,
            Exp::Ignored,
        ),
        (
            "linux.resources.memory.kernelTCP",
            json!({"memory": {"kernelTCP": 16777216}}),
            Exp::Files(&[("memory", "memory.kmem.tcp.limit_in_bytes", "16777216")]),
            Exp::Ignored,
        ),
        (
            "linux.resources.memory.swappiness",
            json!({"memory": {"swappiness": 30}}),
            Exp::Files(&[("memory", "memory.swappiness", "30")]),
            Exp::Ignored,
        ),
        (
            "linux.resources.memory.disableOOMKiller",
            json!({"memory": {"disableOOMKiller": true}}),
            Exp::Files(&[("memory", "memory.oom_control", "oom_kill_disable 1")]),
            Exp::Ignored,
        ),
        (
            "linux.resources.cpu.shares",
            json!({"cpu": {"shares": 512}}),
            Exp::Files(&[("cpu", "cpu.shares", "512")]),
            Exp::Files(&[("cpu", "cpu.weight", "20")]), // 1 + (510·9999)/262142
        ),
        (
            "linux.resources.cpu.quota",
            json!({"cpu": {"quota": 20000, "period": 50000}}),
            Exp::Files(&[
                ("cpu", "cpu.cfs_quota_us", "20000"),
                ("cpu", "cpu.cfs_period_us", "50000"),
            ]),
            Exp::Files(&[("cpu", "cpu.max", "20000 50000")]),
        ),
        (
            "linux.resources.cpu.burst",
            json!({"cpu": {"quota": 20000, "period": 100000, "burst": 5000}}),
            Exp::Files(&[("cpu", "cpu.cfs_burst_us", "5000")]),
            Exp::Files(&[("cpu", "cpu.max.burst", "5000")]),
        ),
        (
            "linux.resources.cpu.realtime",
            json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}}),
            Exp::Files(&[
                ("cpu", "cpu.rt_period_us", "1000000"),
                ("cpu", "cpu.rt_runtime_us", "10000"),
            ]),
            Exp::Err("realtime scheduling limits are not supported on cgroup v2"),
        ),
        (
            "linux.resources.cpu.idle",
            json!({"cpu": {"idle": 1}}),
            Exp::Files(&[("cpu", "cpu.idle", "1")]),
            Exp::Files(&[("cpu", "cpu.idle", "1")]),
        ),
        (
            "linux.resources.cpu.",
            json!({"cpu": {"cpus": "0", "mems": "0"}}),
            Exp::Files(&[
                ("cpuset", "cpuset.cpus", "0"),
                ("cpuset", "cpuset.mems", "0"),
            ]),
            Exp::Files(&[
                ("cpuset", "cpuset.cpus", "0"),
                ("cpuset", "cpuset.mems", "0"),
            ]),
        ),
        (
            "linux.resources.pids.limit",
            json!({"pids": {"limit": 25}}),
            Exp::Files(&[("pids", "pids.max", "25")]),
            Exp::Files(&[("pids", "pids.max", "25")]),
        ),
        (
            "linux.resources.blockIO.weight",
            json!({"blockIO": {"weight": 500}}),
            Exp::Files(&[("blkio", "blkio.weight|blkio.bfq.weight", "500")]),
            // io.bfq.weight takes the value as is, io.weight converted: 1 + (490·9999)/990
            Exp::Files(io_weight),
        ),
        (
            "linux.resources.blockIO.leafWeight",
            json!({"blockIO": {"leafWeight": 300}}),
            Exp::Files(&[("blkio", "blkio.leaf_weight", "300")]),
            Exp::Ignored,
        ),
        (
            "linux.resources.blockIO.weightDevice",
            json!({"blockIO": {"weightDevice": [{"major": maj, "minor": min, "weight": 300}]}}),
            Exp::Files(wd_v1),
            Exp::Files(wd_v2),
        ),
        (
            "linux.resources.blockIO.throttle",
            json!({"blockIO": {
                "throttleReadBpsDevice": dev_rate(1048576),
                "throttleWriteBpsDevice": dev_rate(2097152),
                "throttleReadIOPSDevice": dev_rate(100),
                "throttleWriteIOPSDevice": dev_rate(200)
            }}),
            Exp::Files(throttle_v1),
            Exp::Files(throttle_v2),
        ),
        (
            "linux.resources.hugepageLimits[0]",
            json!({"hugepageLimits": [{"pageSize": hp_size, "limit": 4194304}]}),
            Exp::Files(hp_v1_files),
            Exp::Files(hp_v1_files),
        ),
        (
            "linux.resources.network.classID",
            json!({"network": {"classID": 1048577}}),
            Exp::Files(&[("net_cls", "net_cls.classid", "1048577")]),
            Exp::Err("net_cls/net_prio do not exist on cgroup v2"),
        ),
        (
            "linux.resources.network.priorities",
            json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}),
            Exp::Files(&[("net_prio", "net_prio.ifpriomap", "lo 5")]),
            Exp::Err("net_cls/net_prio do not exist on cgroup v2"),
        ),
        (
            // No RDMA device on these machines: the kernel refuses the line (v2) or there
            // is no rdma hierarchy (v1); either way the error names the device's entry.
            "linux.resources.rdma.mlx5_0",
            json!({"rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}}}),
            Exp::Files(&[("rdma", "rdma.max", "mlx5_0 hca_handle=3 hca_object=100")]),
            Exp::Files(&[("rdma", "rdma.max", "mlx5_0 hca_handle=3 hca_object=100")]),
        ),
        (
            "linux.resources.unified",
            json!({"unified": {"pids.max": "7"}}),
            Exp::Err("cgroup v2 settings cannot be applied: this host uses cgroup v1"),
            Exp::Files(&[("pids", "pids.max", "7")]),
        ),
    ];

    let mut report = Vec::new();
    for (field, json, v1, v2) in cases {
        let exp = if probe.cg.layout == Layout::V1 {
            v1
        } else {
            v2
        };
        let r = res(json.clone());
        let mut cg = Cgroup::new(Some(Path::new(&unique("field"))), "x").unwrap();
        let dirs: Vec<PathBuf> = cg.hierarchies.iter().map(|h| cg.dir(h)).collect();
        let got = cg.create(Some(&r));
        let outcome = match (&exp, &got) {
            (Exp::Err(text), Err(e)) => {
                let e = e.to_string();
                assert!(e.starts_with(field) && e.contains(text), "{field}: {e}");
                format!("refused: {e}")
            }
            (Exp::Ignored, Ok(())) => "ignored (as runc)".into(),
            (Exp::Files(files), _) => {
                let missing: Vec<&str> = files
                    .iter()
                    .filter(|(ctl, f, _)| field_file(&probe.cg, ctl, f).is_none())
                    .map(|(_, f, _)| *f)
                    .collect();
                match &got {
                    Ok(()) => {
                        assert!(missing.is_empty(), "{field}: {missing:?} absent, yet Ok");
                        for (ctl, f, want) in files.iter() {
                            let p = field_file(&cg, ctl, f).unwrap();
                            let c = std::fs::read_to_string(&p).unwrap();
                            assert!(
                                c.contains(want),
                                "{field}: {} = {c:?}, want {want:?}",
                                p.display()
                            );
                        }
                        format!("written: {files:?}")
                    }
                    Err(e) => {
                        let e = e.to_string();
                        assert!(e.starts_with(field), "{field}: error must name it: {e}");
                        // Refused only where the kernel lacks a file, has no such
                        // hierarchy, or has no such device.
                        let no_device = field.contains("blockIO.") && dev.is_none()
                            || field.contains("rdma")
                            || field.contains("weightDevice") && !bfq;
                        assert!(
                            !missing.is_empty() || no_device,
                            "{field}: refused although {files:?} exist: {e}"
                        );
                        format!("refused (kernel, hierarchy or device lacks it): {e}")
                    }
                }
            }
            (_, Ok(())) => panic!(
                "{field}: accepted, expected {}",
                match exp {
                    Exp::Err(t) => t,
                    _ => "",
                }
            ),
            (_, Err(e)) => panic!("{field}: {e}"),
        };
        report.push(format!("{field}: {outcome}"));
        if got.is_ok() {
            cg.destroy().unwrap();
        }
        for d in &dirs {
            assert!(!d.exists(), "{field}: {} left behind", d.display());
        }
    }
    // Shown with --nocapture: what this kernel does per field (for docs/cgroups.md).
    println!("{}", report.join("\n"));
}

/// clone3(CLONE_INTO_CGROUP) puts the child in the cgroup2 directory from its first
/// instruction (its first read of /proc/self/cgroup already shows it); a descriptor that
/// is not a cgroup2 directory is refused, which is when `create` falls back to clone +
/// cgroup.procs. Runs on v2 and on the hybrid cgroup2 mount.
#[test]
fn clone_into_cgroup_starts_the_child_there() {
    let g = Guard::new(&unique("clone3"), None);
    let dir = g.cg.unified_dir().expect("a cgroup2 mount");
    let open = |p: &Path| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(p)
            .unwrap()
    };
    let fd = open(&dir);
    let (r, w) = nix::unistd::pipe().unwrap();
    let path = c"/proc/self/cgroup";
    let wfd = std::os::fd::AsRawFd::as_raw_fd(&w);
    let pid = {
        use std::os::fd::AsFd;
        crate::sys::clone_into_cgroup(0, fd.as_fd()).unwrap()
    };
    if pid == 0 {
        // The child: only async-signal-safe calls (the test harness has threads).
        let mut buf = [0u8; 4096];
        // SAFETY: plain libc calls on valid buffers, then _exit.
        unsafe {
            let f = libc::open(path.as_ptr(), libc::O_RDONLY);
            let n = libc::read(f, buf.as_mut_ptr().cast(), buf.len());
            libc::write(wfd, buf.as_ptr().cast(), n.max(0) as usize);
            libc::_exit(0);
        }
    }
    drop(w);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    let want = format!("0::{}", g.cg.path);
    assert!(out.lines().any(|l| l == want), "want {want:?} in {out:?}");
    // Not a cgroup2 directory: refused, nothing is cloned.
    let e = {
        use std::os::fd::AsFd;
        crate::sys::clone_into_cgroup(0, open(Path::new("/tmp")).as_fd()).unwrap_err()
    };
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    // The cgroup2 directory is the target, pure v2 or hybrid, once it exists.
    assert!(g.cg.clone_target().is_some());
    let mut missing = g.cg.clone();
    missing.path = format!("{}-not-made", g.cg.path);
    assert!(missing.clone_target().is_none());
}
