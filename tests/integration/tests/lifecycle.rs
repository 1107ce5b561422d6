//! The container lifecycle through rt's command line, compared against runc's behaviour:
//! create/start/state/kill/delete, run (foreground exit codes, -d, --pid-file), list,
//! ps, exec, --preserve-fds.
use integration::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SLEEP: &[&str] = &["/bin/sleep", "1000"];

/// A created (not started) container running `args`.
fn created(rt: &Rt, args: &[&str]) -> (Bundle, String) {
    let b = Bundle::busybox(args);
    let id = unique_id("lc");
    rt.ok(&["create", "--bundle", b.dir_str(), &id]);
    (b, id)
}

/// A running (detached) container running `args`.
fn running(rt: &Rt, args: &[&str]) -> (Bundle, String) {
    let b = Bundle::busybox(args);
    let id = unique_id("lc");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    rt.wait_status(&id, "running");
    (b, id)
}

fn state_pid(rt: &Rt, id: &str) -> i32 {
    rt.state(id)["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("state of {id} has no pid")) as i32
}

fn wait_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive_not_zombie(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A zombie not yet reaped counts as dead.
fn alive_not_zombie(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// kill + delete, then the leftover check.
fn finish(rt: &Rt, id: &str, b: &Bundle) {
    rt.ok(&["delete", "-f", id]);
    assert_no_leftovers(rt, id, b);
}

#[test]
fn create_start_kill_delete() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(SLEEP);
    b.config["annotations"] = json!({"org.rt.test": "lifecycle"});
    b.save();
    let id = unique_id("lc");
    rt.ok(&["create", "--bundle", b.dir_str(), &id]);

    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str());
    assert!(st["ociVersion"].is_string(), "{st}");
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0, "{st}");
    assert!(pid_alive(pid));
    let bundle_canon = b.dir.canonicalize().unwrap();
    assert_eq!(
        Path::new(st["bundle"].as_str().unwrap()),
        bundle_canon,
        "{st}"
    );
    let rootfs = Path::new(st["rootfs"].as_str().expect("rootfs"));
    assert!(rootfs.ends_with("rootfs"), "{st}");
    assert!(st["created"].as_str().unwrap_or("").contains('T'), "{st}");
    assert_eq!(
        st["owner"], "",
        "root's containers have owner \"\" (runc): {st}"
    );
    assert_eq!(st["annotations"]["org.rt.test"], "lifecycle", "{st}");

    // The init waits in the container before start: it is pid 1 of its pid namespace
    // and is not running the user's program yet.
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("sleep"),
        "process started before `start`"
    );

    rt.ok(&["start", &id]);
    rt.wait_status(&id, "running");
    let st = rt.state(&id);
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "pid changed at start");
    // start of a running container fails
    rt.fail(&["start", &id]);

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    wait_dead(pid);

    rt.ok(&["delete", &id]);
    rt.fail(&["state", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn state_of_unknown_and_deleted_container_fails() {
    let rt = Rt::new();
    let err = rt.fail(&["state", "no-such-container"]);
    assert!(!err.is_empty(), "an error message is expected");
    let b = Bundle::busybox(&["/bin/true"]);
    let id = unique_id("lc");
    rt.ok(&["run", "--bundle", b.dir_str(), &id]);
    rt.fail(&["state", &id]);
    rt.fail(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_of_running_container_without_force_fails() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    rt.fail(&["delete", &id]);
    assert_eq!(rt.status(&id), "running");
    finish(&rt, &id, &b);
}

#[test]
fn run_foreground_returns_exit_code() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]);
    let id = unique_id("lc");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&a, &out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn args0_is_resolved_on_the_container_path() {
    // execvp semantics (runc): a bare name is looked up on process.env's PATH.
    let rt = Rt::new();
    let b = Bundle::busybox(&["sh", "-c", "exit 3"]);
    let id = unique_id("lc");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&a, &out));
    assert_no_leftovers(&rt, &id, &b);

    let (b, id) = running(&rt, &["sleep", "1000"]);
    let a = ["exec", &id, "sh", "-c", "exit 4"];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&a, &out));
    finish(&rt, &id, &b);

    // Not on PATH: an error, before the container is created.
    let mut b = Bundle::busybox(&["true"]);
    b.config["process"]["env"] = json!(["PATH=/usr/bin"]);
    b.save();
    let id = unique_id("lc");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_foreground_exit_zero() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/bin/true"]);
    let id = unique_id("lc");
    rt.ok(&["run", "--bundle", b.dir_str(), &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_foreground_killed_by_sigkill_returns_137() {
    let rt = Rt::new();
    let b = Bundle::busybox(SLEEP);
    let id = unique_id("lc");
    let mut c = rt.cmd();
    c.args(["run", "--bundle", b.dir_str(), &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = rt.run(&["state", &id]);
        if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"running\"") {
            break;
        }
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.ok(&["kill", &id, "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rt run did not return after its container was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(137));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_foreground_command_not_found_fails() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/no/such/binary"]);
    let id = unique_id("lc");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert!(
        !out.stderr.is_empty(),
        "an error message is expected: {}",
        describe(&a, &out)
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_detached_and_pid_file() {
    let rt = Rt::new();
    let b = Bundle::busybox(SLEEP);
    let id = unique_id("lc");
    let pidfile = b.dir.join("init.pid");
    rt.ok(&[
        "run",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        b.dir_str(),
        &id,
    ]);
    assert_eq!(rt.status(&id), "running");
    let pid = state_pid(&rt, &id);
    let from_file = fs::read_to_string(&pidfile).expect("pid file written");
    assert_eq!(from_file.trim(), pid.to_string(), "pid file content");
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");
    finish(&rt, &id, &b);
    wait_dead(pid);
}

#[test]
fn create_pid_file() {
    let rt = Rt::new();
    let b = Bundle::busybox(SLEEP);
    let id = unique_id("lc");
    let pidfile = b.dir.join("sub.pid");
    rt.ok(&[
        "create",
        "--bundle",
        b.dir_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let pid = state_pid(&rt, &id);
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    finish(&rt, &id, &b);
}

#[test]
fn run_relative_bundle_path_and_cwd_default() {
    // `--bundle` defaults to "."; the state records the absolute bundle path.
    let rt = Rt::new();
    let b = Bundle::busybox(SLEEP);
    let id = unique_id("lc");
    let mut c = rt.cmd();
    c.current_dir(&b.dir).args(["create", &id]);
    let out = output_with_timeout(&mut c, cmd_timeout());
    assert!(out.status.success(), "{}", describe(&["create", &id], &out));
    let st = rt.state(&id);
    assert_eq!(
        Path::new(st["bundle"].as_str().unwrap()),
        b.dir.canonicalize().unwrap()
    );
    finish(&rt, &id, &b);
}

#[test]
fn duplicate_id_fails() {
    let rt = Rt::new();
    let (b, id) = created(&rt, SLEEP);
    let b2 = Bundle::busybox(SLEEP);
    rt.fail(&["create", "--bundle", b2.dir_str(), &id]);
    assert_eq!(rt.status(&id), "created");
    finish(&rt, &id, &b);
}

/// A running container whose init (a shell) exits on SIGTERM, once its trap is set.
fn running_trap_term(rt: &Rt) -> (Bundle, String) {
    let mut b = Bundle::busybox(&[
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; touch /dev/shm/ready; while :; do sleep 0.1; done",
    ]);
    b.set_readonly(false);
    b.save();
    let id = unique_id("lc");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    // The init is pid 1 of its namespace: SIGTERM before the trap would be ignored.
    let pid = state_pid(rt, &id);
    let ready = format!("/proc/{pid}/root/dev/shm/ready");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&ready).exists() {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(10));
    }
    (b, id)
}

#[test]
fn kill_default_signal_is_sigterm() {
    let rt = Rt::new();
    let (b, id) = running_trap_term(&rt);
    rt.ok(&["kill", &id]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn kill_signal_names_and_numbers() {
    let rt = Rt::new();
    for sig in ["KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15"] {
        let term = sig.contains("TERM") || sig == "15";
        let (b, id) = if term {
            running_trap_term(&rt)
        } else {
            running(&rt, SLEEP)
        };
        let pid = state_pid(&rt, &id);
        rt.ok(&["kill", &id, sig]);
        rt.wait_status(&id, "stopped");
        wait_dead(pid);
        rt.ok(&["delete", &id]);
        assert_no_leftovers(&rt, &id, &b);
    }
}

#[test]
fn kill_bad_signal_fails() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    rt.fail(&["kill", &id, "SIGNOPE"]);
    rt.fail(&["kill", &id, "999"]);
    assert_eq!(rt.status(&id), "running");
    finish(&rt, &id, &b);
}

#[test]
fn kill_of_stopped_container_fails() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.fail(&["kill", &id, "KILL"]);
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn kill_all_without_pid_namespace() {
    // Without a pid namespace, killing the init does not take its children with it:
    // `kill --all` must signal every process of the container's cgroup.
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    b.remove_namespace("pid");
    b.save();
    let id = unique_id("lc");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    rt.wait_status(&id, "running");
    // wait until both sleeps exist
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids = loop {
        let v: Value = serde_json::from_str(&rt.ok(&["ps", "-f", "json", &id])).unwrap();
        let pids: Vec<i32> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap() as i32)
            .collect();
        if pids.len() >= 3 {
            break pids;
        }
        assert!(
            Instant::now() < deadline,
            "children never appeared: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    rt.ok(&["kill", "--all", &id, "KILL"]);
    for p in &pids {
        wait_dead(*p);
    }
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_force_of_running_container() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let pid = state_pid(&rt, &id);
    rt.ok(&["delete", "-f", &id]);
    wait_dead(pid);
    rt.fail(&["state", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_force_of_created_container() {
    let rt = Rt::new();
    let (b, id) = created(&rt, SLEEP);
    let pid = state_pid(&rt, &id);
    rt.ok(&["delete", "-f", &id]);
    wait_dead(pid);
    rt.fail(&["state", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_of_created_container_without_force() {
    // runc deletes a created container without -f (it was never started).
    let rt = Rt::new();
    let (b, id) = created(&rt, SLEEP);
    let pid = state_pid(&rt, &id);
    rt.ok(&["delete", &id]);
    wait_dead(pid);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn list_table_json_quiet() {
    let rt = Rt::new();
    let empty = rt.ok(&["list"]);
    let header: Vec<&str> = empty
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    );
    assert_eq!(empty.lines().count(), 1, "only the header: {empty}");

    let (b1, id1) = running(&rt, SLEEP);
    let (b2, id2) = created(&rt, SLEEP);
    let pid1 = state_pid(&rt, &id1);

    let table = rt.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let row1: Vec<&str> = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(id1.as_str()))
        .unwrap_or_else(|| panic!("{id1} not listed:\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row1[1], pid1.to_string(), "{table}");
    assert_eq!(row1[2], "running", "{table}");
    assert_eq!(
        Path::new(row1[3]),
        b1.dir.canonicalize().unwrap(),
        "{table}"
    );
    assert!(row1[4].contains('T'), "CREATED is RFC 3339: {table}");
    assert!(table.contains(&id2), "{table}");

    let j: Value = serde_json::from_str(&rt.ok(&["list", "-f", "json"])).unwrap();
    let arr = j.as_array().expect("list -f json is an array");
    assert_eq!(arr.len(), 2);
    let e1 = arr.iter().find(|e| e["id"] == id1.as_str()).expect("id1");
    assert_eq!(e1["status"], "running");
    assert_eq!(e1["pid"].as_i64(), Some(pid1 as i64));
    for k in ["ociVersion", "bundle", "rootfs", "created", "owner"] {
        assert!(e1.get(k).is_some(), "list json entry lacks {k}: {e1}");
    }
    let e2 = arr.iter().find(|e| e["id"] == id2.as_str()).expect("id2");
    assert_eq!(e2["status"], "created");

    let q = rt.ok(&["list", "-q"]);
    let mut ids: Vec<&str> = q.lines().collect();
    ids.sort();
    let mut want = vec![id1.as_str(), id2.as_str()];
    want.sort();
    assert_eq!(ids, want);

    finish(&rt, &id1, &b1);
    finish(&rt, &id2, &b2);
    assert_eq!(rt.ok(&["list", "-q"]), "");
}

#[test]
fn ps_table_and_json() {
    let rt = Rt::new();
    let (b, id) = running(&rt, &["/bin/sh", "-c", "sleep 1000 & wait"]);
    let pid = state_pid(&rt, &id);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids = loop {
        let v: Value = serde_json::from_str(&rt.ok(&["ps", "-f", "json", &id])).unwrap();
        let pids: Vec<i64> = v
            .as_array()
            .expect("ps -f json is an array of pids")
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        if pids.len() >= 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "{pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(pids.contains(&(pid as i64)), "{pids:?} lacks init {pid}");
    assert_eq!(pids.len(), 2, "{pids:?}");

    let table = rt.ok(&["ps", &id]);
    let mut lines = table.lines();
    let header = lines.next().unwrap_or("");
    assert!(header.contains("PID") && header.contains("CMD"), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows.iter()
            .any(|r| r.split_whitespace().any(|w| w == pid.to_string())),
        "{table}"
    );
    // ps arguments are passed through to ps(1)
    let t2 = rt.ok(&["ps", &id, "-o", "pid,comm"]);
    assert!(t2.lines().next().unwrap_or("").contains("COMMAND"), "{t2}");
    assert!(t2.contains("sleep"), "{t2}");
    finish(&rt, &id, &b);
}

#[test]
fn exec_foreground_exit_code_and_output() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let a = ["exec", &id, "/bin/sh", "-c", "echo hello; exit 5"];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&a, &out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let out = rt.ok(&["exec", &id, "/bin/true"]);
    assert_eq!(out, "");
    // exec joins the container: same namespaces as the init
    let init = state_pid(&rt, &id);
    let p = exec_probe(&rt, &id, &[]);
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_eq!(
            p["namespaces"][ns].as_u64(),
            Some(ns_inode(&init.to_string(), ns)),
            "exec'd process is not in the container's {ns} namespace"
        );
    }
    assert_eq!(p["hostname"], "rt-test");
    assert_ne!(p["pid"], 1, "exec'd process is not the init");
    finish(&rt, &id, &b);
}

#[test]
fn exec_killed_returns_137() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let a = ["exec", &id, "/bin/sh", "-c", "kill -9 $$"];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(137), "{}", describe(&a, &out));
    finish(&rt, &id, &b);
}

#[test]
fn exec_in_stopped_container_fails() {
    // (runc allows exec into a created container; that is not tested.)
    let rt = Rt::new();
    let (b, id) = created(&rt, SLEEP);
    rt.ok(&["start", &id]);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    rt.fail(&["exec", &id, "/bin/true"]);
    finish(&rt, &id, &b);
}

#[test]
fn exec_detached_with_pid_file() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let pidfile = b.dir.join("exec.pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "/bin/sleep",
        "999",
    ]);
    let pid: i32 = fs::read_to_string(&pidfile)
        .expect("exec pid file")
        .trim()
        .parse()
        .expect("pid file holds a pid");
    assert!(pid_alive(pid));
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    let init = state_pid(&rt, &id);
    assert_eq!(
        ns_inode(&pid.to_string(), "pid"),
        ns_inode(&init.to_string(), "pid")
    );
    let ps: Value = serde_json::from_str(&rt.ok(&["ps", "-f", "json", &id])).unwrap();
    assert!(
        ps.as_array().unwrap().contains(&json!(pid)),
        "exec'd process not in the container's cgroup: {ps}"
    );
    finish(&rt, &id, &b);
    wait_dead(pid);
}

#[test]
fn exec_env_cwd_user() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let p = exec_probe(&rt, &id, &[]);
    assert_eq!(p["uid"], 0);
    assert_eq!(p["cwd"], "/");
    assert!(
        p["env"]["PATH"].is_string(),
        "exec inherits process.env: {}",
        p["env"]
    );

    let mut a = vec!["exec", "-e", "FOO=bar", "-e", "PATH=/bin", "--cwd", "/tmp"];
    a.extend(["-u", "1000:1000", &id, "/bin/rt-probe"]);
    let out = rt.run(&a);
    assert!(out.status.success(), "{}", describe(&a, &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["env"]["FOO"], "bar");
    assert_eq!(p["env"]["PATH"], "/bin");
    assert_eq!(p["cwd"], "/tmp");
    assert_eq!(p["uid"], 1000);
    assert_eq!(p["gid"], 1000);
    assert_eq!(p["euid"], 1000);

    let out = rt.ok(&["exec", "-u", "1000", &id, "/bin/id", "-u"]);
    assert_eq!(out.trim(), "1000");
    finish(&rt, &id, &b);
}

#[test]
fn exec_process_json() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let mut process = b.config["process"].clone();
    process["args"] = json!(["/bin/sh", "-c", "echo $X; exit 4"]);
    process["env"] = json!(["X=from-process-json", "PATH=/bin"]);
    let pj = b.dir.join("process.json");
    fs::write(&pj, process.to_string()).unwrap();
    let a = ["exec", "-p", pj.to_str().unwrap(), &id];
    let out = rt.run(&a);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&a, &out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-process-json\n");
    finish(&rt, &id, &b);
}

/// Runs `rt <args>` with two extra files open as fds 3 and 4.
fn run_with_fds(rt: &Rt, args: &[&str], f3: &fs::File, f4: &fs::File) -> std::process::Output {
    let (a, b) = (f3.as_raw_fd(), f4.as_raw_fd());
    let mut c = rt.cmd();
    c.args(args);
    // SAFETY: dup2 is async-signal-safe; fds a and b are open in the parent.
    unsafe {
        c.pre_exec(move || {
            // Move them out of the way first in case a or b is 3 or 4.
            let ta = libc::fcntl(a, libc::F_DUPFD, 100);
            let tb = libc::fcntl(b, libc::F_DUPFD, 100);
            if ta < 0 || tb < 0 || libc::dup2(ta, 3) < 0 || libc::dup2(tb, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(ta);
            libc::close(tb);
            Ok(())
        });
    }
    output_with_timeout(&mut c, cmd_timeout())
}

#[test]
fn preserve_fds_passes_exactly_the_extra_fds() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe"]);
    b.set_args(&["/bin/rt-probe"]);
    b.save();
    let f3 = fs::File::create(b.dir.join("fd3")).unwrap();
    let f4 = fs::File::create(b.dir.join("fd4")).unwrap();
    let id = unique_id("lc");
    let a = ["run", "--preserve-fds", "2", "--bundle", b.dir_str(), &id];
    let out = run_with_fds(&rt, &a, &f3, &f4);
    assert!(out.status.success(), "{}", describe(&a, &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut fds: Vec<u64> = p["fds"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    fds.sort();
    assert_eq!(fds, [0, 1, 2, 3, 4], "fds in the container: {}", p["fds"]);
    assert!(
        p["fds"]["3"].as_str().unwrap().ends_with("fd3"),
        "{}",
        p["fds"]
    );
    assert!(
        p["fds"]["4"].as_str().unwrap().ends_with("fd4"),
        "{}",
        p["fds"]
    );
    assert_no_leftovers(&rt, &id, &b);

    // Without --preserve-fds the same fds are not passed.
    let id = unique_id("lc");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = run_with_fds(&rt, &a, &f3, &f4);
    assert!(out.status.success(), "{}", describe(&a, &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = p["fds"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["0", "1", "2"], "fds in the container: {}", p["fds"]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn preserve_fds_writes_reach_the_host() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/bin/sh", "-c", "echo three >&3; echo four >&4"]);
    let p3 = b.dir.join("out3");
    let p4 = b.dir.join("out4");
    let f3 = fs::File::create(&p3).unwrap();
    let f4 = fs::File::create(&p4).unwrap();
    let id = unique_id("lc");
    let a = ["run", "--preserve-fds", "2", "--bundle", b.dir_str(), &id];
    let out = run_with_fds(&rt, &a, &f3, &f4);
    assert!(out.status.success(), "{}", describe(&a, &out));
    assert_eq!(fs::read_to_string(&p3).unwrap(), "three\n");
    assert_eq!(fs::read_to_string(&p4).unwrap(), "four\n");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn stdio_is_passed_through() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe"]);
    let id = unique_id("lc");
    let p = probe_id(&rt, &mut b, &id, &[]);
    // stdin is /dev/null of the host (inherited), stdout/stderr our pipes.
    assert!(
        p["fds"]["1"].as_str().unwrap().starts_with("pipe:"),
        "{}",
        p["fds"]
    );
    assert!(
        p["fds"]["2"].as_str().unwrap().starts_with("pipe:"),
        "{}",
        p["fds"]
    );
    assert_eq!(p["pid"], 1);
    assert_no_leftovers(&rt, &id, &b);
}

/// A host process (not rt's child) given exactly `pid`: ns_last_pid is set to pid - 1
/// before each spawn, retried while other processes on the machine take the pid first.
fn spawn_with_pid(pid: i32) -> Sleeper {
    for _ in 0..200 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("writing /proc/sys/kernel/ns_last_pid");
        let mut c = std::process::Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning sleep");
        if c.id() as i32 == pid {
            return Sleeper { child: c };
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    panic!("could not get pid {pid} for a new process in 200 tries");
}

/// The init dies behind rt's back and its pid goes to an unrelated host process: rt must
/// see the container as stopped (the start time recorded at create no longer matches), so
/// `kill` refuses and neither `kill` nor `delete` signals the newcomer.
#[test]
fn recycled_init_pid_is_never_signalled() {
    let rt = Rt::new();
    let (b, id) = running(&rt, SLEEP);
    let pid = state_pid(&rt, &id);
    // SAFETY: a plain kill(2) of the container's init.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    // Gone, reaped too (its parent is the host's init): only then is the pid free.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "pid {pid} was not reaped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let newcomer = spawn_with_pid(pid);
    assert_eq!(
        rt.status(&id),
        "stopped",
        "a recycled pid counted as the init"
    );
    let err = rt.fail(&["kill", &id, "KILL"]);
    assert!(err.contains("not running"), "{err}");
    rt.ok(&["delete", &id]);
    assert!(
        alive_not_zombie(pid),
        "rt signalled the process that took the init's pid {pid}"
    );
    drop(newcomer);
    assert_no_leftovers(&rt, &id, &b);
}
