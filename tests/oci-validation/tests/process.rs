//! process.*: user, env, cwd, rlimits, oomScoreAdj, ioPriority, scheduler, personality,
//! noNewPrivileges, apparmorProfile, as seen from inside a busybox container.
use integration::*;
use serde_json::{json, Value};

/// `rt run` a busybox container running `sh -c script` after `edit`; its stdout.
fn run_sh(edit: impl FnOnce(&mut Value), script: &str) -> String {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/sh", "-c", script]);
    edit(&mut b.config);
    b.save();
    let id = unique_id("proc");
    let out = rt.run(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rt run failed ({:?}): stdout {stdout:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_leftovers(&rt, &id, &b);
    stdout
}

/// `rt create` must fail (exit 1) and leave nothing behind; its stderr.
fn create_fails(edit: impl FnOnce(&mut Value)) -> String {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["true"]);
    edit(&mut b.config);
    b.save();
    let id = unique_id("proc");
    let err = rt.fail(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_no_leftovers(&rt, &id, &b);
    err
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().map(str::trim).collect()
}

/// Fields of /proc/self/stat after the command name: index 0 is field 3 (state).
fn stat_fields(stat: &str) -> Vec<String> {
    let after = &stat[stat.rfind(')').expect("stat has a comm") + 1..];
    after.split_whitespace().map(String::from).collect()
}

#[test]
fn user_uid_gid_additional_gids_umask() {
    let out = run_sh(
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 0o027});
        },
        "id -u; id -g; id -G; umask; grep -E '^(Groups|CapEff):' /proc/self/status",
    );
    let l = lines(&out);
    assert_eq!(&l[..4], &["1000", "1001", "1001 10 20", "0027"], "{out}");
    assert!(out.contains("Groups:\t10 20"), "{out}");
}

#[test]
fn user_default_umask_is_0022() {
    let out = run_sh(
        |c| c["process"]["user"] = json!({"uid": 0, "gid": 0}),
        "umask",
    );
    assert_eq!(out.trim(), "0022");
}

#[test]
fn env_is_passed_and_home_defaults() {
    let out = run_sh(
        |c| c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY="]),
        "env",
    );
    let l = lines(&out);
    assert!(l.contains(&"FOO=bar baz"), "{out}");
    assert!(l.contains(&"EMPTY="), "{out}");
    assert!(l.contains(&"PATH=/bin:/usr/bin"), "{out}");
    // runc sets HOME when absent: from /etc/passwd, else "/".
    assert!(l.iter().any(|e| e.starts_with("HOME=")), "{out}");
}

#[test]
fn cwd() {
    let out = run_sh(|c| c["process"]["cwd"] = json!("/tmp"), "pwd");
    assert_eq!(out.trim(), "/tmp");
    // A cwd that does not exist in the rootfs is created (runc does).
    let out = run_sh(|c| c["process"]["cwd"] = json!("/does/not/exist"), "pwd");
    assert_eq!(out.trim(), "/does/not/exist");
}

#[test]
fn args0_is_looked_up_in_the_containers_path() {
    let out = run_sh(|c| c["process"]["args"] = json!(["echo", "found"]), "");
    assert_eq!(out.trim(), "found");
    let err = create_fails(|c| c["process"]["args"] = json!(["no-such-binary"]));
    assert!(
        err.contains("process.args[0]") && err.contains("executable file not found"),
        "{err}"
    );
}

#[test]
fn rlimits_below_the_hard_limit() {
    let out = run_sh(
        |c| {
            c["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            ]);
        },
        "ulimit -n; ulimit -Hn; ulimit -c",
    );
    assert_eq!(lines(&out), vec!["100", "200", "0"], "{out}");
}

#[test]
fn rlimit_above_the_hard_limit_fails_at_create() {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a valid struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
    let hard = cur.rlim_max + 1;
    let err = create_fails(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard}]);
    });
    assert!(err.contains("process.rlimits[0]"), "{err}");
    assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
}

#[test]
fn duplicate_rlimit_fails_at_create() {
    let err = create_fails(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200},
        ]);
    });
    assert!(err.contains("process.rlimits[1]"), "{err}");
    assert!(err.contains("duplicate"), "{err}");
}

#[test]
fn oom_score_adj() {
    let out = run_sh(
        |c| c["process"]["oomScoreAdj"] = json!(345),
        "cat /proc/self/oom_score_adj",
    );
    assert_eq!(out.trim(), "345");
}

#[test]
fn io_priority() {
    let out = run_sh(
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 5}),
        "ionice -p $$",
    );
    assert_eq!(out.trim(), "best-effort: prio 5");
    let out = run_sh(
        |c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
        "ionice -p $$",
    );
    assert_eq!(out.trim(), "idle");
}

#[test]
fn scheduler() {
    let out = run_sh(
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7}),
        "cat /proc/self/stat",
    );
    let f = stat_fields(&out);
    // field 19 is nice, field 41 is policy.
    assert_eq!((f[16].as_str(), f[38].as_str()), ("7", "3"), "{out}");
    let out = run_sh(
        |c| c["process"]["scheduler"] = json!({"policy": "SCHED_IDLE"}),
        "cat /proc/self/stat",
    );
    assert_eq!(stat_fields(&out)[38], "5", "{out}");
    let err = create_fails(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 5});
    });
    assert!(err.contains("process.scheduler.priority"), "{err}");
}

#[test]
fn personality() {
    let out = run_sh(
        |c| c["linux"]["personality"] = json!({"domain": "LINUX32"}),
        "cat /proc/self/personality; uname -m",
    );
    let l = lines(&out);
    assert_eq!(l[0], "00000008", "{out}");
    assert!(["i686", "i386"].contains(&l[1]), "{out}");
    let out = run_sh(
        |c| c["linux"]["personality"] = json!({"domain": "LINUX"}),
        "cat /proc/self/personality",
    );
    assert_eq!(out.trim(), "00000000");
}

#[test]
fn no_new_privileges() {
    let out = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(true),
        "grep NoNewPrivs /proc/self/status",
    );
    assert_eq!(out.trim(), "NoNewPrivs:\t1");
    let out = run_sh(
        |c| c["process"]["noNewPrivileges"] = json!(false),
        "grep NoNewPrivs /proc/self/status",
    );
    assert_eq!(out.trim(), "NoNewPrivs:\t0");
}

#[test]
fn apparmor_profile_without_apparmor_fails() {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.starts_with('Y'))
        .unwrap_or(false);
    if enabled {
        eprintln!("AppArmor is enabled here: skipping the no-AppArmor error check");
        return;
    }
    let err = create_fails(|c| c["process"]["apparmorProfile"] = json!("rt-test-profile"));
    assert!(err.contains("process.apparmorProfile"), "{err}");
    assert!(err.contains("AppArmor is not enabled"), "{err}");
}
