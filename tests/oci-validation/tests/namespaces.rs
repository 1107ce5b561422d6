//! linux.namespaces, uid/gid mappings, hostname/domainname, time offsets.
use integration::*;
use serde_json::{json, Value};
use std::fs;

/// probe JSON name of a namespace, and the config type.
const TYPES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

fn host(ns: &str) -> u64 {
    ns_inode("self", ns)
}

fn run_probe(b: &mut Bundle) -> Value {
    let rt = Rt::new();
    let id = unique_id("ns");
    let p = probe_id(&rt, b, &id, &[]);
    assert_no_leftovers(&rt, &id, b);
    p
}

#[test]
fn default_namespaces_are_new_and_others_shared() {
    let mut b = Bundle::busybox(&[]);
    let p = run_probe(&mut b);
    let ns = &p["namespaces"];
    for n in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_ne!(
            ns[n].as_u64(),
            Some(host(n)),
            "{n} namespace is the host's: {ns}"
        );
    }
    for n in ["user", "cgroup"] {
        assert_eq!(
            ns[n].as_u64(),
            Some(host(n)),
            "{n} namespace is not the host's: {ns}"
        );
    }
    assert_eq!(p["pid"], 1, "the container process is pid 1");
    assert_eq!(p["ppid"], 0);
}

#[test]
fn each_namespace_type_alone() {
    for (typ, n) in TYPES {
        let mut b = Bundle::busybox(&[]);
        // Always a mount namespace (the proc mount needs one); nothing else.
        b.config["linux"]["namespaces"] = json!([{ "type": typ }]);
        b.set_namespace("mount", None);
        if *typ != "uts" {
            b.config.as_object_mut().unwrap().remove("hostname");
        }
        b.save();
        let p = run_probe(&mut b);
        let ns = &p["namespaces"];
        assert_ne!(ns[n].as_u64(), Some(host(n)), "{typ}: not new: {ns}");
        for (t2, n2) in TYPES {
            if t2 != typ && *t2 != "mount" {
                assert_eq!(
                    ns[*n2].as_u64(),
                    Some(host(n2)),
                    "{typ}: {n2} changed: {ns}"
                );
            }
        }
    }
}

#[test]
fn join_namespaces_by_path() {
    let s = Sleeper::new(&["--net", "--ipc", "--uts", "--cgroup"]);
    let mut b = Bundle::busybox(&[]);
    for (typ, n) in [
        ("network", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("cgroup", "cgroup"),
    ] {
        b.set_namespace(typ, Some(&s.ns_path(n)));
    }
    // a joined uts namespace is not ours to rename
    b.config.as_object_mut().unwrap().remove("hostname");
    b.save();
    let p = run_probe(&mut b);
    let ns = &p["namespaces"];
    for n in ["net", "ipc", "uts", "cgroup"] {
        assert_eq!(
            ns[n].as_u64(),
            Some(ns_inode(&s.pid().to_string(), n)),
            "{n} namespace was not joined: {ns}"
        );
        assert_ne!(ns[n].as_u64(), Some(host(n)));
    }
    // still new where asked
    assert_ne!(ns["pid"].as_u64(), Some(host("pid")));
    assert_ne!(ns["mnt"].as_u64(), Some(host("mnt")));
}

#[test]
fn join_pid_namespace_of_another_container() {
    let rt = Rt::new();
    let b1 = Bundle::busybox(&["/bin/sleep", "1000"]);
    let id1 = unique_id("ns");
    rt.ok(&["run", "-d", "--bundle", b1.dir_str(), &id1]);
    let pid1 = rt.state(&id1)["pid"].as_i64().unwrap().to_string();

    let mut b2 = Bundle::busybox(&[]);
    b2.set_namespace("pid", Some(&format!("/proc/{pid1}/ns/pid")));
    b2.set_namespace("network", Some(&format!("/proc/{pid1}/ns/net")));
    b2.save();
    let id2 = unique_id("ns");
    let p = probe_id(&rt, &mut b2, &id2, &[]);
    assert_eq!(
        p["namespaces"]["pid"].as_u64(),
        Some(ns_inode(&pid1, "pid"))
    );
    assert_eq!(
        p["namespaces"]["net"].as_u64(),
        Some(ns_inode(&pid1, "net"))
    );
    assert_ne!(p["pid"], 1, "joined pid namespace already has a pid 1");
    assert_no_leftovers(&rt, &id2, &b2);
    rt.ok(&["delete", "-f", &id1]);
    assert_no_leftovers(&rt, &id1, &b1);
}

#[test]
fn namespace_path_of_wrong_type_fails() {
    let s = Sleeper::new(&["--net"]);
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    b.set_namespace("uts", Some(&s.ns_path("net")));
    b.save();
    let id = unique_id("ns");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert!(!out.stderr.is_empty(), "{}", describe(&a, &out));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn namespace_path_missing_fails() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    b.set_namespace("network", Some("/proc/999999999/ns/net"));
    b.save();
    let id = unique_id("ns");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert_no_leftovers(&rt, &id, &b);
}

fn userns_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::busybox(args);
    b.set_namespace("user", None);
    b.config["linux"]["uidMappings"] =
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.config["linux"]["gidMappings"] =
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    // The rootfs belongs to host root (nobody inside): readable, not writable.
    b.save();
    b
}

fn map_fields(s: &Value) -> Vec<Vec<u64>> {
    s.as_str()
        .unwrap_or_else(|| panic!("no map: {s}"))
        .lines()
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect()
}

#[test]
fn user_namespace_with_mappings() {
    let mut b = userns_bundle(&[]);
    let p = run_probe(&mut b);
    assert_ne!(p["namespaces"]["user"].as_u64(), Some(host("user")));
    assert_eq!(map_fields(&p["uid_map"]), vec![vec![0, 100000, 65536]]);
    assert_eq!(map_fields(&p["gid_map"]), vec![vec![0, 100000, 65536]]);
    assert_eq!(p["uid"], 0);
    assert_eq!(p["gid"], 0);
    assert_eq!(p["pid"], 1);
}

#[test]
fn user_namespace_uid_seen_from_host() {
    let rt = Rt::new();
    let b = userns_bundle(&["/bin/sleep", "1000"]);
    let id = unique_id("ns");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let gid = status.lines().find(|l| l.starts_with("Gid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(1), Some("100000"), "{uid}");
    assert_eq!(gid.split_whitespace().nth(1), Some("100000"), "{gid}");
    let m = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        m.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // Host uid 100000 cannot open the cgroup files, yet the init (and an exec'd process)
    // joins every hierarchy: through files rt opened for it (Cgroup::join_files).
    let pid_file = b.dir.join("exec.pid");
    rt.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "/bin/sleep",
        "999",
    ]);
    let exec_pid = fs::read_to_string(&pid_file).unwrap();
    let cgp = b.cgroups_path();
    for p in [pid.to_string(), exec_pid.trim().to_string()] {
        let cg = fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
        assert!(cg.lines().count() > 0);
        for l in cg.lines() {
            assert!(l.ends_with(&format!(":{cgp}")), "{l}: not in {cgp}:\n{cg}");
        }
    }
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn user_namespace_multiple_mappings() {
    let mut b = userns_bundle(&[]);
    b.config["linux"]["uidMappings"] = json!([
        { "containerID": 0, "hostID": 200000, "size": 1000 },
        { "containerID": 1000, "hostID": 300000, "size": 1 }
    ]);
    b.config["linux"]["gidMappings"] = json!([
        { "containerID": 0, "hostID": 200000, "size": 1000 },
        { "containerID": 1000, "hostID": 300000, "size": 1 }
    ]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.save();
    let p = run_probe(&mut b);
    let mut um = map_fields(&p["uid_map"]);
    um.sort();
    assert_eq!(um, vec![vec![0, 200000, 1000], vec![1000, 300000, 1]]);
    assert_eq!(p["uid"], 1000);
    assert_eq!(p["gid"], 1000);
}

#[test]
fn join_user_namespace_by_path() {
    let s = Sleeper::new(&["--user"]);
    // Host root writes the maps itself (no newuidmap needed).
    for m in ["uid_map", "gid_map"] {
        fs::write(format!("/proc/{}/{m}", s.pid()), "0 100000 65536\n").unwrap();
    }
    let mut b = userns_bundle(&[]);
    b.set_namespace("user", Some(&s.ns_path("user")));
    b.save();
    let p = run_probe(&mut b);
    assert_eq!(
        p["namespaces"]["user"].as_u64(),
        Some(ns_inode(&s.pid().to_string(), "user"))
    );
    assert_eq!(map_fields(&p["uid_map"]), vec![vec![0, 100000, 65536]]);
    assert_eq!(p["uid"], 0);
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::busybox(&[]);
    b.config["hostname"] = json!("box-1");
    b.config["domainname"] = json!("example.test");
    b.save();
    let p = run_probe(&mut b);
    assert_eq!(p["hostname"], "box-1");
    assert_eq!(p["domainname"], "example.test");
    // The host's names are untouched.
    let h = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(h.trim(), "box-1");
}

#[test]
fn default_hostname_from_config() {
    let mut b = Bundle::busybox(&[]);
    let p = run_probe(&mut b);
    assert_eq!(p["hostname"], "rt-test");
}

#[test]
fn hostname_without_uts_namespace_fails() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    b.remove_namespace("uts");
    b.config["hostname"] = json!("rt-test-nope");
    b.save();
    let id = unique_id("ns");
    let before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    let after = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    if after != before {
        // Put the host's name back before failing.
        fs::write("/proc/sys/kernel/hostname", before.trim()).unwrap();
        panic!(
            "the host's hostname was changed to {after:?}!\n{}",
            describe(&a, &out)
        );
    }
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn pid_one_and_only_process() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/bin/sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]);
    let id = unique_id("ns");
    let out = rt.ok(&["run", "--bundle", b.dir_str(), &id]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
    // sh, and ls + grep of the pipeline (busybox may fork a subshell)
    let n: u32 = lines[1].parse().unwrap();
    assert!((2..=4).contains(&n), "processes visible: {n}: {out}");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn time_namespace_offsets() {
    let mut b = Bundle::busybox(&[]);
    b.set_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({
        "monotonic": { "secs": 86400, "nanosecs": 0 },
        "boottime": { "secs": 3600, "nanosecs": 500 }
    });
    b.save();
    let p = run_probe(&mut b);
    assert_ne!(p["namespaces"]["time"].as_u64(), Some(host("time")));
    let offs = p["timens_offsets"].as_str().expect("timens_offsets");
    let lines: Vec<Vec<&str>> = offs
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(lines.contains(&vec!["monotonic", "86400", "0"]), "{offs}");
    assert!(lines.contains(&vec!["boottime", "3600", "500"]), "{offs}");
}

#[test]
fn cgroup_namespace_root_is_the_container_cgroup() {
    let mut b = Bundle::busybox(&[]);
    b.set_namespace("cgroup", None);
    b.save();
    let p = run_probe(&mut b);
    assert_ne!(p["namespaces"]["cgroup"].as_u64(), Some(host("cgroup")));
    for c in p["cgroup"].as_array().unwrap() {
        if c["controllers"].as_str().unwrap_or("").contains("memory") {
            assert_eq!(c["path"], "/", "in its cgroup namespace: {}", p["cgroup"]);
        }
    }
}

#[test]
fn new_network_namespace_has_only_loopback() {
    let mut b = Bundle::busybox(&[]);
    let rt = Rt::new();
    let id = unique_id("ns");
    let p = probe_id(&rt, &mut b, &id, &["read", "/proc/net/dev"]);
    let ifaces: Vec<String> = p["data"]
        .as_str()
        .expect("/proc/net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect();
    assert_eq!(ifaces, ["lo"], "{p}");
    assert_no_leftovers(&rt, &id, &b);
}
