//! Bad inputs through the real `rt` binary: invalid config.json, every validation of
//! `spec::validate`, bad command lines, lifecycle commands on the wrong container.
//! Each case asserts: exit status 1, stderr is one line naming the field or argument,
//! stdout is empty, and nothing is left behind (state dir, cgroup dirs, mounts under
//! the bundle, processes inside the bundle).
//!
//! Build the binaries first: `cargo build --workspace && cargo test -p integration --test bad_inputs`.
use integration::*;
use serde_json::{json, Value};
use std::process::Command;

/// stderr is exactly one non-empty line that contains `needle`; stdout is empty.
fn assert_one_line(out: &std::process::Output, needle: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: want exit 1, got {:?}; stderr: {stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && !lines[0].trim().is_empty(),
        "{what}: stderr is not one line: {stderr:?}"
    );
    assert!(
        lines[0].contains(needle),
        "{what}: stderr does not name {needle:?}: {stderr:?}"
    );
    assert!(stdout.is_empty(), "{what}: unexpected stdout: {stdout:?}");
}

/// Edit a valid busybox config, then `rt create` (and `rt run` when `also_run`) must fail
/// naming `needle`, leaving nothing behind.
fn bad_config_with(edit: impl FnOnce(&mut Value), needle: &str, also_run: bool) {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["sleep", "100"]);
    edit(&mut b.config);
    b.save();
    let bundle = b.dir.to_str().unwrap().to_string();
    let id = unique_id("bad");
    let out = rt.run(&["create", "--bundle", &bundle, &id]);
    assert_one_line(&out, needle, "create");
    assert_no_leftovers(&rt, &id, &b);
    if also_run {
        let out = rt.run(&["run", "--bundle", &bundle, &id]);
        assert_one_line(&out, needle, "run");
        assert_no_leftovers(&rt, &id, &b);
    }
}

fn bad_config(edit: impl FnOnce(&mut Value), needle: &str) {
    bad_config_with(edit, needle, false)
}

fn ns(v: &mut Value) -> &mut Vec<Value> {
    v["linux"]["namespaces"].as_array_mut().unwrap()
}

/// Puts `m` first, so that it is `mounts[0]` whatever the default config holds.
fn push_mount(v: &mut Value, m: Value) {
    v["mounts"].as_array_mut().unwrap().insert(0, m);
}

// ---- config.json that does not parse ------------------------------------------------

#[test]
fn invalid_json() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["true"]);
    std::fs::write(b.dir.join("config.json"), b"{\"ociVersion\": \"1.0.2\",").unwrap();
    let id = unique_id("bad");
    for cmd in ["create", "run"] {
        let out = rt.run(&[cmd, "--bundle", b.dir.to_str().unwrap(), &id]);
        assert_one_line(&out, "config.json", cmd);
        assert_no_leftovers(&rt, &id, &b);
    }
}

#[test]
fn wrong_type_args_string() {
    bad_config_with(
        |v| v["process"]["args"] = json!("sleep 100"),
        "process.args",
        true,
    );
}

#[test]
fn wrong_type_unknown_namespace() {
    bad_config(
        |v| ns(v)[1]["type"] = json!("net"),
        "linux.namespaces[1].type",
    );
}

#[test]
fn wrong_type_unknown_capability() {
    bad_config(
        |v| v["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_BOGUS"]),
        "process.capabilities.bounding",
    );
}

#[test]
fn wrong_type_negative_uid() {
    bad_config(
        |v| v["process"]["user"]["uid"] = json!(-1),
        "process.user.uid",
    );
}

// ---- spec::validate ---------------------------------------------------------------

#[test]
fn oci_version_missing() {
    bad_config_with(
        |v| drop(v.as_object_mut().unwrap().remove("ociVersion")),
        "ociVersion",
        true,
    );
}

#[test]
fn oci_version_2() {
    bad_config(|v| v["ociVersion"] = json!("2.0.0"), "ociVersion");
}

#[test]
fn root_missing() {
    bad_config(|v| drop(v.as_object_mut().unwrap().remove("root")), "root");
}

#[test]
fn root_path_does_not_exist() {
    bad_config(|v| v["root"]["path"] = json!("no-such-rootfs"), "root.path");
}

#[test]
fn root_path_not_a_directory() {
    bad_config(|v| v["root"]["path"] = json!("config.json"), "root.path");
}

#[test]
fn process_missing() {
    bad_config(
        |v| drop(v.as_object_mut().unwrap().remove("process")),
        "process",
    );
}

#[test]
fn process_args_empty() {
    bad_config_with(|v| v["process"]["args"] = json!([]), "process.args", true);
}

#[test]
fn process_cwd_relative() {
    bad_config(|v| v["process"]["cwd"] = json!("tmp"), "process.cwd");
}

#[test]
fn process_env_without_equals() {
    bad_config(
        |v| v["process"]["env"] = json!(["PATH=/bin", "JUNK"]),
        "process.env[1]",
    );
}

#[test]
fn umask_out_of_range() {
    bad_config(
        |v| v["process"]["user"]["umask"] = json!(4096),
        "process.user.umask",
    );
}

#[test]
fn oom_score_adj_out_of_range() {
    bad_config(
        |v| v["process"]["oomScoreAdj"] = json!(1001),
        "process.oomScoreAdj",
    );
}

#[test]
fn io_priority_out_of_range() {
    bad_config(
        |v| v["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
        "process.ioPriority.priority",
    );
}

#[test]
fn scheduler_priority_with_other_policy() {
    bad_config(
        |v| v["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 10}),
        "process.scheduler.priority",
    );
}

#[test]
fn scheduler_nice_out_of_range() {
    bad_config(
        |v| v["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 20}),
        "process.scheduler.nice",
    );
}

#[test]
fn rlimits_duplicated() {
    bad_config(
        |v| {
            v["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                {"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512}
            ])
        },
        "process.rlimits[1].type",
    );
}

#[test]
fn hostname_without_uts_namespace() {
    bad_config(|v| drop(ns(v).remove(3)), "hostname");
}

#[test]
fn namespaces_duplicated() {
    bad_config(
        |v| ns(v).push(json!({"type": "ipc"})),
        "linux.namespaces[5].type",
    );
}

#[test]
fn namespace_path_missing() {
    bad_config(
        |v| ns(v)[1] = json!({"type": "network", "path": "/proc/self/ns/no-such"}),
        "linux.namespaces[1].path",
    );
}

#[test]
fn namespace_path_not_nsfs() {
    bad_config(
        |v| ns(v)[1] = json!({"type": "network", "path": "/etc/hostname"}),
        "linux.namespaces[1].path",
    );
}

#[test]
fn namespace_path_wrong_type() {
    bad_config(
        |v| ns(v)[1] = json!({"type": "network", "path": "/proc/self/ns/uts"}),
        "linux.namespaces[1].path",
    );
}

#[test]
fn uid_mappings_without_user_namespace() {
    bad_config(
        |v| {
            v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
        },
        "linux.uidMappings",
    );
}

#[test]
fn user_namespace_without_mappings() {
    bad_config(|v| ns(v).push(json!({"type": "user"})), "linux.uidMappings");
}

#[test]
fn time_offsets_without_time_namespace() {
    bad_config(
        |v| v["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 100}}),
        "linux.timeOffsets",
    );
}

#[test]
fn mount_destination_relative() {
    bad_config(
        |v| {
            push_mount(
                v,
                json!({"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}),
            )
        },
        "mounts[0].destination",
    );
}

#[test]
fn mount_destination_root() {
    bad_config(
        |v| {
            push_mount(
                v,
                json!({"destination": "/", "type": "tmpfs", "source": "tmpfs"}),
            )
        },
        "mounts[0].destination",
    );
}

#[test]
fn bind_mount_source_missing() {
    bad_config_with(
        |v| {
            push_mount(
                v,
                json!({"destination": "/tmp", "type": "bind", "source": "/no/such/source",
                       "options": ["rbind"]}),
            )
        },
        "mounts[0].source",
        true,
    );
}

#[test]
fn mount_type_empty() {
    bad_config(
        |v| push_mount(v, json!({"destination": "/tmp", "source": "tmpfs"})),
        "mounts[0].type",
    );
}

#[test]
fn mount_propagation_conflict() {
    bad_config(
        |v| {
            push_mount(
                v,
                json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                       "options": ["private", "shared"]}),
            )
        },
        "mounts[0].options",
    );
}

#[test]
fn device_path_not_under_dev() {
    bad_config(
        |v| {
            v["linux"]["devices"] =
                json!([{"path": "/tmp/null", "type": "c", "major": 1, "minor": 3}])
        },
        "linux.devices[0].path",
    );
}

#[test]
fn device_type_a() {
    bad_config(
        |v| {
            v["linux"]["devices"] = json!([{"path": "/dev/x", "type": "a", "major": 1, "minor": 3}])
        },
        "linux.devices[0].type",
    );
}

#[test]
fn device_type_unknown() {
    bad_config(
        |v| {
            v["linux"]["devices"] = json!([{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}])
        },
        "linux.devices[0].type",
    );
}

#[test]
fn device_major_minor_missing() {
    bad_config(
        |v| v["linux"]["devices"] = json!([{"path": "/dev/x", "type": "c"}]),
        "linux.devices[0].major",
    );
}

#[test]
fn sysctl_not_namespaced() {
    bad_config(
        |v| v["linux"]["sysctl"] = json!({"vm.swappiness": "10"}),
        "linux.sysctl.vm.swappiness",
    );
}

#[test]
fn sysctl_net_without_net_namespace() {
    bad_config(
        |v| {
            ns(v).remove(1);
            v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
        "linux.sysctl.net.ipv4.ip_forward",
    );
}

#[test]
fn sysctl_net_in_joined_host_namespace() {
    bad_config(
        |v| {
            ns(v)[1] = json!({"type": "network", "path": "/proc/self/ns/net"});
            v["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
        "linux.sysctl.net.ipv4.ip_forward",
    );
}

#[test]
fn sysctl_ipc_without_ipc_namespace() {
    bad_config(
        |v| {
            ns(v).remove(2);
            v["linux"]["sysctl"] = json!({"kernel.shmmax": "65536"});
        },
        "linux.sysctl.kernel.shmmax",
    );
}

#[test]
fn masked_path_relative() {
    bad_config(
        |v| v["linux"]["maskedPaths"] = json!(["proc/kcore"]),
        "linux.maskedPaths[0]",
    );
}

#[test]
fn readonly_path_relative() {
    bad_config(
        |v| v["linux"]["readonlyPaths"] = json!(["/proc/bus", "proc/sys"]),
        "linux.readonlyPaths[1]",
    );
}

#[test]
fn hook_path_relative() {
    bad_config(
        |v| v["hooks"] = json!({"prestart": [{"path": "true"}]}),
        "hooks.prestart[0].path",
    );
}

#[test]
fn hook_timeout_zero() {
    bad_config(
        |v| v["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]}),
        "hooks.createRuntime[0].timeout",
    );
}

#[test]
fn cgroups_path_dotdot() {
    bad_config(
        |v| v["linux"]["cgroupsPath"] = json!("/rt-test-x/../../escape"),
        "linux.cgroupsPath",
    );
}

#[test]
fn pids_limit_negative() {
    bad_config(
        |v| v["linux"]["resources"]["pids"] = json!({"limit": -2}),
        "linux.resources.pids.limit",
    );
}

#[test]
fn cpu_shares_too_small() {
    bad_config(
        |v| v["linux"]["resources"]["cpu"] = json!({"shares": 1}),
        "linux.resources.cpu.shares",
    );
}

#[test]
fn personality_unknown_domain() {
    bad_config(
        |v| v["linux"]["personality"] = json!({"domain": "BSD"}),
        "linux.personality.domain",
    );
}

#[test]
fn rootfs_propagation_unknown() {
    bad_config(
        |v| v["linux"]["rootfsPropagation"] = json!("sharedish"),
        "linux.rootfsPropagation",
    );
}

#[test]
fn args0_not_found_in_container() {
    bad_config_with(
        |v| v["process"]["args"] = json!(["/bin/no-such-binary"]),
        "process.args[0]",
        true,
    );
}

#[test]
fn args0_not_on_path() {
    bad_config(
        |v| v["process"]["args"] = json!(["no-such-command", "x"]),
        "process.args[0]",
    );
}

// ---- command line -------------------------------------------------------------------

/// `rt <args>` fails with one line naming `needle` and makes no state dir for `id`.
fn bad_cli(args: &[&str], needle: &str) -> Rt {
    let rt = Rt::new();
    let out = rt.run(args);
    assert_one_line(&out, needle, &format!("rt {args:?}"));
    let left: Vec<_> = std::fs::read_dir(&rt.root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "rt {args:?} left state behind: {left:?}");
    rt
}

#[test]
fn cli_unknown_flag() {
    bad_cli(&["create", "--no-such-flag", "x"], "--no-such-flag");
}

#[test]
fn cli_unknown_global_flag() {
    bad_cli(&["--bogus-global", "state", "x"], "--bogus-global");
}

#[test]
fn cli_missing_id() {
    let b = Bundle::busybox(&["true"]);
    bad_cli(&["create", "--bundle", b.dir.to_str().unwrap()], "ID");
}

#[test]
fn cli_invalid_id_dotdot() {
    let b = Bundle::busybox(&["true"]);
    bad_cli(
        &["create", "--bundle", b.dir.to_str().unwrap(), "../x"],
        "../x",
    );
}

#[test]
fn cli_invalid_id_slash() {
    let b = Bundle::busybox(&["true"]);
    bad_cli(
        &["create", "--bundle", b.dir.to_str().unwrap(), "a/b"],
        "a/b",
    );
}

/// Every command that takes an id refuses one that is empty, `.`, `..`, holds a `/` or
/// anything outside [A-Za-z0-9_+.-], or is longer than NAME_MAX: exit 1, one line naming
/// the id, nothing made under --root nor beside it.
#[test]
fn cli_invalid_ids_are_refused_by_every_command() {
    let b = Bundle::busybox(&["true"]);
    let long = "a".repeat(256);
    let ids = [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "/abs",
        "a b",
        "a\nb",
        long.as_str(),
    ];
    for id in ids {
        let quoted = format!("invalid container id {id:?}");
        for cmd in [
            vec!["create", "--bundle", b.dir_str(), id],
            vec!["run", "-d", "--bundle", b.dir_str(), id],
            vec!["start", id],
            vec!["state", id],
            vec!["kill", id, "KILL"],
            vec!["delete", "-f", id],
            vec!["exec", id, "true"],
            vec!["pause", id],
        ] {
            let rt = bad_cli(&cmd, &quoted);
            for outside in [rt.root.parent().unwrap().join("x"), "/abs".into()] {
                assert!(!outside.exists(), "rt {cmd:?} made {}", outside.display());
            }
        }
    }
    // 255 characters is a valid id (refused only because it does not exist).
    let rt = Rt::new();
    let out = rt.run(&["state", &"a".repeat(255)]);
    assert_one_line(&out, "does not exist", "rt state <255 characters>");
}

#[test]
fn cli_log_format_xml() {
    bad_cli(&["--log-format", "xml", "state", "x"], "--log-format");
}

#[test]
fn cli_bundle_does_not_exist() {
    let id = unique_id("bad");
    bad_cli(
        &["create", "--bundle", "/no/such/bundle-dir", &id],
        "/no/such/bundle-dir",
    );
}

#[test]
fn cli_unknown_container() {
    let id = unique_id("ghost");
    for cmd in [
        &["start", id.as_str()][..],
        &["kill", id.as_str(), "KILL"],
        &["delete", id.as_str()],
        &["state", id.as_str()],
        &["exec", id.as_str(), "true"],
        &["pause", id.as_str()],
        &["resume", id.as_str()],
        &["ps", id.as_str()],
    ] {
        bad_cli(cmd, &id);
    }
}

// ---- lifecycle commands on the wrong container ---------------------------------------

/// A created container (process: sleep 100) in `rt`.
fn create(rt: &Rt, args: &[&str]) -> (Bundle, String) {
    let b = Bundle::busybox(args);
    let id = unique_id("bad");
    rt.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    (b, id)
}

#[test]
fn kill_unknown_signal() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["sleep", "100"]);
    let out = rt.run(&["kill", &id, "SIGFOO"]);
    assert_one_line(&out, "SIGFOO", "kill SIGFOO");
    assert_eq!(
        rt.status(&id),
        "created",
        "a bad kill changed the container"
    );
    let out = rt.run(&["kill", &id, "99"]);
    assert_one_line(&out, "99", "kill 99");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn create_existing_id() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["sleep", "100"]);
    let pid = rt.state(&id)["pid"].as_i64();
    let out = rt.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_one_line(&out, &id, "create again");
    // The first container is untouched.
    assert_eq!(rt.status(&id), "created");
    assert_eq!(rt.state(&id)["pid"].as_i64(), pid);
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_running_without_force() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["sleep", "100"]);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "running");
    let out = rt.run(&["delete", &id]);
    assert_one_line(&out, &id, "delete running");
    assert_eq!(rt.status(&id), "running", "delete without -f touched it");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn exec_into_stopped_container() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["true"]);
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    let out = rt.run(&["exec", &id, "true"]);
    assert_one_line(&out, &id, "exec into stopped");
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn start_twice() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["sleep", "100"]);
    rt.ok(&["start", &id]);
    let out = rt.run(&["start", &id]);
    assert_one_line(&out, &id, "start twice");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn exec_args0_not_found() {
    let rt = Rt::new();
    let (b, id) = create(&rt, &["sleep", "100"]);
    rt.ok(&["start", &id]);
    let out = rt.run(&["exec", &id, "/bin/no-such-binary"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("no-such-binary") && stderr.lines().count() == 1,
        "exec of a missing binary: {stderr:?}"
    );
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

// ---- fields rt does not apply: refused, never silently ignored --------------------------

#[test]
fn intel_rdt_is_refused() {
    bad_config(
        |v| v["linux"]["intelRdt"] = json!({"closID": "rt-test"}),
        "linux.intelRdt",
    );
}

#[test]
fn memory_policy_is_refused() {
    bad_config(
        |v| v["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"}),
        "linux.memoryPolicy",
    );
}

#[test]
fn net_devices_are_refused() {
    bad_config(
        |v| v["linux"]["netDevices"] = json!({"eth9": {}}),
        "linux.netDevices",
    );
}

/// The init's hidden re-exec entry (`rt __rt-init FD`) refuses anything but a memfd: it
/// never reads another fd (a terminal or a pipe could block it).
#[test]
fn hidden_init_entry_refuses_a_non_memfd() {
    let out = output_with_timeout(Command::new(rt_bin()).arg("__rt-init"), cmd_timeout());
    assert_one_line(&out, "__rt-init: want the number of a memfd", "no fd");
    let out = output_with_timeout(
        Command::new(rt_bin()).args(["__rt-init", "1"]),
        cmd_timeout(),
    );
    assert_one_line(&out, "__rt-init: want the number of a memfd", "fd 1");
    let script = format!("exec 5</dev/null; exec {} __rt-init 5", rt_bin().display());
    let out = output_with_timeout(Command::new("bash").args(["-c", &script]), cmd_timeout());
    assert_one_line(&out, "__rt-init: fd 5 is not a memfd", "fd 5 (/dev/null)");
}
