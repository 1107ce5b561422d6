//! rt-probe: a static helper run inside test containers (copied to /bin/rt-probe of the
//! test rootfs). It only reads and reports; it never panics on what it finds.
//!
//! `rt-probe` with no arguments prints ONE JSON object (one line) of what it sees:
//! ```text
//! pid, ppid                 numbers
//! uid gid euid egid         numbers (real/effective)
//! suid sgid                 numbers (saved)
//! groups                    [numbers] (getgroups)
//! args                      [strings]
//! status                    {"Name": "...", "CapEff": "00000000a80425fb", "NoNewPrivs": "1",
//!                            "Seccomp": "2", "Umask": "0022", ...}  /proc/self/status verbatim
//! caps                      {"effective"|"permitted"|"inheritable"|"bounding"|"ambient":
//!                            ["CAP_KILL", ...]}  decoded from status (sorted by number)
//! no_new_privs              bool (prctl)
//! seccomp                   number (status Seccomp: 0 off, 1 strict, 2 filter)
//! umask                     number (e.g. 18 for 0022)
//! hostname, domainname      strings (uname)
//! cwd                       string
//! env                       {"PATH": "...", ...}
//! rlimits                   {"RLIMIT_NOFILE": {"soft": n, "hard": n}, ...}
//!                           (RLIM_INFINITY = 18446744073709551615)
//! mountinfo                 [{"mount_id", "parent_id", "major", "minor", "root",
//!                             "mount_point", "options": ["rw","nosuid",...],
//!                             "optional": ["shared:1", ...], "fstype", "source",
//!                             "super_options": ["rw","size=65536k",...]}]
//! cgroup                    [{"hierarchy": n, "controllers": "cpu,cpuacct", "path": "/x"}]
//! fds                       {"0": "/dev/null", "1": "pipe:[123]", ...} (fd -> link target)
//! dev                       {"/dev/null": {"type": "c", "major": 1, "minor": 3,
//!                            "mode": 438, "uid": 0, "gid": 0}, "/dev/ptmx": {"type": "l",
//!                            "target": "pts/ptmx", ...}, ...}  (lstat of everything under
//!                            /dev, 3 levels; type one of c b d l f p s; mode = st_mode&07777)
//! namespaces                {"pid": inode, "net": .., "mnt", "ipc", "uts", "user",
//!                            "cgroup", "time", "pid_for_children", "time_for_children"}
//!                           (null where unavailable)
//! uid_map, gid_map, setgroups, timens_offsets   strings (raw /proc/self files)
//! oom_score_adj             number
//! personality               number (personality(0xffffffff))
//! ioprio                    {"class": "IOPRIO_CLASS_NONE"|"..._RT"|"..._BE"|"..._IDLE",
//!                            "priority": n, "raw": n}
//! scheduler                 {"policy": "SCHED_OTHER"|..., "priority": n, "nice": n,
//!                            "flags": n, "runtime": n, "deadline": n, "period": n}
//! apparmor                  string (/proc/self/attr/current) or null
//! ```
//! Any part that cannot be read is null (or {"error": "..."}).
//!
//! Actions print one JSON object `{"ok": bool, "errno": n, ...}` and exit 0 (errno is 0
//! on success), except `cat` and `exit`:
//! ```text
//! write PATH [DATA]     open(O_WRONLY|O_CREAT|O_TRUNC, 0644) + write DATA (default empty)
//! append PATH DATA      open(O_WRONLY|O_APPEND) + write
//! read PATH             + "data": contents (lossy UTF-8)
//! open PATH [r|w|rw]    open only (default r)
//! cat PATH              raw contents to stdout, exit 0; on error JSON + exit 1
//! stat PATH / lstat PATH  + "type","mode","uid","gid","major","minor","size","dev","ino"
//! ls PATH               + "entries": sorted names
//! mkdir PATH            mkdir 0755
//! mknod PATH c|b MAJ MIN  mknod 0666
//! syscall NAME [ARGS]   + "ret"; NAME is one of: unshare [mnt|uts|ipc|net|pid|user|cgroup]
//!                       (default mnt), mount (returns ENODEV when permitted: bogus fstype),
//!                       chroot (chroot("/")), ptrace (PTRACE_TRACEME), sethostname
//!                       [NAME] (default: current), setns (own net ns), kill (self, sig 0),
//!                       getpid, getuid, uname, socket, socket_raw, socket_unix,
//!                       personality, keyctl, settimeofday (NULL,NULL), reboot (CAD_OFF:
//!                       EINVAL in a pid ns when permitted), init_module (NULL: EFAULT or
//!                       ENOEXEC when permitted), swapoff (/rt-probe-none: ENOENT when
//!                       permitted), userfaultfd, mlock, setpriority [N] (default -1),
//!                       or a syscall NUMBER with up to 6 integer args
//! alloc MB              allocate and touch MB MiB; + "mb"
//! fork N                fork N children (they pause, then are killed); + "forked"
//! sleep SECS            sleep (fractions allowed), then {"ok":true}
//! kill PID SIG          kill(2)
//! exit N                exit with status N, printing nothing
//! exec PROG ARGS...     execv (prints JSON only on failure)
//! overwrite-exe PID READY GO   CVE-2019-5736 attempt: open /proc/PID/exe O_PATH (retried
//!                       for 10 s), create the file READY, wait (60 s) for the file GO,
//!                       then open /proc/self/fd/N O_WRONLY and write "rt-probe" at offset
//!                       0; + "opath", "open", "write": {"ok","errno"} each (ok is the
//!                       write's success)
//! ```
use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        print(&probe(&args));
        return;
    }
    let rest: Vec<&str> = args[2..].iter().map(|s| s.as_str()).collect();
    let out = match args[1].as_str() {
        "write" => act_write(&rest, false),
        "append" => act_write(&rest, true),
        "read" => act_read(&rest),
        "open" => act_open(&rest),
        "cat" => act_cat(&rest),
        "stat" => act_stat(&rest, true),
        "lstat" => act_stat(&rest, false),
        "ls" => act_ls(&rest),
        "mkdir" => act_mkdir(&rest),
        "mknod" => act_mknod(&rest),
        "syscall" => act_syscall(&rest),
        "alloc" => act_alloc(&rest),
        "fork" => act_fork(&rest),
        "sleep" => act_sleep(&rest),
        "kill" => act_kill(&rest),
        "exit" => {
            let code = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            let _ = std::io::stdout().flush();
            std::process::exit(code);
        }
        "exec" => act_exec(&rest),
        "overwrite-exe" => act_overwrite_exe(&rest),
        other => {
            json!({"ok": false, "errno": libc::EINVAL, "error": format!("unknown action {other:?}")})
        }
    };
    print(&out);
}

fn print(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn res(r: std::io::Result<()>) -> Value {
    match r {
        Ok(()) => json!({"ok": true, "errno": 0}),
        Err(e) => json!({"ok": false, "errno": io_errno(&e), "error": e.to_string()}),
    }
}

fn bad_usage(what: &str) -> Value {
    json!({"ok": false, "errno": libc::EINVAL, "error": format!("usage: {what}")})
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| CString::new("/").unwrap())
}

fn ret_json(r: i64) -> Value {
    if r < 0 {
        let e = errno();
        json!({"ok": false, "errno": e, "ret": r})
    } else {
        json!({"ok": true, "errno": 0, "ret": r})
    }
}

// ---------------------------------------------------------------------------------------
// actions
// ---------------------------------------------------------------------------------------

fn act_write(a: &[&str], append: bool) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("write PATH [DATA]");
    };
    let data = a.get(1).copied().unwrap_or("");
    let mut o = fs::OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.write(true).create(true).truncate(true).mode(0o644);
    }
    res(o.open(path).and_then(|mut f| f.write_all(data.as_bytes())))
}

fn act_read(a: &[&str]) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("read PATH");
    };
    match fs::read(path) {
        Ok(d) => json!({"ok": true, "errno": 0, "data": String::from_utf8_lossy(&d)}),
        Err(e) => json!({"ok": false, "errno": io_errno(&e), "error": e.to_string()}),
    }
}

fn act_open(a: &[&str]) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("open PATH [r|w|rw]");
    };
    let mut o = fs::OpenOptions::new();
    match a.get(1).copied().unwrap_or("r") {
        "w" => o.write(true),
        "rw" => o.read(true).write(true),
        _ => o.read(true),
    };
    res(o.open(path).map(|_| ()))
}

fn act_cat(a: &[&str]) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("cat PATH");
    };
    match fs::read(path) {
        Ok(d) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&d);
            let _ = out.flush();
            std::process::exit(0);
        }
        Err(e) => {
            print(&json!({"ok": false, "errno": io_errno(&e), "error": e.to_string()}));
            std::process::exit(1);
        }
    }
}

fn major(d: u64) -> u64 {
    ((d >> 8) & 0xfff) | ((d >> 32) & !0xfff)
}

fn minor(d: u64) -> u64 {
    (d & 0xff) | ((d >> 12) & !0xff)
}

fn file_type(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        "l"
    } else if t.is_dir() {
        "d"
    } else if t.is_char_device() {
        "c"
    } else if t.is_block_device() {
        "b"
    } else if t.is_fifo() {
        "p"
    } else if t.is_socket() {
        "s"
    } else {
        "f"
    }
}

fn meta_json(m: &fs::Metadata) -> Map<String, Value> {
    let mut o = Map::new();
    let t = file_type(m);
    o.insert("type".into(), json!(t));
    o.insert("mode".into(), json!(m.mode() & 0o7777));
    o.insert("uid".into(), json!(m.uid()));
    o.insert("gid".into(), json!(m.gid()));
    if t == "c" || t == "b" {
        o.insert("major".into(), json!(major(m.rdev())));
        o.insert("minor".into(), json!(minor(m.rdev())));
    }
    o
}

fn act_stat(a: &[&str], follow: bool) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("stat PATH");
    };
    let r = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    match r {
        Ok(m) => {
            let mut o = meta_json(&m);
            o.insert("ok".into(), json!(true));
            o.insert("errno".into(), json!(0));
            o.insert("size".into(), json!(m.size()));
            o.insert("dev".into(), json!(m.dev()));
            o.insert("ino".into(), json!(m.ino()));
            if m.file_type().is_symlink() {
                if let Ok(t) = fs::read_link(path) {
                    o.insert("target".into(), json!(t.to_string_lossy()));
                }
            }
            Value::Object(o)
        }
        Err(e) => json!({"ok": false, "errno": io_errno(&e), "error": e.to_string()}),
    }
}

fn act_ls(a: &[&str]) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("ls PATH");
    };
    match fs::read_dir(path) {
        Ok(rd) => {
            let mut v: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            json!({"ok": true, "errno": 0, "entries": v})
        }
        Err(e) => json!({"ok": false, "errno": io_errno(&e), "error": e.to_string()}),
    }
}

fn act_mkdir(a: &[&str]) -> Value {
    let Some(path) = a.first() else {
        return bad_usage("mkdir PATH");
    };
    res(fs::create_dir(path))
}

fn act_mknod(a: &[&str]) -> Value {
    if a.len() < 4 {
        return bad_usage("mknod PATH c|b MAJ MIN");
    }
    let kind = match a[1] {
        "c" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        _ => return bad_usage("mknod PATH c|b MAJ MIN"),
    };
    let (Ok(maj), Ok(min)) = (a[2].parse::<u32>(), a[3].parse::<u32>()) else {
        return bad_usage("mknod PATH c|b MAJ MIN");
    };
    let p = cstr(a[0]);
    let dev = libc::makedev(maj, min);
    // SAFETY: valid C string.
    let r = unsafe { libc::mknod(p.as_ptr(), kind | 0o666, dev) };
    ret_json(r as i64)
}

fn act_alloc(a: &[&str]) -> Value {
    let mb: usize = a.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mb {
        let mut v = vec![0u8; 1 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        chunks.push(v);
    }
    let total: usize = chunks.iter().map(|c| c.len()).sum::<usize>() >> 20;
    json!({"ok": true, "errno": 0, "mb": total})
}

fn act_fork(a: &[&str]) -> Value {
    let n: usize = a.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut kids = Vec::new();
    let mut err = 0;
    for _ in 0..n {
        // SAFETY: the child only calls async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                // SAFETY: pause is async-signal-safe.
                unsafe { libc::pause() };
            }
        }
        if pid < 0 {
            err = errno();
            break;
        }
        kids.push(pid);
    }
    for &k in &kids {
        // SAFETY: our own children.
        unsafe {
            libc::kill(k, libc::SIGKILL);
            libc::waitpid(k, std::ptr::null_mut(), 0);
        }
    }
    json!({"ok": kids.len() == n, "errno": err, "forked": kids.len()})
}

fn act_sleep(a: &[&str]) -> Value {
    let s: f64 = a.first().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    if s > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(s));
    }
    json!({"ok": true, "errno": 0})
}

fn act_kill(a: &[&str]) -> Value {
    let (Some(pid), Some(sig)) = (
        a.first().and_then(|s| s.parse::<i32>().ok()),
        a.get(1).and_then(|s| s.parse::<i32>().ok()),
    ) else {
        return bad_usage("kill PID SIG");
    };
    // SAFETY: plain syscall.
    let r = unsafe { libc::kill(pid, sig) };
    ret_json(r as i64)
}

fn act_exec(a: &[&str]) -> Value {
    if a.is_empty() {
        return bad_usage("exec PROG ARGS...");
    }
    let cargs: Vec<CString> = a.iter().map(|s| cstr(s)).collect();
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: null-terminated array of valid C strings.
    unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
    json!({"ok": false, "errno": errno()})
}

fn ns_flag(s: &str) -> libc::c_int {
    match s {
        "uts" => libc::CLONE_NEWUTS,
        "ipc" => libc::CLONE_NEWIPC,
        "net" | "network" => libc::CLONE_NEWNET,
        "pid" => libc::CLONE_NEWPID,
        "user" => libc::CLONE_NEWUSER,
        "cgroup" => libc::CLONE_NEWCGROUP,
        _ => libc::CLONE_NEWNS,
    }
}

fn act_syscall(a: &[&str]) -> Value {
    let Some(name) = a.first() else {
        return bad_usage("syscall NAME [ARGS]");
    };
    let arg1 = a.get(1).copied();
    // SAFETY (whole block): each call gets valid pointers or NULL where the kernel
    // accepts NULL; none of them changes anything outside this process in a way the
    // caller did not ask for (see the header).
    let r: i64 = unsafe {
        match *name {
            "unshare" => libc::unshare(ns_flag(arg1.unwrap_or("mnt"))) as i64,
            "mount" => {
                let src = cstr("rt-probe");
                let dst = cstr("/");
                let fst = cstr("rt-probe-nofs");
                libc::mount(
                    src.as_ptr(),
                    dst.as_ptr(),
                    fst.as_ptr(),
                    0,
                    std::ptr::null(),
                ) as i64
            }
            "chroot" => {
                let p = cstr("/");
                libc::chroot(p.as_ptr()) as i64
            }
            "ptrace" => libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0),
            "sethostname" => {
                let cur = uname_field(|u| &u.nodename);
                let h = arg1.map(|s| s.to_string()).unwrap_or(cur);
                libc::sethostname(h.as_ptr() as *const libc::c_char, h.len()) as i64
            }
            "setns" => match fs::File::open("/proc/self/ns/net") {
                Ok(f) => {
                    use std::os::unix::io::AsRawFd;
                    libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) as i64
                }
                Err(e) => return json!({"ok": false, "errno": io_errno(&e), "ret": -1}),
            },
            "kill" => libc::kill(libc::getpid(), 0) as i64,
            "getpid" => libc::getpid() as i64,
            "getuid" => libc::getuid() as i64,
            "uname" => {
                let mut u: libc::utsname = std::mem::zeroed();
                libc::uname(&mut u) as i64
            }
            "socket" | "socket_raw" | "socket_unix" => {
                let (d, t) = match *name {
                    "socket_raw" => (libc::AF_INET, libc::SOCK_RAW),
                    "socket_unix" => (libc::AF_UNIX, libc::SOCK_STREAM),
                    _ => (libc::AF_INET, libc::SOCK_STREAM),
                };
                let proto = if t == libc::SOCK_RAW {
                    libc::IPPROTO_ICMP
                } else {
                    0
                };
                let fd = libc::socket(d, t, proto);
                let e = errno();
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    *libc::__errno_location() = e;
                    -1
                }
            }
            "personality" => libc::personality(0xffffffff) as i64,
            "keyctl" => libc::syscall(libc::SYS_keyctl, 0i64, -3i64, 0i64), // GET_KEYRING_ID, SESSION
            "settimeofday" => libc::syscall(libc::SYS_settimeofday, 0usize, 0usize),
            "reboot" => libc::syscall(
                libc::SYS_reboot,
                0xfee1deadu32 as i64,
                672274793i64,
                0i64, // LINUX_REBOOT_CMD_CAD_OFF
                0usize,
            ),
            "init_module" => libc::syscall(libc::SYS_init_module, 0usize, 0usize, c"".as_ptr()),
            "swapoff" => {
                let p = cstr("/rt-probe-none");
                libc::swapoff(p.as_ptr()) as i64
            }
            "userfaultfd" => {
                let fd = libc::syscall(libc::SYS_userfaultfd, 0i64);
                if fd >= 0 {
                    libc::close(fd as i32);
                    0
                } else {
                    -1
                }
            }
            "mlock" => {
                let buf = [0u8; 4096];
                let r = libc::mlock(buf.as_ptr() as *const libc::c_void, buf.len());
                if r == 0 {
                    libc::munlock(buf.as_ptr() as *const libc::c_void, buf.len());
                }
                r as i64
            }
            "setpriority" => {
                let n: i32 = arg1.and_then(|s| s.parse().ok()).unwrap_or(-1);
                libc::setpriority(libc::PRIO_PROCESS, 0, n) as i64
            }
            other => match other.parse::<i64>() {
                Ok(nr) => {
                    let mut v = [0i64; 6];
                    for (i, s) in a[1..].iter().take(6).enumerate() {
                        v[i] = s.parse().unwrap_or(0);
                    }
                    libc::syscall(nr, v[0], v[1], v[2], v[3], v[4], v[5])
                }
                Err(_) => {
                    return json!({"ok": false, "errno": libc::ENOSYS,
                                  "error": format!("unknown syscall name {other:?}")})
                }
            },
        }
    };
    let mut v = ret_json(r);
    v["syscall"] = json!(name);
    v
}

// ---------------------------------------------------------------------------------------
// the probe
// ---------------------------------------------------------------------------------------

fn uname_field(f: impl Fn(&libc::utsname) -> &[libc::c_char; 65]) -> String {
    // SAFETY: uname fills the struct.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let field = f(&u);
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn read_str(p: &str) -> Value {
    match fs::read_to_string(p) {
        Ok(s) => json!(s),
        Err(_) => Value::Null,
    }
}

fn status_map() -> Map<String, Value> {
    let mut m = Map::new();
    if let Ok(s) = fs::read_to_string("/proc/self/status") {
        for l in s.lines() {
            if let Some((k, v)) = l.split_once(':') {
                m.insert(k.trim().to_string(), json!(v.trim()));
            }
        }
    }
    m
}

const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn decode_caps(hex: Option<&Value>) -> Value {
    let Some(bits) = hex
        .and_then(|v| v.as_str())
        .and_then(|s| u64::from_str_radix(s, 16).ok())
    else {
        return Value::Null;
    };
    let v: Vec<String> = (0..64)
        .filter(|i| bits & (1u64 << i) != 0)
        .map(|i| {
            CAPS.get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("CAP_{i}"))
        })
        .collect();
    json!(v)
}

const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

fn rlimits() -> Value {
    let mut m = Map::new();
    for (i, name) in RLIMITS.iter().enumerate() {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid out pointer.
        if unsafe { libc::getrlimit(i as _, &mut rl) } == 0 {
            m.insert(
                name.to_string(),
                json!({"soft": rl.rlim_cur, "hard": rl.rlim_max}),
            );
        }
    }
    Value::Object(m)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_opts(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.to_string())
        .collect()
}

fn mountinfo() -> Value {
    let Ok(s) = fs::read_to_string("/proc/self/mountinfo") else {
        return Value::Null;
    };
    let mut v = Vec::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.len() < 6 || sep < 6 || f.len() < sep + 3 {
            continue;
        }
        let (maj, min) = f[2].split_once(':').unwrap_or(("0", "0"));
        v.push(json!({
            "mount_id": f[0].parse::<u64>().unwrap_or(0),
            "parent_id": f[1].parse::<u64>().unwrap_or(0),
            "major": maj.parse::<u64>().unwrap_or(0),
            "minor": min.parse::<u64>().unwrap_or(0),
            "root": unescape(f[3]),
            "mount_point": unescape(f[4]),
            "options": split_opts(f[5]),
            "optional": f[6..sep].iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "fstype": f[sep + 1],
            "source": unescape(f[sep + 2]),
            "super_options": f.get(sep + 3).map(|s| split_opts(s)).unwrap_or_default(),
        }));
    }
    json!(v)
}

fn cgroups() -> Value {
    let Ok(s) = fs::read_to_string("/proc/self/cgroup") else {
        return Value::Null;
    };
    let v: Vec<Value> = s
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let h = it.next()?.parse::<u64>().ok()?;
            let c = it.next()?;
            let p = it.next()?;
            Some(json!({"hierarchy": h, "controllers": c, "path": p}))
        })
        .collect();
    json!(v)
}

fn fds() -> Value {
    // List first, then read the links: the directory's own fd is closed by then and
    // its readlink fails, so it drops out.
    let names: Vec<String> = match fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return Value::Null,
    };
    let mut nums: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
    nums.sort();
    let mut m = Map::new();
    for n in nums {
        if let Ok(t) = fs::read_link(format!("/proc/self/fd/{n}")) {
            m.insert(n.to_string(), json!(t.to_string_lossy()));
        }
    }
    Value::Object(m)
}

fn walk_dev(dir: &Path, depth: u32, out: &mut Map<String, Value>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        let mut o = meta_json(&m);
        if m.file_type().is_symlink() {
            if let Ok(t) = fs::read_link(&p) {
                o.insert("target".into(), json!(t.to_string_lossy()));
            }
        }
        out.insert(p.to_string_lossy().into_owned(), Value::Object(o));
        if m.is_dir() && depth > 1 {
            walk_dev(&p, depth - 1, out);
        }
    }
}

fn namespaces() -> Value {
    let mut m = Map::new();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        let v = fs::metadata(format!("/proc/self/ns/{ns}"))
            .map(|m| json!(m.ino()))
            .unwrap_or(Value::Null);
        m.insert(ns.to_string(), v);
    }
    Value::Object(m)
}

fn ioprio() -> Value {
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, self).
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, 1i64, 0i64) };
    if r < 0 {
        return json!({"error": std::io::Error::last_os_error().to_string()});
    }
    let class = match r >> 13 {
        0 => "IOPRIO_CLASS_NONE",
        1 => "IOPRIO_CLASS_RT",
        2 => "IOPRIO_CLASS_BE",
        3 => "IOPRIO_CLASS_IDLE",
        _ => "unknown",
    };
    json!({"class": class, "priority": r & 0x1fff, "raw": r})
}

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn scheduler() -> Value {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: sched_getattr(0, &attr, size, 0) with a buffer of that size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0i64,
            &mut a as *mut SchedAttr,
            size,
            0u32,
        )
    };
    if r < 0 {
        return json!({"error": std::io::Error::last_os_error().to_string()});
    }
    let policy = match a.policy {
        0 => "SCHED_OTHER".to_string(),
        1 => "SCHED_FIFO".to_string(),
        2 => "SCHED_RR".to_string(),
        3 => "SCHED_BATCH".to_string(),
        5 => "SCHED_IDLE".to_string(),
        6 => "SCHED_DEADLINE".to_string(),
        n => n.to_string(),
    };
    json!({
        "policy": policy, "priority": a.priority, "nice": a.nice, "flags": a.flags,
        "runtime": a.runtime, "deadline": a.deadline, "period": a.period,
    })
}

fn probe(args: &[String]) -> Value {
    // fds first, before anything else is opened.
    let fds = fds();
    let status = status_map();
    let mut o = Map::new();
    // SAFETY: these calls only read process attributes.
    unsafe {
        o.insert("pid".into(), json!(libc::getpid()));
        o.insert("ppid".into(), json!(libc::getppid()));
        let (mut r, mut e, mut s) = (0, 0, 0);
        libc::getresuid(&mut r, &mut e, &mut s);
        o.insert("uid".into(), json!(r));
        o.insert("euid".into(), json!(e));
        o.insert("suid".into(), json!(s));
        libc::getresgid(&mut r, &mut e, &mut s);
        o.insert("gid".into(), json!(r));
        o.insert("egid".into(), json!(e));
        o.insert("sgid".into(), json!(s));
        let n = libc::getgroups(0, std::ptr::null_mut());
        let mut g = vec![0 as libc::gid_t; n.max(0) as usize];
        let n = libc::getgroups(n, g.as_mut_ptr());
        g.truncate(n.max(0) as usize);
        o.insert("groups".into(), json!(g));
        let nnp = libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        o.insert("no_new_privs".into(), json!(nnp == 1));
        o.insert("personality".into(), json!(libc::personality(0xffffffff)));
    }
    o.insert("args".into(), json!(args));
    let mut caps = Map::new();
    for (k, f) in [
        ("effective", "CapEff"),
        ("permitted", "CapPrm"),
        ("inheritable", "CapInh"),
        ("bounding", "CapBnd"),
        ("ambient", "CapAmb"),
    ] {
        caps.insert(k.into(), decode_caps(status.get(f)));
    }
    o.insert("caps".into(), Value::Object(caps));
    let num = |k: &str, radix: u32| {
        status
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| u64::from_str_radix(s, radix).ok())
            .map(|n| json!(n))
            .unwrap_or(Value::Null)
    };
    o.insert("seccomp".into(), num("Seccomp", 10));
    o.insert("umask".into(), num("Umask", 8));
    o.insert("status".into(), Value::Object(status.clone()));
    o.insert("hostname".into(), json!(uname_field(|u| &u.nodename)));
    o.insert("domainname".into(), json!(uname_field(|u| &u.domainname)));
    o.insert(
        "cwd".into(),
        std::env::current_dir()
            .map(|p| json!(p.to_string_lossy()))
            .unwrap_or(Value::Null),
    );
    let env: Map<String, Value> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), json!(v.to_string_lossy())))
        .collect();
    o.insert("env".into(), Value::Object(env));
    o.insert("rlimits".into(), rlimits());
    o.insert("mountinfo".into(), mountinfo());
    o.insert("cgroup".into(), cgroups());
    o.insert("fds".into(), fds);
    let mut dev = Map::new();
    walk_dev(Path::new("/dev"), 3, &mut dev);
    o.insert("dev".into(), Value::Object(dev));
    o.insert("namespaces".into(), namespaces());
    o.insert("uid_map".into(), read_str("/proc/self/uid_map"));
    o.insert("gid_map".into(), read_str("/proc/self/gid_map"));
    o.insert("setgroups".into(), read_str("/proc/self/setgroups"));
    o.insert(
        "timens_offsets".into(),
        read_str("/proc/self/timens_offsets"),
    );
    o.insert(
        "oom_score_adj".into(),
        fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|n| json!(n))
            .unwrap_or(Value::Null),
    );
    o.insert("ioprio".into(), ioprio());
    o.insert("scheduler".into(), scheduler());
    o.insert(
        "apparmor".into(),
        fs::read_to_string("/proc/self/attr/current")
            .map(|s| json!(s.trim_end_matches(['\n', '\0'])))
            .unwrap_or(Value::Null),
    );
    Value::Object(o)
}

fn act_overwrite_exe(a: &[&str]) -> Value {
    let (Some(pid), Some(ready), Some(go)) = (a.first(), a.get(1), a.get(2)) else {
        return bad_usage("overwrite-exe PID READY GO");
    };
    let exe = cstr(&format!("/proc/{pid}/exe"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let fd = loop {
        // SAFETY: valid C string.
        let fd = unsafe { libc::open(exe.as_ptr(), libc::O_PATH) };
        if fd >= 0 || std::time::Instant::now() > deadline {
            break fd;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let opath = ret_json(fd as i64);
    if fd < 0 {
        return json!({"ok": false, "errno": opath["errno"], "opath": opath});
    }
    if let Err(e) = fs::write(ready, "") {
        return json!({"ok": false, "errno": io_errno(&e), "opath": opath, "error": "READY"});
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::path::Path::new(go).exists() {
        if std::time::Instant::now() > deadline {
            return json!({"ok": false, "errno": libc::ETIMEDOUT, "opath": opath, "error": "GO"});
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let reopen = cstr(&format!("/proc/self/fd/{fd}"));
    // SAFETY: valid C string.
    let w = unsafe { libc::open(reopen.as_ptr(), libc::O_WRONLY) };
    let open = ret_json(w as i64);
    if w < 0 {
        return json!({"ok": false, "errno": open["errno"], "opath": opath, "open": open});
    }
    let data = b"rt-probe";
    // SAFETY: valid buffer and fd.
    let n = unsafe { libc::pwrite(w, data.as_ptr().cast(), data.len(), 0) };
    let write = ret_json(n as i64);
    json!({"ok": write["ok"], "errno": write["errno"], "opath": opath, "open": open, "write": write})
}
