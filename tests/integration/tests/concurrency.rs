//! Concurrent rt calls on one id, and rt killed in the middle of `create`: each call
//! either does its job or says clearly why not, and `delete -f` always cleans up.
use integration::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run several rt commands at the same moment; their exit statuses and stderr, in order.
/// (stderr goes to files: a created container's init keeps its stdio open.)
fn concurrently(rt: &Rt, cmds: &[&[&str]]) -> Vec<Output> {
    let dir = std::env::temp_dir().join(unique_id("rt-conc"));
    fs::create_dir_all(&dir).unwrap();
    let children: Vec<_> = cmds
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let err = fs::File::create(dir.join(i.to_string())).unwrap();
            rt.cmd()
                .args(*a)
                .stdout(Stdio::null())
                .stderr(Stdio::from(err))
                .spawn()
                .unwrap()
        })
        .collect();
    let outs = children
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| Output {
            status: c.wait().unwrap(),
            stdout: Vec::new(),
            stderr: fs::read(dir.join(i.to_string())).unwrap(),
        })
        .collect();
    let _ = fs::remove_dir_all(&dir);
    outs
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Two deletes and a kill of one created container, at once, several times: exactly one
/// delete succeeds, the other says the container does not exist; the kill either happens
/// first or says the same; nothing is left behind.
#[test]
fn two_deletes_and_a_kill_at_once() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    for round in 0..8 {
        let id = unique_id("del");
        rt.ok(&["create", "--bundle", b.dir_str(), &id]);
        let outs = concurrently(
            &rt,
            &[&["delete", &id], &["delete", &id], &["kill", &id, "KILL"]],
        );
        let ok: Vec<bool> = outs.iter().map(|o| o.status.success()).collect();
        assert_eq!(
            ok[..2].iter().filter(|&&x| x).count(),
            1,
            "round {round}: exactly one delete must succeed: {:?} / {:?}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
        let loser = if ok[0] { &outs[1] } else { &outs[0] };
        assert!(
            stderr(loser).contains(&format!("container {id} does not exist")),
            "round {round}: the second delete: {:?}",
            stderr(loser)
        );
        if !ok[2] {
            let e = stderr(&outs[2]);
            assert!(
                e.contains("does not exist") || e.contains("is not running"),
                "round {round}: kill during delete: {e:?}"
            );
        }
        assert_no_leftovers(&rt, &id, &b);
    }
}

/// Two creates of one id at once: one container, the other call says the id is taken.
#[test]
fn two_creates_of_one_id_at_once() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    for round in 0..5 {
        let id = unique_id("cr");
        let a: &[&str] = &["create", "--bundle", b.dir_str(), &id];
        let outs = concurrently(&rt, &[a, a]);
        let ok: Vec<bool> = outs.iter().map(|o| o.status.success()).collect();
        assert_eq!(
            ok.iter().filter(|&&x| x).count(),
            1,
            "round {round}: {:?} / {:?}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
        let loser = if ok[0] { &outs[1] } else { &outs[0] };
        assert!(
            stderr(loser).contains(&format!("container with id {id} already exists")),
            "round {round}: {:?}",
            stderr(loser)
        );
        assert_eq!(rt.status(&id), "created");
        rt.ok(&["delete", &id]);
        assert_no_leftovers(&rt, &id, &b);
    }
}

/// Processes running the rt binary that were orphaned (parent pid 1) and whose command
/// line names one of `ids`: an init whose rt died must exit by itself.
fn orphaned_rt_processes(ids: &[String]) -> Vec<i32> {
    let rt_ino = fs::metadata(rt_bin()).unwrap().ino();
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let same = fs::metadata(e.path().join("exe")).is_ok_and(|m| m.ino() == rt_ino);
        let status = fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let ours = cmdline.split('\0').any(|a| ids.iter().any(|id| id == a));
        if same && ours && status.lines().any(|l| l == "PPid:\t1") {
            v.push(pid);
        }
    }
    v
}

/// SIGKILL of `rt create` at points spread over its whole run: afterwards `rt delete -f`
/// leaves no state dir, cgroup, mount or process.
#[test]
fn sigkill_during_create_then_delete_force_cleans_up() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    // How long a create takes here, to spread the kills over it.
    let t = Instant::now();
    let id = unique_id("k");
    rt.ok(&["create", "--bundle", b.dir_str(), &id]);
    let full = t.elapsed();
    rt.ok(&["delete", "-f", &id]);
    let steps = 40u32;
    let mut ids = Vec::new();
    for i in 0..steps {
        let id = unique_id("k");
        ids.push(id.clone());
        let mut c: Command = rt.cmd();
        c.args(["create", "--bundle", b.dir_str(), &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(full * i / steps);
        let _ = child.kill();
        let _ = child.wait();
        let out = rt.run(&["delete", "-f", &id]);
        assert!(
            out.status.success(),
            "kill at {:?}: {}",
            full * i / steps,
            describe(&["delete", "-f", &id], &out)
        );
        assert_no_leftovers(&rt, &id, &b);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while !orphaned_rt_processes(&ids).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        orphaned_rt_processes(&ids),
        Vec::<i32>::new(),
        "orphaned inits"
    );
}

/// State letter of a process (field 3 of /proc/<pid>/stat), None when gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// SIGKILL of `rt create` exactly at each stage mark (rt --debug with $RT_TEST_STOP_AT:
/// rt stops itself there; at the init's stages the init sleeps there, rt waits for it):
/// `rt delete -f` then leaves nothing behind.
#[test]
fn sigkill_at_each_create_stage_then_delete_force_cleans_up() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    let stages = [
        "create: config loaded and validated",
        "create: cgroup made",
        "create: init cloned",
        "create: init sent to its cgroup",
        "create: runtime hooks done",
        "init: namespaces joined",
        "init: mounts and /dev made",
        "init: before pivot_root",
        "init: rootfs finalized",
        "init: process attributes set, seccomp compiled",
        "init: privileges dropped, ready",
    ];
    let mut ids = Vec::new();
    for stage in stages {
        let id = unique_id("s");
        ids.push(id.clone());
        let mut c: Command = rt.cmd();
        c.args(["--debug", "create", "--bundle", b.dir_str(), &id])
            .env("RT_TEST_STOP_AT", stage)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let pid = child.id();
        // The mark is logged just before the stop.
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let seen = lines.any(|l| l.is_ok_and(|l| l.contains(&format!("msg=\"{stage}\""))));
        assert!(seen, "{stage}: rt create never logged the stage");
        // rt's own stages: wait until it has stopped (the init's stages: it sleeps there).
        let deadline = Instant::now() + Duration::from_secs(20);
        while stage.starts_with("create:") && proc_state(pid) != Some('T') {
            assert!(Instant::now() < deadline, "{stage}: rt never stopped there");
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        let out = rt.run(&["delete", "-f", &id]);
        assert!(
            out.status.success(),
            "{stage}: {}",
            describe(&["delete", "-f", &id], &out)
        );
        let r = std::panic::catch_unwind(|| assert_no_leftovers(&rt, &id, &b));
        assert!(r.is_ok(), "after a SIGKILL at {stage:?}: see above");
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while !orphaned_rt_processes(&ids).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        orphaned_rt_processes(&ids),
        Vec::<i32>::new(),
        "orphaned inits"
    );
}
