//! root, mounts, rootfsPropagation, linux.devices, maskedPaths, readonlyPaths, pivot_root.
use integration::*;
use serde_json::{json, Value};
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const EROFS: i64 = libc::EROFS as i64;

fn run_probe(b: &mut Bundle, args: &[&str]) -> Value {
    let rt = Rt::new();
    let id = unique_id("fs");
    let p = probe_id(&rt, b, &id, args);
    assert_no_leftovers(&rt, &id, b);
    p
}

/// The mountinfo entry for `mp` (the topmost, i.e. last, one).
fn mount_at<'a>(p: &'a Value, mp: &str) -> &'a Value {
    p["mountinfo"]
        .as_array()
        .expect("mountinfo")
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mp)
        .unwrap_or_else(|| panic!("no mount at {mp}: {}", mounts_summary(p)))
}

fn has_mount(p: &Value, mp: &str) -> bool {
    p["mountinfo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mount_point"] == mp)
}

fn mounts_summary(p: &Value) -> String {
    p["mountinfo"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    format!(
                        "{} {} {} {} {}",
                        m["mount_point"].as_str().unwrap_or(""),
                        m["fstype"].as_str().unwrap_or(""),
                        m["options"],
                        m["super_options"],
                        m["optional"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn opts(m: &Value, key: &str) -> Vec<String> {
    m[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn has_opt(m: &Value, o: &str) -> bool {
    opts(m, "options").iter().any(|x| x == o)
}

fn has_super(m: &Value, o: &str) -> bool {
    opts(m, "super_options").iter().any(|x| x == o)
}

fn optional_has(m: &Value, prefix: &str) -> bool {
    opts(m, "optional").iter().any(|x| x.starts_with(prefix))
}

/// A host directory outside the bundle (bind-mount source), unmounted and removed on drop.
struct HostDir(PathBuf);

impl HostDir {
    fn new() -> HostDir {
        let d = std::env::temp_dir()
            .join("rt-test-src")
            .join(unique_id("src"));
        fs::create_dir_all(&d).unwrap();
        HostDir(d)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
    /// Mounts a tmpfs at <dir>/<sub> on the host.
    fn mount_tmpfs(&self, sub: &str) -> PathBuf {
        let p = if sub.is_empty() {
            self.0.clone()
        } else {
            self.0.join(sub)
        };
        fs::create_dir_all(&p).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "rt-test", p.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", p.display());
        p
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        for mp in mounts_under(&self.0) {
            let c = CString::new(mp).unwrap();
            // SAFETY: valid C string.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        if mounts_under(&self.0).is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// root
// ---------------------------------------------------------------------------------------

#[test]
fn pivot_root_hides_the_host_root() {
    let mut b = Bundle::busybox(&[]);
    let rootfs_ino = fs::metadata(b.rootfs()).unwrap().ino();
    let rt = Rt::new();
    let id = unique_id("fs");
    let p = probe_id(&rt, &mut b, &id, &["stat", "/"]);
    assert_eq!(
        p["ino"].as_u64(),
        Some(rootfs_ino),
        "/ is not the bundle rootfs"
    );
    let p = probe_id(&rt, &mut b, &id, &["stat", "/.."]);
    assert_eq!(
        p["ino"].as_u64(),
        Some(rootfs_ino),
        "/.. escapes the rootfs"
    );
    // A file of the host's root is not there.
    assert!(Path::new("/etc/debian_version").exists());
    let p = probe_id(&rt, &mut b, &id, &["stat", "/etc/debian_version"]);
    assert_eq!(p["ok"], false, "host file visible: {p}");
    // Nothing of the host's mount table: only the container's mounts.
    let p = probe_id(&rt, &mut b, &id, &[]);
    let first = &p["mountinfo"][0];
    assert_eq!(first["mount_point"], "/", "{}", mounts_summary(&p));
    for m in p["mountinfo"].as_array().unwrap() {
        let mp = m["mount_point"].as_str().unwrap();
        assert!(
            !mp.starts_with("/work") && !mp.starts_with("/mnt") && !mp.starts_with("/run"),
            "host mount visible in the container: {mp}"
        );
    }
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn no_pivot_root_is_still_the_rootfs() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe", "stat", "/"]);
    let rootfs_ino = fs::metadata(b.rootfs()).unwrap().ino();
    b.save();
    let id = unique_id("fs");
    let a = ["run", "--no-pivot", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(out.status.success(), "{}", describe(&a, &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["ino"].as_u64(), Some(rootfs_ino));
    assert_no_leftovers(&rt, &id, &b);

    b.set_args(&["/bin/rt-probe", "stat", "/etc/debian_version"]);
    b.save();
    let id = unique_id("fs");
    let a = ["run", "--no-pivot", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(out.status.success(), "{}", describe(&a, &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["ok"], false, "host file visible with --no-pivot: {p}");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn readonly_root() {
    let mut b = Bundle::busybox(&[]);
    assert_eq!(b.config["root"]["readonly"], true, "runc's default");
    let p = run_probe(&mut b, &["write", "/newfile", "x"]);
    assert_eq!(p["errno"], EROFS, "{p}");
    let p = run_probe(&mut b, &[]);
    assert!(has_opt(mount_at(&p, "/"), "ro"), "{}", mounts_summary(&p));
    // writable mounts on a read-only root still work
    let p = run_probe(&mut b, &["write", "/dev/shm/x", "x"]);
    assert_eq!(p["ok"], true, "{p}");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_root() {
    let mut b = Bundle::busybox(&[]);
    b.set_readonly(false);
    let p = run_probe(&mut b, &["write", "/newfile", "hello"]);
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("newfile")).unwrap(),
        "hello"
    );
    let p = run_probe(&mut b, &[]);
    assert!(has_opt(mount_at(&p, "/"), "rw"), "{}", mounts_summary(&p));
}

// ---------------------------------------------------------------------------------------
// bind mounts
// ---------------------------------------------------------------------------------------

#[test]
fn bind_mount_rw_and_ro() {
    let src = HostDir::new();
    fs::write(src.0.join("f"), "from-host").unwrap();
    let mut b = Bundle::busybox(&[]);
    b.add_mount(
        json!({"destination": "/mnt/rw", "type": "bind", "source": src.path(),
                       "options": ["rbind"]}),
    );
    b.add_mount(
        json!({"destination": "/mnt/ro", "type": "none", "source": src.path(),
                       "options": ["bind", "ro"]}),
    );
    b.save();
    let p = run_probe(&mut b, &["read", "/mnt/rw/f"]);
    assert_eq!(p["data"], "from-host", "{p}");
    let p = run_probe(&mut b, &["write", "/mnt/rw/g", "from-container"]);
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(
        fs::read_to_string(src.0.join("g")).unwrap(),
        "from-container"
    );
    let p = run_probe(&mut b, &["read", "/mnt/ro/g"]);
    assert_eq!(p["data"], "from-container");
    let p = run_probe(&mut b, &["write", "/mnt/ro/h", "x"]);
    assert_eq!(p["errno"], EROFS, "{p}");
    let p = run_probe(&mut b, &[]);
    assert!(
        has_opt(mount_at(&p, "/mnt/ro"), "ro"),
        "{}",
        mounts_summary(&p)
    );
    assert!(
        has_opt(mount_at(&p, "/mnt/rw"), "rw"),
        "{}",
        mounts_summary(&p)
    );
}

#[test]
fn bind_mount_of_a_file() {
    let src = HostDir::new();
    let f = src.0.join("hosts");
    fs::write(&f, "127.0.0.1 bound\n").unwrap();
    let mut b = Bundle::busybox(&[]);
    b.add_mount(json!({"destination": "/etc/hosts", "type": "bind",
                       "source": f.to_str().unwrap(), "options": ["bind", "ro"]}));
    b.save();
    let p = run_probe(&mut b, &["read", "/etc/hosts"]);
    assert_eq!(p["data"], "127.0.0.1 bound\n", "{p}");
}

#[test]
fn bind_mount_with_missing_source_fails() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/true"]);
    b.add_mount(json!({"destination": "/mnt/x", "type": "bind",
                       "source": "/nonexistent/rt-test", "options": ["bind"]}));
    b.save();
    let id = unique_id("fs");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(!out.status.success(), "{}", describe(&a, &out));
    assert!(!out.stderr.is_empty());
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn recursive_bind_ro_and_rro() {
    let src = HostDir::new();
    let sub = src.mount_tmpfs("sub");
    fs::write(sub.join("f"), "x").unwrap();
    let mut b = Bundle::busybox(&[]);
    b.add_mount(
        json!({"destination": "/mnt/ro", "type": "bind", "source": src.path(),
                       "options": ["rbind", "ro"]}),
    );
    b.add_mount(
        json!({"destination": "/mnt/rro", "type": "bind", "source": src.path(),
                       "options": ["rbind", "rro"]}),
    );
    b.save();
    let p = run_probe(&mut b, &[]);
    let s = mounts_summary(&p);
    assert!(has_opt(mount_at(&p, "/mnt/ro"), "ro"), "{s}");
    assert!(
        has_opt(mount_at(&p, "/mnt/ro/sub"), "rw"),
        "ro is not recursive: {s}"
    );
    assert!(has_opt(mount_at(&p, "/mnt/rro"), "ro"), "{s}");
    assert!(
        has_opt(mount_at(&p, "/mnt/rro/sub"), "ro"),
        "rro is recursive: {s}"
    );
    let p = run_probe(&mut b, &["write", "/mnt/rro/sub/f", "y"]);
    assert_eq!(p["errno"], EROFS, "{p}");
    let p = run_probe(&mut b, &["write", "/mnt/ro/sub/f", "y"]);
    assert_eq!(p["ok"], true, "{p}");
}

#[test]
fn bind_without_rbind_skips_submounts() {
    let src = HostDir::new();
    let sub = src.mount_tmpfs("sub");
    fs::write(sub.join("f"), "x").unwrap();
    let mut b = Bundle::busybox(&[]);
    b.add_mount(
        json!({"destination": "/mnt/b", "type": "bind", "source": src.path(),
                       "options": ["bind"]}),
    );
    b.save();
    let p = run_probe(&mut b, &[]);
    assert!(has_mount(&p, "/mnt/b"));
    assert!(!has_mount(&p, "/mnt/b/sub"), "{}", mounts_summary(&p));
}

#[test]
fn bind_mount_propagation_flags() {
    let src = HostDir::new();
    // The source is a shared tmpfs so that "slave" gets a master.
    src.mount_tmpfs("");
    let st = std::process::Command::new("mount")
        .args(["--make-shared", src.path()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut b = Bundle::busybox(&[]);
    for (dst, prop) in [
        ("/mnt/shared", "rshared"),
        ("/mnt/slave", "rslave"),
        ("/mnt/private", "rprivate"),
        ("/mnt/unbindable", "runbindable"),
    ] {
        b.add_mount(
            json!({"destination": dst, "type": "bind", "source": src.path(),
                           "options": ["rbind", prop]}),
        );
    }
    b.save();
    let p = run_probe(&mut b, &[]);
    let s = mounts_summary(&p);
    assert!(optional_has(mount_at(&p, "/mnt/shared"), "shared:"), "{s}");
    let slave = mount_at(&p, "/mnt/slave");
    assert!(optional_has(slave, "master:"), "{s}");
    assert!(!optional_has(slave, "shared:"), "{s}");
    assert!(
        opts(mount_at(&p, "/mnt/private"), "optional").is_empty(),
        "{s}"
    );
    assert!(
        optional_has(mount_at(&p, "/mnt/unbindable"), "unbindable"),
        "{s}"
    );
}

#[test]
fn slave_bind_mount_receives_host_mounts() {
    let src = HostDir::new();
    src.mount_tmpfs("");
    let st = std::process::Command::new("mount")
        .args(["--make-shared", src.path()])
        .status()
        .unwrap();
    assert!(st.success());
    fs::create_dir_all(src.0.join("later")).unwrap();
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/sleep", "1000"]);
    b.add_mount(
        json!({"destination": "/mnt/s", "type": "bind", "source": src.path(),
                       "options": ["rbind", "rslave"]}),
    );
    b.save();
    let id = unique_id("fs");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    let later = src.mount_tmpfs("later");
    fs::write(later.join("new"), "propagated").unwrap();
    let p = exec_probe(&rt, &id, &["read", "/mnt/s/later/new"]);
    assert_eq!(p["data"], "propagated", "{p}");
    rt.ok(&["delete", "-f", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

// ---------------------------------------------------------------------------------------
// special filesystems
// ---------------------------------------------------------------------------------------

#[test]
fn tmpfs_with_size_and_mode() {
    let mut b = Bundle::busybox(&[]);
    b.add_mount(
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "size=1m", "mode=700"]}),
    );
    b.save();
    let p = run_probe(&mut b, &[]);
    let m = mount_at(&p, "/mnt/t");
    let s = mounts_summary(&p);
    assert_eq!(m["fstype"], "tmpfs");
    assert!(has_super(m, "size=1024k"), "{s}");
    assert!(has_super(m, "mode=700"), "{s}");
    assert!(has_opt(m, "nosuid") && has_opt(m, "nodev"), "{s}");
}

#[test]
fn default_special_mounts_and_options() {
    let mut b = Bundle::busybox(&[]);
    let p = run_probe(&mut b, &[]);
    let s = mounts_summary(&p);

    let proc_ = mount_at(&p, "/proc");
    assert_eq!(proc_["fstype"], "proc", "{s}");

    let sys = mount_at(&p, "/sys");
    assert_eq!(sys["fstype"], "sysfs", "{s}");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(has_opt(sys, o), "/sys lacks {o}: {s}");
    }

    let dev = mount_at(&p, "/dev");
    assert_eq!(dev["fstype"], "tmpfs", "{s}");
    assert!(has_opt(dev, "nosuid"), "{s}");
    assert!(
        has_super(dev, "size=65536k") && has_super(dev, "mode=755"),
        "{s}"
    );

    let pts = mount_at(&p, "/dev/pts");
    assert_eq!(pts["fstype"], "devpts", "{s}");
    assert!(has_opt(pts, "nosuid") && has_opt(pts, "noexec"), "{s}");
    for o in ["mode=620", "ptmxmode=666", "gid=5"] {
        assert!(has_super(pts, o), "/dev/pts lacks {o}: {s}");
    }

    let shm = mount_at(&p, "/dev/shm");
    assert_eq!(shm["fstype"], "tmpfs", "{s}");
    assert!(has_super(shm, "size=65536k"), "{s}");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(has_opt(shm, o), "/dev/shm lacks {o}: {s}");
    }

    let mq = mount_at(&p, "/dev/mqueue");
    assert_eq!(mq["fstype"], "mqueue", "{s}");
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(has_opt(mq, o), "/dev/mqueue lacks {o}: {s}");
    }

    // cgroup v1: the hierarchies under /sys/fs/cgroup, read-only
    let cg: Vec<&Value> = p["mountinfo"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["mount_point"]
                .as_str()
                .unwrap()
                .starts_with("/sys/fs/cgroup/")
                && m["fstype"] == "cgroup"
        })
        .collect();
    assert!(!cg.is_empty(), "no cgroup mounts: {s}");
    for m in cg {
        assert!(has_opt(m, "ro"), "cgroup mount not ro: {s}");
    }

    // /dev/shm is writable, sticky and world-writable
    let p = run_probe(&mut b, &["stat", "/dev/shm"]);
    assert_eq!(p["mode"], 0o1777, "{p}");
}

#[test]
fn default_devices() {
    let mut b = Bundle::busybox(&[]);
    let p = run_probe(&mut b, &[]);
    let dev = &p["dev"];
    for (name, maj, min) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let d = &dev[format!("/dev/{name}")];
        assert_eq!(d["type"], "c", "/dev/{name}: {d}");
        assert_eq!(d["major"], maj, "/dev/{name}: {d}");
        assert_eq!(d["minor"], min, "/dev/{name}: {d}");
        assert_eq!(d["mode"], 0o666, "/dev/{name}: {d}");
        assert_eq!(d["uid"], 0, "/dev/{name}: {d}");
    }
    // usable: read from /dev/zero, write to /dev/null
    let p = run_probe(&mut b, &["write", "/dev/null", "x"]);
    assert_eq!(p["ok"], true, "{p}");
    let p = run_probe(&mut b, &["open", "/dev/urandom"]);
    assert_eq!(p["ok"], true, "{p}");
    // nothing of the host's /dev
    let p = run_probe(&mut b, &["stat", "/dev/vda"]);
    assert_eq!(p["ok"], false, "host device visible: {p}");
}

#[test]
fn pts_ptmx_shm_and_fd_links() {
    let mut b = Bundle::busybox(&[]);
    let p = run_probe(&mut b, &[]);
    let dev = &p["dev"];
    let ptmx = &dev["/dev/ptmx"];
    assert_eq!(ptmx["type"], "l", "{ptmx}");
    assert_eq!(ptmx["target"], "pts/ptmx", "{ptmx}");
    let pptmx = &dev["/dev/pts/ptmx"];
    assert_eq!(pptmx["type"], "c", "{pptmx}");
    assert_eq!(
        (pptmx["major"].as_u64(), pptmx["minor"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(dev["/dev/shm"]["type"], "d");
    for (l, t) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let e = &dev[format!("/dev/{l}")];
        assert_eq!(e["type"], "l", "/dev/{l}: {e}");
        assert_eq!(e["target"], t, "/dev/{l}: {e}");
    }
    // /dev/ptmx opens a new pty of the container's devpts instance
    let p = run_probe(&mut b, &["open", "/dev/ptmx", "rw"]);
    assert_eq!(p["ok"], true, "{p}");
}

#[test]
fn linux_devices_added() {
    let mut b = Bundle::busybox(&[]);
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
         "fileMode": 0o640, "uid": 0, "gid": 0},
        {"path": "/dev/rt-test-blk", "type": "b", "major": 7, "minor": 200,
         "fileMode": 0o600, "uid": 1000, "gid": 1000},
        {"path": "/dev/sub/dir/rt-null", "type": "c", "major": 1, "minor": 3}
    ]);
    b.save();
    let p = run_probe(&mut b, &[]);
    let dev = &p["dev"];
    let f = &dev["/dev/fuse"];
    assert_eq!(
        (f["type"].as_str(), f["major"].as_u64(), f["minor"].as_u64()),
        (Some("c"), Some(10), Some(229)),
        "{f}"
    );
    assert_eq!(f["mode"], 0o640, "{f}");
    let k = &dev["/dev/rt-test-blk"];
    assert_eq!(
        (k["type"].as_str(), k["major"].as_u64(), k["minor"].as_u64()),
        (Some("b"), Some(7), Some(200)),
        "{k}"
    );
    assert_eq!(
        (k["mode"].as_u64(), k["uid"].as_u64(), k["gid"].as_u64()),
        (Some(0o600), Some(1000), Some(1000)),
        "{k}"
    );
    let n = &dev["/dev/sub/dir/rt-null"];
    assert_eq!(
        (n["major"].as_u64(), n["minor"].as_u64()),
        (Some(1), Some(3)),
        "{n}"
    );
}

// ---------------------------------------------------------------------------------------
// masked / readonly paths
// ---------------------------------------------------------------------------------------

#[test]
fn masked_paths() {
    let mut b = Bundle::busybox(&[]);
    fs::create_dir_all(b.rootfs().join("secret-dir")).unwrap();
    fs::write(b.rootfs().join("secret-dir/key"), "k").unwrap();
    fs::write(b.rootfs().join("etc/secret"), "s3cret").unwrap();
    let masked = b.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/etc/secret"));
    masked.push(json!("/secret-dir"));
    masked.push(json!("/does/not/exist"));
    b.save();

    // a file reads empty (which /proc files exist depends on the kernel's config)
    for f in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        if Path::new(f).exists() {
            let p = run_probe(&mut b, &["read", f]);
            assert_eq!(
                (p["ok"].as_bool(), p["data"].as_str()),
                (Some(true), Some("")),
                "{f}: {p}"
            );
        }
    }
    let p = run_probe(&mut b, &["read", "/etc/secret"]);
    assert_eq!(
        (p["ok"].as_bool(), p["data"].as_str()),
        (Some(true), Some("")),
        "{p}"
    );
    // a dir is an empty read-only tmpfs
    let p = run_probe(&mut b, &["ls", "/secret-dir"]);
    assert_eq!(p["entries"], json!([]), "{p}");
    let p = run_probe(&mut b, &["ls", "/sys/firmware"]);
    assert_eq!(p["entries"], json!([]), "{p}");
    let p = run_probe(&mut b, &[]);
    for d in ["/proc/acpi", "/sys/firmware", "/secret-dir"] {
        let m = mount_at(&p, d);
        assert_eq!(m["fstype"], "tmpfs", "{d}: {}", mounts_summary(&p));
        assert!(has_opt(m, "ro"), "{d}: {}", mounts_summary(&p));
    }
    let p = run_probe(&mut b, &["write", "/secret-dir/x", "x"]);
    assert_eq!(p["ok"], false, "{p}");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("etc/secret")).unwrap(),
        "s3cret"
    );
}

#[test]
fn readonly_paths() {
    let mut b = Bundle::busybox(&[]);
    b.set_readonly(false);
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/etc"));
    b.save();
    for path in ["/proc/sysrq-trigger", "/proc/sys/kernel/hostname"] {
        if !Path::new(path).exists() {
            continue; // kernel-config dependent
        }
        let p = run_probe(&mut b, &["open", path, "w"]);
        assert_eq!(p["errno"], EROFS, "{path}: {p}");
    }
    let p = run_probe(&mut b, &["write", "/etc/new", "x"]);
    assert_eq!(p["errno"], EROFS, "{p}");
    let p = run_probe(&mut b, &["write", "/tmp/new", "x"]);
    assert_eq!(p["ok"], true, "{p}");
    let p = run_probe(&mut b, &[]);
    for d in ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/etc"] {
        assert!(
            has_opt(mount_at(&p, d), "ro"),
            "{d}: {}",
            mounts_summary(&p)
        );
    }
}

/// Docker sets net.ipv4 sysctls and lists /proc/sys in readonlyPaths: the sysctls are
/// written first (as runc does), and /proc/sys is read-only afterwards.
#[test]
fn sysctl_written_before_readonly_proc_sys() {
    let mut b = Bundle::busybox(&[]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "42"});
    assert!(
        b.config["linux"]["readonlyPaths"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("/proc/sys"))),
        "the default bundle should list /proc/sys in readonlyPaths"
    );
    b.save();
    let p = run_probe(
        &mut b,
        &["read", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
    );
    assert_eq!(p["data"].as_str().map(str::trim), Some("42"), "{p}");
    let p = run_probe(
        &mut b,
        &["open", "/proc/sys/net/ipv4/ip_unprivileged_port_start", "w"],
    );
    assert_eq!(p["errno"], EROFS, "{p}");
}

// ---------------------------------------------------------------------------------------
// rootfsPropagation, symlinks
// ---------------------------------------------------------------------------------------

#[test]
fn rootfs_propagation() {
    // The propagation of the container's "/" (runc >= 1.2 applies it after pivot_root;
    // runc 1.1 leaves "/" private). ("unbindable" fails in runc too: the rootfs can
    // then not be bind-mounted.) The host's "/" must be unaffected.
    let host_root = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(4) == Some("/"))
            .map(|l| {
                l.split(" - ")
                    .next()
                    .unwrap()
                    .split(' ')
                    .skip(6)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let before = host_root();
    let mut bad = Vec::new();
    for (prop, want) in [
        ("shared", Some("shared:")),
        ("private", None),
        ("rshared", Some("shared:")),
    ] {
        let mut b = Bundle::busybox(&[]);
        b.config["linux"]["rootfsPropagation"] = json!(prop);
        b.save();
        let p = run_probe(&mut b, &[]);
        let root = mount_at(&p, "/");
        let optional = opts(root, "optional");
        let ok = match want {
            Some(w) => optional.iter().any(|o| o.starts_with(w)),
            None => optional.is_empty(),
        };
        if !ok {
            bad.push(format!("{prop}: / has {optional:?}"));
        }
    }
    assert_eq!(host_root(), before, "the host's / propagation changed");
    assert!(bad.is_empty(), "rootfsPropagation not applied: {bad:?}");
}

#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    // Symlinks whose targets exist inside the rootfs; read naively on the host they
    // point outside it.
    let name = unique_id("rt-test-escape");
    let mut b = Bundle::busybox(&[]);
    fs::create_dir(b.rootfs().join(&name)).unwrap();
    fs::create_dir(b.rootfs().join(format!("{name}-abs"))).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../../../../../{name}"),
        b.rootfs().join("escape-rel"),
    )
    .unwrap();
    std::os::unix::fs::symlink(format!("/{name}-abs"), b.rootfs().join("escape-abs")).unwrap();
    b.add_mount(json!({"destination": "/escape-rel", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/escape-abs", "type": "tmpfs", "source": "tmpfs"}));
    b.save();
    let p = run_probe(&mut b, &[]);
    let s = mounts_summary(&p);
    assert!(
        !Path::new(&format!("/{name}")).exists(),
        "escaped to the host: {s}"
    );
    assert!(
        !Path::new(&format!("/{name}-abs")).exists(),
        "escaped to the host: {s}"
    );
    // The mounts exist, at the symlinks' targets resolved inside the rootfs.
    assert_eq!(mount_at(&p, &format!("/{name}"))["fstype"], "tmpfs", "{s}");
    assert_eq!(
        mount_at(&p, &format!("/{name}-abs"))["fstype"],
        "tmpfs",
        "{s}"
    );
}

#[test]
fn mount_destination_dangling_symlink_never_escapes() {
    // runc creates the missing target inside the rootfs and mounts there; refusing
    // with an error is also safe. Creating anything on the host is not.
    let name = unique_id("rt-test-escape");
    let host_target = PathBuf::from("/").join(&name);
    let mut b = Bundle::busybox(&[]);
    std::os::unix::fs::symlink(
        format!("../../../../../../../../{name}"),
        b.rootfs().join("escape-rel"),
    )
    .unwrap();
    std::os::unix::fs::symlink(format!("/{name}-abs"), b.rootfs().join("escape-abs")).unwrap();
    b.add_mount(json!({"destination": "/escape-rel", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/escape-abs", "type": "tmpfs", "source": "tmpfs"}));
    b.set_args(&["/bin/rt-probe"]);
    b.save();
    let rt = Rt::new();
    let id = unique_id("fs");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    let escaped = host_target.exists() || Path::new(&format!("/{name}-abs")).exists();
    let _ = fs::remove_dir(&host_target);
    let _ = fs::remove_dir(format!("/{name}-abs"));
    assert!(
        !escaped,
        "mount destination escaped to the host: {}",
        describe(&a, &out)
    );
    if out.status.success() {
        let p: Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = mounts_summary(&p);
        assert_eq!(mount_at(&p, &format!("/{name}"))["fstype"], "tmpfs", "{s}");
        assert!(b.rootfs().join(&name).is_dir(), "{s}");
    } else {
        assert!(!out.stderr.is_empty(), "{}", describe(&a, &out));
    }
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn mount_destinations_are_created() {
    let mut b = Bundle::busybox(&[]);
    b.add_mount(json!({"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs"}));
    b.save();
    let p = run_probe(&mut b, &[]);
    assert_eq!(mount_at(&p, "/a/b/c")["fstype"], "tmpfs");
}

#[test]
fn absolute_root_path() {
    let mut b = Bundle::busybox(&[]);
    let abs = b.rootfs().to_str().unwrap().to_string();
    b.config["root"]["path"] = json!(abs);
    let rootfs_ino = fs::metadata(b.rootfs()).unwrap().ino();
    b.save();
    let p = run_probe(&mut b, &["stat", "/"]);
    assert_eq!(p["ino"].as_u64(), Some(rootfs_ino), "{p}");
}

#[test]
fn mount_flags_noexec_nosuid_nodev_are_enforced() {
    let src = HostDir::new();
    fs::copy("/bin/busybox", src.0.join("busybox")).unwrap();
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/mnt/noexec/busybox", "true"]);
    b.add_mount(
        json!({"destination": "/mnt/noexec", "type": "bind", "source": src.path(),
                       "options": ["bind", "noexec", "nosuid", "nodev"]}),
    );
    b.add_mount(
        json!({"destination": "/mnt/exec", "type": "bind", "source": src.path(),
                       "options": ["bind"]}),
    );
    b.save();
    let id = unique_id("fs");
    let a = ["run", "--bundle", b.dir_str(), &id];
    let out = rt.run(&a);
    assert!(
        !out.status.success(),
        "exec from a noexec mount: {}",
        describe(&a, &out)
    );
    assert_no_leftovers(&rt, &id, &b);

    b.set_args(&["/mnt/exec/busybox", "true"]);
    b.save();
    let id = unique_id("fs");
    rt.ok(&["run", "--bundle", b.dir_str(), &id]);
    assert_no_leftovers(&rt, &id, &b);

    let p = run_probe(&mut b, &[]);
    let m = mount_at(&p, "/mnt/noexec");
    for o in ["noexec", "nosuid", "nodev"] {
        assert!(has_opt(m, o), "{o}: {}", mounts_summary(&p));
    }
}
