//! process.capabilities in real containers: the five sets as the process sees them in
//! /proc/self/status (expected values are what runc 1.1.5 gives for the same config),
//! a non-root user with ambient capabilities, and capabilities actually taking effect.
use integration::*;
use serde_json::{json, Value};

const EPERM: i64 = 1;

fn cap_field(st: &Value, key: &str) -> u64 {
    let s = st["status"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {}", st["status"]));
    u64::from_str_radix(s.trim(), 16).unwrap_or_else(|e| panic!("{key} {s:?}: {e}"))
}

/// Asserts CapInh, CapPrm, CapEff, CapBnd, CapAmb.
fn assert_caps(st: &Value, want: [u64; 5]) {
    let keys = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];
    let got: Vec<u64> = keys.iter().map(|k| cap_field(st, k)).collect();
    assert_eq!(
        got,
        want.to_vec(),
        "{keys:?}: got {:x?}, want {:x?}",
        got,
        want
    );
}

/// The config of the test five_sets_*: every set different.
fn five_sets() -> Value {
    json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "inheritable": ["CAP_NET_RAW", "CAP_SYS_CHROOT"],
        "ambient": ["CAP_NET_RAW"]
    })
}

fn bundle_with_caps(caps: Value) -> Bundle {
    let mut b = Bundle::busybox(&[]);
    b.config["process"]["capabilities"] = caps;
    b.save();
    b
}

#[test]
fn default_config_as_runc() {
    // runc spec: ambient caps without inheritable ones are not raised (no error).
    let rt = Rt::new();
    let mut b = Bundle::busybox(&[]);
    let st = probe(&rt, &mut b, &[]);
    assert_caps(&st, [0, 0x2000_0420, 0x2000_0420, 0x2000_0420, 0]);
}

#[test]
fn five_sets_as_root_with_no_new_privs() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(five_sets());
    let st = probe(&rt, &mut b, &[]);
    // no_new_privs: the exec cannot gain beyond the permitted set it had.
    assert_caps(&st, [0x42000, 0x2420, 0x2420, 0x42421, 0x2000]);
}

#[test]
fn five_sets_as_root_without_no_new_privs() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(five_sets());
    b.config["process"]["noNewPrivileges"] = json!(false);
    let st = probe(&rt, &mut b, &[]);
    // root's exec: permitted = bounding | inheritable.
    assert_caps(&st, [0x42000, 0x42421, 0x42421, 0x42421, 0x2000]);
}

#[test]
fn five_sets_as_non_root() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(five_sets());
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let st = probe(&rt, &mut b, &[]);
    // A non-root exec keeps only the ambient set.
    assert_caps(&st, [0x42000, 0x2000, 0x2000, 0x42421, 0x2000]);
}

#[test]
fn empty_sets() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(json!({}));
    let st = probe(&rt, &mut b, &[]);
    assert_caps(&st, [0, 0, 0, 0, 0]);
}

#[test]
fn non_root_user_with_ambient_capabilities() {
    let rt = Rt::new();
    let set = json!(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
    let mut b = bundle_with_caps(json!({
        "bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set
    }));
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let st = probe(&rt, &mut b, &[]);
    assert_eq!(st["uid"], 1000, "{st}");
    assert_caps(&st, [0x2400, 0x2400, 0x2400, 0x2400, 0x2400]);
    // CAP_NET_RAW works for uid 1000.
    let r = probe(&rt, &mut b, &["syscall", "socket_raw"]);
    assert_eq!(r["ok"], true, "{r}");

    // Without the ambient set the same user has no capabilities after exec.
    b.config["process"]["capabilities"]["ambient"] = json!([]);
    let r = probe(&rt, &mut b, &["syscall", "socket_raw"]);
    assert_eq!(r["errno"], EPERM, "{r}");
}

#[test]
fn dropping_cap_chown_makes_chown_fail() {
    let rt = Rt::new();
    let with = json!(["CAP_CHOWN", "CAP_KILL"]);
    let mut b = bundle_with_caps(json!({"bounding": with, "effective": with, "permitted": with}));
    let script = "touch /dev/shm/f && chown 1000 /dev/shm/f; echo rc=$?";
    b.set_args(&["/bin/sh", "-c", script]);
    b.save();
    let out = rt.ok(&["run", "--bundle", b.dir_str(), &unique_id("cap")]);
    assert!(out.contains("rc=0"), "{out}");

    let without = json!(["CAP_KILL"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": without, "effective": without, "permitted": without});
    b.save();
    let id = unique_id("cap");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("rc=1") && text.contains("Operation not permitted"),
        "{text}"
    );
}

#[test]
fn cap_sys_chroot_governs_chroot() {
    let rt = Rt::new();
    let with = json!(["CAP_SYS_CHROOT"]);
    let mut b = bundle_with_caps(json!({"bounding": with, "effective": with, "permitted": with}));
    let r = probe(&rt, &mut b, &["syscall", "chroot"]);
    assert_eq!(r["ok"], true, "{r}");
    b.config["process"]["capabilities"] =
        json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
    let r = probe(&rt, &mut b, &["syscall", "chroot"]);
    assert_eq!(r["errno"], EPERM, "{r}");
}

#[test]
fn exec_gets_the_capabilities_too() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(five_sets());
    b.set_args(&["/bin/sleep", "30"]);
    b.save();
    let id = unique_id("cap");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    let st = exec_probe(&rt, &id, &[]);
    rt.ok(&["delete", "-f", &id]);
    assert_caps(&st, [0x42000, 0x2420, 0x2420, 0x42421, 0x2000]);
}

#[test]
fn inheritable_outside_bounding_fails_at_start_with_the_path() {
    let rt = Rt::new();
    let mut b = bundle_with_caps(json!({
        "bounding": ["CAP_KILL"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_CHOWN"]
    }));
    b.set_args(&["/bin/true"]);
    b.save();
    let id = unique_id("cap");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&["run"], &out));
    assert!(err.contains("process.capabilities.inheritable"), "{err}");
    let _ = rt.run(&["delete", "-f", &id]);
}
