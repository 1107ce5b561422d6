//! linux.cgroupsPath and linux.resources through real containers: where the container's
//! processes land, that limits are applied and enforced, pause/resume, update, events,
//! and that nothing is left behind. Host layout: cgroup v1 (+ hybrid cgroup2) or v2.
use integration::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The host directory of `cgroups_path` for a v1 controller (or the v2 dir).
fn host_dir(controller: &str, cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    if is_v2() {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join(rel)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn set_resources(b: &mut Bundle, r: Value) {
    b.config["linux"]["resources"] = r;
    b.save();
}

/// `rt run -d` a sleeping container; returns its id.
fn run_sleeper(rt: &Rt, b: &mut Bundle) -> String {
    b.set_args(&["/bin/sleep", "1000"]);
    b.save();
    let id = unique_id("cg");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    rt.wait_status(&id, "running");
    id
}

#[test]
fn init_joins_every_hierarchy_at_cgroups_path() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    let id = unique_id("cgj");
    let out = probe_id(&rt, &mut b, &id, &[]);
    let cgp = b.cgroups_path();
    let lines = out["cgroup"].as_array().expect("cgroup list");
    assert!(!lines.is_empty());
    // No cgroup namespace in the default config: the host paths are visible.
    for l in lines {
        assert_eq!(l["path"], json!(cgp), "{l}");
    }
    if !is_v2() {
        let ctl: Vec<&str> = lines
            .iter()
            .filter_map(|l| l["controllers"].as_str())
            .collect();
        for want in ["memory", "pids", "freezer", "devices", "name=systemd"] {
            if Path::new("/sys/fs/cgroup")
                .join(want.trim_start_matches("name="))
                .exists()
            {
                assert!(ctl.contains(&want), "{want} missing from {ctl:?}");
            }
        }
        if Path::new("/sys/fs/cgroup/unified").exists() {
            assert!(
                ctl.contains(&""),
                "hybrid cgroup2 (0::) missing from {ctl:?}"
            );
        }
    }
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn limits_are_written_and_visible_inside() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(
        &mut b,
        json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 67108864},
            "pids": {"limit": 25},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000}
        }),
    );
    let id = run_sleeper(&rt, &mut b);
    let cgp = b.cgroups_path();
    if is_v2() {
        let d = host_dir("", &cgp);
        assert_eq!(read(&d.join("memory.max")), "67108864");
        assert_eq!(read(&d.join("pids.max")), "25");
        assert_eq!(read(&d.join("cpu.max")), "20000 100000");
        assert_eq!(read(&d.join("cpu.weight")), "20"); // 1 + (510*9999)/262142
    } else {
        assert_eq!(
            read(&host_dir("memory", &cgp).join("memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(read(&host_dir("pids", &cgp).join("pids.max")), "25");
        assert_eq!(read(&host_dir("cpu", &cgp).join("cpu.shares")), "512");
        assert_eq!(
            read(&host_dir("cpu", &cgp).join("cpu.cfs_quota_us")),
            "20000"
        );
        // runc's device list: the config's deny-all, then its default allow-list.
        let mut list: Vec<String> = read(&host_dir("devices", &cgp).join("devices.list"))
            .lines()
            .map(str::to_string)
            .collect();
        list.sort();
        let mut want = vec![
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
        want.sort();
        assert_eq!(list, want);
    }
    // The runc spec's `cgroup` mount shows the container its own cgroup.
    let inside = if is_v2() {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    };
    let r = exec_probe(&rt, &id, &["read", inside]);
    assert_eq!(r["data"].as_str().map(str::trim), Some("67108864"), "{r}");

    // events --stats: runc's JSON.
    let ev: Value = serde_json::from_str(&rt.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 67108864, "{ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 25, "{ev}");
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{ev}"
    );
    assert!(ev["data"]["cpu"]["usage"]["total"].is_u64(), "{ev}");

    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn memory_limit_oom_kills_the_container() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(&mut b, json!({"memory": {"limit": 33554432}}));
    b.set_args(&["/bin/rt-probe", "alloc", "128"]);
    b.save();
    let id = unique_id("oom");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&["run"], &out));
    // `run` without --keep deletes the container itself.
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn pids_limit_stops_forks() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(&mut b, json!({"pids": {"limit": 5}}));
    let r = probe(&rt, &mut b, &["fork", "20"]);
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["errno"], libc::EAGAIN, "{r}");
    assert!(r["forked"].as_u64().unwrap() < 5, "{r}");
}

#[test]
fn device_rules_are_enforced() {
    // v1: devices.allow/deny; v2: the eBPF device filter.
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    // /dev/kmsg: a write-only open needs no privilege, only the devices cgroup's consent.
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}
    ]);
    b.save();
    let r = probe(&rt, &mut b, &["open", "/dev/kmsg", "w"]);
    assert_eq!(
        r["errno"],
        libc::EPERM,
        "denied by the default deny-all: {r}"
    );
    let r = probe(&rt, &mut b, &["open", "/dev/null", "rw"]);
    assert_eq!(r["ok"], true, "allowed by runc's default list: {r}");
    set_resources(
        &mut b,
        json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
        ]}),
    );
    let r = probe(&rt, &mut b, &["open", "/dev/kmsg", "w"]);
    assert_eq!(r["ok"], true, "{r}");
}

#[test]
fn pause_resume_and_update() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(
        &mut b,
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}}),
    );
    let id = run_sleeper(&rt, &mut b);
    let cgp = b.cgroups_path();

    rt.ok(&["pause", &id]);
    assert_eq!(rt.status(&id), "paused");
    if is_v2() {
        assert_eq!(read(&host_dir("", &cgp).join("cgroup.freeze")), "1");
    } else {
        assert_eq!(
            read(&host_dir("freezer", &cgp).join("freezer.state")),
            "FROZEN"
        );
    }
    rt.ok(&["resume", &id]);
    assert_eq!(rt.status(&id), "running");

    // Only what is given changes (Docker sends memory 0 when updating other fields).
    rt.ok(&["update", "--pids-limit", "30", &id]);
    rt.ok(&["update", "--memory", "128m", &id]);
    let (mem, pids) = if is_v2() {
        let d = host_dir("", &cgp);
        (read(&d.join("memory.max")), read(&d.join("pids.max")))
    } else {
        (
            read(&host_dir("memory", &cgp).join("memory.limit_in_bytes")),
            read(&host_dir("pids", &cgp).join("pids.max")),
        )
    };
    assert_eq!(mem, "134217728");
    assert_eq!(pids, "30");

    // A paused container can be deleted with -f.
    rt.ok(&["pause", &id]);
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn nested_and_relative_paths_are_removed_on_delete() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    let top = unique_id("rt-test-nest");
    // Relative: under the hierarchy root.
    b.config["linux"]["cgroupsPath"] = json!(format!("{top}/a/b"));
    let id = run_sleeper(&rt, &mut b);
    let ctl = if is_v2() { "" } else { "memory" };
    assert!(host_dir(ctl, &format!("/{top}/a/b")).is_dir());
    let procs = read(&host_dir(ctl, &format!("/{top}/a/b")).join("cgroup.procs"));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    rt.ok(&["delete", "-f", &id]);
    assert!(
        !host_dir(ctl, &format!("/{top}")).exists(),
        "created parents must go too"
    );
    b.config["linux"]["cgroupsPath"] = json!(format!("/{top}/a/b"));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn bad_resources_fail_with_the_json_path_and_leave_nothing() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    let (res, field) = if is_v2() {
        (
            json!({"network": {"classID": 1}}),
            "linux.resources.network",
        )
    } else if !Path::new("/sys/fs/cgroup/net_cls").exists() {
        (
            json!({"network": {"classID": 1}}),
            "linux.resources.network.classID",
        )
    } else {
        (
            json!({"memory": {"swappiness": 200}}),
            "linux.resources.memory.swappiness",
        )
    };
    set_resources(&mut b, res);
    let id = unique_id("bad");
    let err = rt.fail(&["run", "--bundle", b.dir_str(), &id]);
    assert!(err.contains(field), "{err}");
    assert_no_leftovers(&rt, &id, &b);
}

/// `rt run -d` a container running `sh -c script`; returns its id and init pid.
fn run_script(rt: &Rt, b: &mut Bundle, script: &str) -> (String, i32) {
    b.set_args(&["/bin/sh", "-c", script]);
    b.save();
    let id = unique_id("cg");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    rt.wait_status(&id, "running");
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    (id, pid)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The stream of `rt events --interval`: a stats event per interval and an `oom` event
/// (runc's `{"type":"oom","id":...}`, no data) when a process exec'd into the container
/// is OOM-killed while the init lives on.
#[test]
fn events_stream_reports_oom_kills() {
    use std::io::BufRead;
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(
        &mut b,
        json!({"memory": {"limit": 33554432, "swap": 33554432}}),
    );
    let id = run_sleeper(&rt, &mut b);
    let mut ev = rt.cmd();
    ev.args(["events", "--interval", "1s", &id]);
    ev.stdout(std::process::Stdio::piped());
    let mut child = ev.spawn().expect("spawning rt events");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut stats, mut oom) = (0, None);
    while oom.is_none() && std::time::Instant::now() < deadline {
        let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(500)) else {
            continue;
        };
        let v: Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(v["id"], json!(id), "{v}");
        match v["type"].as_str() {
            Some("stats") => {
                stats += 1;
                assert!(v["data"]["memory"].is_object(), "{v}");
                if stats == 1 {
                    // The stream is on (its OOM count taken): now a process of the
                    // container allocates past the limit and is killed.
                    rt.ok(&["exec", "-d", &id, "/bin/rt-probe", "alloc", "128"]);
                }
            }
            Some("oom") => oom = Some(v),
            _ => panic!("unexpected event {v}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let oom = oom.unwrap_or_else(|| panic!("no oom event after {stats} stats events"));
    assert_eq!(oom, json!({"type": "oom", "id": id}));
    assert!(stats >= 1, "at least the first stats event comes at once");
    // The init lives on: only the exec'd process was killed.
    assert_eq!(rt.status(&id), "running");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

/// A CPU quota shows up as throttling in `events --stats`, next to memory and pids.
#[test]
fn cpu_quota_shows_as_throttling_in_stats() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(
        &mut b,
        json!({"cpu": {"quota": 10000, "period": 100000}, "memory": {"limit": 67108864}, "pids": {"limit": 10}}),
    );
    let (id, _) = run_script(&rt, &mut b, "while :; do :; done");
    // Wait for throttling (a loaded host may give the loop little CPU at first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ev = loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let ev: Value = serde_json::from_str(&rt.ok(&["events", "--stats", &id])).unwrap();
        let t = &ev["data"]["cpu"]["throttling"];
        if t["throttledPeriods"].as_u64().unwrap_or(0) >= 1 || std::time::Instant::now() > deadline
        {
            break ev;
        }
    };
    let t = &ev["data"]["cpu"]["throttling"];
    assert!(t["periods"].as_u64().unwrap_or(0) >= 2, "{ev}");
    assert!(t["throttledPeriods"].as_u64().unwrap_or(0) >= 1, "{ev}");
    assert!(t["throttledTime"].as_u64().unwrap_or(0) > 0, "{ev}");
    let m = &ev["data"]["memory"]["usage"];
    assert_eq!(m["limit"], 67108864, "{ev}");
    assert!(m["usage"].as_u64().unwrap_or(0) > 0, "{ev}");
    assert!(m["failcnt"].is_u64(), "{ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 10, "{ev}");
    assert_eq!(ev["data"]["pids"]["current"], 1, "{ev}");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

/// pause stops a busy process (its CPU time stops advancing), resume lets it go on; `ps`
/// lists the processes of the container's cgroup, the init and an exec'd one.
#[test]
fn pause_stops_the_clock_and_ps_reads_the_cgroup() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    let (id, pid) = run_script(&rt, &mut b, "while :; do :; done");
    let mut exec = rt.cmd();
    exec.args(["exec", "-d", &id, "/bin/sleep", "1000"]);
    assert!(exec.status().unwrap().success());
    let ps: Value = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    let pids: Vec<i64> = ps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_i64())
        .collect();
    assert_eq!(pids.len(), 2, "init and the exec'd sleep: {ps}");
    assert!(pids.contains(&(pid as i64)), "{ps}");

    rt.ok(&["pause", &id]);
    // CPU time is accounted at ticks: let the last partial one land first.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let t0 = cpu_ticks(pid);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(cpu_ticks(pid), t0, "a frozen process does not run");
    rt.ok(&["resume", &id]);
    // Runs again: its CPU time moves (within 10 s, however loaded the host is).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while cpu_ticks(pid) == t0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a thawed process runs again"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

/// `update -r -` (runc's JSON on stdin) and runc's flags change a running container's
/// limits; what is not given (or given as 0) stays as it was.
#[test]
fn update_from_json_and_flags() {
    use std::io::Write;
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    set_resources(
        &mut b,
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}, "cpu": {"shares": 1024}}),
    );
    let id = run_sleeper(&rt, &mut b);
    let cgp = b.cgroups_path();
    let mut c = rt.cmd();
    c.args(["update", "-r", "-", &id])
        .stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"memory": {"limit": 0}, "cpu": {"quota": 30000, "period": 100000}, "pids": {"limit": 40}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    rt.ok(&["update", "--cpu-share", "2048", "--memory", "100m", &id]);
    let files: Vec<(&str, &str, &str)> = if is_v2() {
        vec![
            ("", "memory.max", "104857600"),
            ("", "pids.max", "40"),
            ("", "cpu.max", "30000 100000"),
            ("", "cpu.weight", "79"), // 1 + (2046*9999)/262142
        ]
    } else {
        vec![
            ("memory", "memory.limit_in_bytes", "104857600"),
            ("pids", "pids.max", "40"),
            ("cpu", "cpu.cfs_quota_us", "30000"),
            ("cpu", "cpu.cfs_period_us", "100000"),
            ("cpu", "cpu.shares", "2048"),
        ]
    };
    for (ctl, f, want) in files {
        assert_eq!(read(&host_dir(ctl, &cgp).join(f)), want, "{f}");
    }
    // A bad value names the flag and changes nothing.
    let err = rt.fail(&["update", "--memory", "lots", &id]);
    assert!(err.contains("memory"), "{err}");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

/// The init is in its cgroup, in every hierarchy, when `create` returns: cloned into its
/// cgroup2 directory (clone3 CLONE_INTO_CGROUP, so it never ran anywhere else there: pure
/// v2, or the hybrid mount), and on v1 joined by itself (Cgroup::join_files). `exec`
/// takes the same path.
#[test]
fn init_is_in_its_cgroup_when_create_returns() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/sleep", "1000"]);
    let id = unique_id("c3");
    let log = b.dir.join("rt.log");
    let log_s = log.to_str().unwrap().to_string();
    rt.ok(&[
        "--debug",
        "--log",
        &log_s,
        "create",
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let cgp = b.cgroups_path();
    let in_every_hierarchy = |pid: i64| {
        let cg = read(Path::new(&format!("/proc/{pid}/cgroup")));
        assert!(cg.lines().count() > 0, "{cg}");
        for l in cg.lines() {
            assert!(l.ends_with(&format!(":{cgp}")), "{l}: not in {cgp}:\n{cg}");
        }
    };
    in_every_hierarchy(pid);
    let log = std::fs::read_to_string(&log).unwrap();
    let unified = is_v2() || Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    let mut how = vec![];
    if unified {
        how.push("init was cloned into its cgroup2 directory");
    }
    if !is_v2() {
        how.push("init: joined its cgroup v1 hierarchies");
    }
    for h in how {
        assert!(log.contains(h), "{h:?} not in the debug log:\n{log}");
    }
    // exec: its process is cloned into the cgroup2 directory too, joins the v1
    // hierarchies itself, and `ps` (which reads the cgroup) sees it.
    rt.ok(&["start", &id]);
    rt.ok(&[
        "--debug",
        "--log",
        &log_s,
        "exec",
        "-d",
        "--pid-file",
        b.dir.join("exec.pid").to_str().unwrap(),
        &id,
        "/bin/sleep",
        "999",
    ]);
    let log = std::fs::read_to_string(b.dir.join("rt.log")).unwrap();
    assert!(!log.contains("clone3 into the cgroup refused"), "{log}");
    let exec_pid: i64 = read(&b.dir.join("exec.pid")).trim().parse().unwrap();
    in_every_hierarchy(exec_pid);
    let ps: Value = serde_json::from_str(&rt.ok(&["ps", "--format", "json", &id])).unwrap();
    assert_eq!(ps.as_array().map(Vec::len), Some(2), "{ps}");
    rt.ok(&["delete", "-f", &id]);
    b.set_args(&["/bin/true"]);
    assert_no_leftovers(&rt, &id, &b);
}

/// Without a pid namespace, processes the init started outlive it in the container's
/// cgroup; `delete` of the stopped container kills them and removes the cgroup.
#[test]
fn delete_kills_leftovers_and_removes_the_cgroup() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    b.remove_namespace("pid");
    let (id, _) = run_script(&rt, &mut b, "/bin/sleep 1000 & sleep 1; exit 0");
    rt.wait_status(&id, "stopped");
    let left = pids_in_rootfs(&b.rootfs());
    assert_eq!(left.len(), 1, "the background sleep lives on: {left:?}");
    let cgp = b.cgroups_path();
    let ctl = if is_v2() { "" } else { "pids" };
    let procs = read(&host_dir(ctl, &cgp).join("cgroup.procs"));
    assert!(procs.contains(&left[0].0.to_string()), "{procs}");
    rt.ok(&["delete", &id]);
    assert!(!host_dir(ctl, &cgp).exists());
    assert_no_leftovers(&rt, &id, &b);
}
