//! containerd as a real client of rt, two ways:
//! * through rt's own shim, `containerd-shim-rt-v2` (`ctr run --runtime io.containerd.rt.v2`);
//! * through containerd's runc shim with rt as its runc binary (`ctr run --runc-binary rt`).
//!
//! Each test starts a private containerd (Debian's 1.6; see
//! `integration::containerd`), imports a busybox OCI archive built by the harness (nothing is
//! pulled), drives it with `ctr` as a user would, and checks that nothing is left behind:
//! no shim processes, mounts, rt state, cgroups or bundles.
use integration::client::v1_cgroup_dir;
use integration::containerd::{Containerd, IMAGE};
use integration::{rt_bin, unique_id};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

const RT_RUNTIME: &str = "io.containerd.rt.v2";

fn setup() -> Containerd {
    let c = Containerd::start();
    c.import_busybox();
    c
}

fn id(prefix: &str) -> String {
    unique_id(prefix).replace('-', "")
}

/// Runs `ctr <args>` under script(1), which gives ctr the terminal its `-t` needs, and
/// asserts that `want` is printed and the exit code is `code`.
fn ctr_with_tty(c: &Containerd, args: &str, want: &str, code: i32) {
    let ctr = format!("ctr -a {} -n {} {args}", c.sock.display(), c.ns);
    let out = integration::output_with_timeout(
        std::process::Command::new("script")
            .args(["-qec", &ctr, "/dev/null"])
            .stdin(Stdio::null()),
        Duration::from_secs(120),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(want),
        "{out:?}"
    );
    assert_eq!(out.status.code(), Some(code), "{out:?}");
}

/// SIGKILL the task, wait for it to stop, then remove the task and the container.
fn kill_and_remove(c: &Containerd, id: &str) {
    c.ctr_ok(&["task", "kill", "-s", "KILL", id]);
    c.wait_task_status(id, "STOPPED");
    c.ctr_ok(&["task", "rm", id]);
    c.ctr_ok(&["containers", "rm", id]);
}

/// `ctr run -d` of `sleep 1000` through rt's shim.
fn run_sleeper(c: &Containerd, id: &str) {
    c.ctr_ok(&[
        "run",
        "-d",
        "--runtime",
        RT_RUNTIME,
        IMAGE,
        id,
        "sleep",
        "1000",
    ]);
}

#[test]
fn rt_shim_run_rm_prints_output_and_returns_exit_codes() {
    let c = setup();
    let a = id("echo");
    let out = c.ctr_ok(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        IMAGE,
        &a,
        "echo",
        "hello from rt",
    ]);
    assert_eq!(out, "hello from rt\n");

    let b = id("exit");
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        IMAGE,
        &b,
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");

    // Output written just before a fast exit, on both streams, is not lost.
    let d = id("fast");
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        IMAGE,
        &d,
        "sh",
        "-c",
        "seq 1 2000; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 2000, "{stdout}");
    assert!(stdout.ends_with("2000\n"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("to-stderr"),
        "{out:?}"
    );
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_detached_exec_kill_delete_with_events_in_order() {
    let c = setup();
    let ev = c.events();
    let a = id("det");
    run_sleeper(&c, &a);
    assert_eq!(c.task_status(&a), "RUNNING");
    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &a,
        "sh",
        "-c",
        "echo from-exec; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-exec\n");
    let ps = c.ctr_ok(&["task", "ps", &a]);
    assert!(ps.lines().count() >= 2, "task ps: {ps}");
    // SIGTERM to a pid 1 without a handler is ignored (as with runc); SIGKILL is not.
    // --all signals every process of the container.
    c.ctr_ok(&["task", "kill", "--all", "-s", "KILL", &a]);
    c.wait_task_status(&a, "STOPPED");
    let out = c.ctr(&["task", "kill", "-s", "KILL", &a]);
    assert!(!out.status.success(), "kill of a stopped task succeeded");
    c.ctr_ok(&["task", "rm", &a]);
    c.ctr_ok(&["containers", "rm", &a]);
    ev.wait_for(&a, "/tasks/delete");
    assert_eq!(
        ev.task_topics(&a),
        [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/exit",
            "/tasks/delete"
        ]
    );
    let exits: Vec<String> = ev
        .lines()
        .into_iter()
        .filter(|(t, p)| t == "/tasks/exit" && p.contains(&a))
        .map(|(_, p)| p)
        .collect();
    assert!(
        exits[0].contains("\"id\":\"e1\"") && exits[0].contains("\"exit_status\":3"),
        "{exits:?}"
    );
    assert!(exits[1].contains("\"exit_status\":137"), "{exits:?}");
    c.assert_no_leftovers();
}

#[test]
fn runc_shim_with_rt_as_runc_binary() {
    let c = setup();
    let rt = rt_bin();
    let rt = rt.to_string_lossy();
    let a = id("runc");
    let out = c.ctr_ok(&[
        "run",
        "--rm",
        "--runc-binary",
        &rt,
        IMAGE,
        &a,
        "echo",
        "via runc shim",
    ]);
    assert_eq!(out, "via runc shim\n");
    let b = id("runcx");
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        &rt,
        IMAGE,
        &b,
        "sh",
        "-c",
        "exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");

    let d = id("runcd");
    c.ctr_ok(&[
        "run",
        "-d",
        "--runc-binary",
        &rt,
        IMAGE,
        &d,
        "sleep",
        "1000",
    ]);
    let out = c.ctr_ok(&["task", "exec", "--exec-id", "x", &d, "echo", "exec ok"]);
    assert_eq!(out, "exec ok\n");
    assert!(c.ctr_ok(&["task", "ps", &d]).lines().count() >= 2);
    kill_and_remove(&c, &d);

    // The memory limit reaches the container's cgroup (read on the host, from the
    // memory cgroup of the task's pid).
    let m = id("runcm");
    c.ctr_ok(&[
        "run",
        "-d",
        "--runc-binary",
        &rt,
        "--memory-limit",
        "33554432",
        IMAGE,
        &m,
        "sleep",
        "1000",
    ]);
    let pid: u64 = c
        .task_pid(&m)
        .parse()
        .unwrap_or_else(|_| panic!("no pid for task {m} in `ctr task ls`"));
    let file = v1_cgroup_dir(pid, "memory").join("memory.limit_in_bytes");
    let limit = std::fs::read_to_string(&file).unwrap_or_default();
    kill_and_remove(&c, &m);
    assert_eq!(
        limit.trim(),
        "33554432",
        "{}: the runc shim's memory limit",
        file.display()
    );
    c.assert_no_leftovers();
    // containerd 1.6's runc shim logs "failed to remove runc container ... exit status 255"
    // from its cleanup `delete` action with runc itself too (its reaper takes the exit
    // status): that warning is containerd's, not rt's, and is not checked here.
}

#[test]
fn rt_shim_terminal_and_stdin() {
    let c = setup();
    // ctr -t needs a terminal of its own: script(1) gives it one.
    let a = id("tty");
    ctr_with_tty(
        &c,
        &format!("run --rm -t --runtime {RT_RUNTIME} {IMAGE} {a} sh -c 'test -t 0 && test -t 1 && echo tty-ok; exit 4'"),
        "tty-ok",
        4,
    );

    let b = id("stdin");
    let mut child = c
        .ctr_cmd(&[
            "run",
            "--rm",
            "--runtime",
            RT_RUNTIME,
            IMAGE,
            &b,
            "sh",
            "-c",
            "cat; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ctr");
    if let Some(mut si) = child.stdin.take() {
        si.write_all(b"line one\nline two\n").expect("write stdin");
    }
    let out = child.wait_with_output().expect("ctr run");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line one\nline two\ndone\n"
    );
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_metrics_pause_resume() {
    let c = setup();
    let ev = c.events();
    let a = id("met");
    run_sleeper(&c, &a);
    let m = c.ctr_ok(&["task", "metrics", &a]);
    // The Metrics type the host's hierarchy calls for: ctr prints v1's and v2's rows by
    // different names.
    let v2 = std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
        t.lines()
            .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "))
    });
    let keys = if v2 {
        ["memory.usage", "cpu.usage_usec", "pids.current"]
    } else {
        ["memory.usage_in_bytes", "cpuacct.usage", "pids.current"]
    };
    for k in keys {
        assert!(m.contains(k), "metrics lack {k}:\n{m}");
    }
    c.ctr_ok(&["task", "pause", &a]);
    assert_eq!(c.task_status(&a), "PAUSED");
    c.ctr_ok(&["task", "resume", &a]);
    assert_eq!(c.task_status(&a), "RUNNING");
    kill_and_remove(&c, &a);
    ev.wait_for(&a, "/tasks/delete");
    let t = ev.task_topics(&a);
    let pos = |x: &str| t.iter().position(|y| y == x).unwrap_or(usize::MAX);
    assert!(pos("/tasks/paused") < pos("/tasks/resumed"), "{t:?}");
    assert!(pos("/tasks/resumed") < pos("/tasks/exit"), "{t:?}");
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_reports_oom() {
    let c = setup();
    let ev = c.events();
    let a = id("oom");
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        "--memory-limit",
        "16777216",
        IMAGE,
        &a,
        "sh",
        "-c",
        "x=0123456789abcdef; while true; do x=$x$x; done",
    ]);
    assert_eq!(out.status.code(), Some(137), "{out:?}");
    ev.wait_for(&a, "/tasks/oom");
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_twenty_containers_in_parallel() {
    let c = setup();
    let ids: Vec<String> = (0..20).map(|i| id(&format!("par{i}"))).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|a| {
                let c = &c;
                s.spawn(move || {
                    c.ctr(&["run", "--rm", "--runtime", RT_RUNTIME, IMAGE, a, "echo", a])
                })
            })
            .collect();
        for (h, a) in handles.into_iter().zip(&ids) {
            let out = h.join().expect("thread");
            assert!(out.status.success(), "{a}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{a}\n"));
        }
    });
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_survives_containerd_restart() {
    let mut c = setup();
    let a = id("rst");
    run_sleeper(&c, &a);
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "{shims:?}");
    c.restart();
    assert_eq!(c.shims(), shims, "the shim did not outlive containerd");
    assert_eq!(c.task_status(&a), "RUNNING");
    let out = c.ctr_ok(&[
        "task",
        "exec",
        "--exec-id",
        "after",
        &a,
        "echo",
        "still managed",
    ]);
    assert_eq!(out, "still managed\n");
    let ev = c.events();
    c.ctr_ok(&["task", "kill", "-s", "KILL", &a]);
    c.wait_task_status(&a, "STOPPED");
    ev.wait_for(&a, "/tasks/exit");
    c.ctr_ok(&["task", "rm", &a]);
    c.ctr_ok(&["containers", "rm", &a]);
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_one_shim_per_pod() {
    let c = setup();
    let pod = id("pod");
    let ann = format!("io.kubernetes.cri.sandbox-id={pod}");
    let (a, b) = (id("poda"), id("podb"));
    for x in [&a, &b] {
        c.ctr_ok(&[
            "run",
            "-d",
            "--runtime",
            RT_RUNTIME,
            "--annotation",
            &ann,
            IMAGE,
            x,
            "sleep",
            "1000",
        ]);
    }
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "one shim for the pod: {shims:?}");
    assert!(
        c.shim_socket(&pod).exists(),
        "the pod's shim listens on the sandbox id's socket"
    );
    let out = c.ctr_ok(&["task", "exec", "--exec-id", "e", &b, "echo", "b ok"]);
    assert_eq!(out, "b ok\n");
    kill_and_remove(&c, &a);
    // The shim serves b until b is gone too.
    assert_eq!(c.shims(), shims);
    assert_eq!(c.task_status(&b), "RUNNING");
    kill_and_remove(&c, &b);
    c.assert_no_leftovers();
    assert!(
        !c.shim_socket(&pod).exists(),
        "the pod's shim socket is left"
    );
}

#[test]
fn rt_shim_killed_shim_is_cleaned_up_by_delete_action() {
    let c = setup();
    let a = id("dead");
    run_sleeper(&c, &a);
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "{shims:?}");
    // SAFETY: kill(2) of the shim this test's containerd started.
    unsafe { libc::kill(shims[0].0, libc::SIGKILL) };
    // containerd notices, runs `containerd-shim-rt-v2 delete` (rt delete --force, unmount the
    // rootfs) and reports the task stopped.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = c.task_status(&a);
        if s.is_empty() || s == "STOPPED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "task {a} still {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = c.ctr(&["task", "rm", "-f", &a]);
    c.ctr_ok(&["containers", "rm", &a]);
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_exec_with_terminal() {
    let c = setup();
    let a = id("etty");
    run_sleeper(&c, &a);
    ctr_with_tty(
        &c,
        &format!("task exec -t --exec-id t {a} sh -c 'test -t 0 && echo exec-tty-ok; exit 6'"),
        "exec-tty-ok",
        6,
    );
    kill_and_remove(&c, &a);
    c.assert_no_leftovers();
}

#[test]
fn rt_shim_binary_and_file_logging() {
    let c = setup();
    let dir = c.dir.join("logs");
    std::fs::create_dir_all(&dir).expect("mkdir logs");
    // containerd's binary:// protocol: stdout on fd 3, stderr on fd 4, ready when fd 5 closes.
    let logger = dir.join("logger.sh");
    std::fs::write(
        &logger,
        "#!/bin/sh\nexec 5>&-\necho \"$CONTAINER_ID $CONTAINER_NAMESPACE\" > \"$2.env\"\n\
         cat <&3 > \"$2.out\" &\ncat <&4 > \"$2.err\" &\nwait\n",
    )
    .expect("write logger");
    std::fs::set_permissions(&logger, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod logger");
    let base = dir.join("b");
    let uri = format!("binary://{}?out={}", logger.display(), base.display());
    let a = id("blog");
    let sh = "echo to-out; echo to-err >&2";
    c.ctr_ok(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        "--log-uri",
        &uri,
        IMAGE,
        &a,
        "sh",
        "-c",
        sh,
    ]);
    let read = |ext: &str| {
        std::fs::read_to_string(format!("{}.{ext}", base.display())).unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (read("out").is_empty() || read("err").is_empty()) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read("out"), "to-out\n");
    assert_eq!(read("err"), "to-err\n");
    assert_eq!(read("env"), format!("{a} {}\n", c.ns));

    let f = dir.join("file.log");
    let b = id("flog");
    let uri = format!("file://{}", f.display());
    c.ctr_ok(&[
        "run",
        "--rm",
        "--runtime",
        RT_RUNTIME,
        "--log-uri",
        &uri,
        IMAGE,
        &b,
        "sh",
        "-c",
        sh,
    ]);
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    assert!(
        text.contains("to-out\n") && text.contains("to-err\n"),
        "{text:?}"
    );
    c.assert_no_leftovers();
}
