//! linux.seccomp in real containers: errnoRet, argument conditions, default action with an
//! allow list, unknown syscall names, the ENOSYS stub, kill actions, and bad profiles
//! refused at `create` with the JSON path and nothing left behind.
use integration::*;
use serde_json::{json, Value};

const EPERM: i64 = 1;
const ENOSYS: i64 = 38;
const CLONE_NEWUSER: u64 = 0x1000_0000;

fn errno(v: &Value) -> i64 {
    assert!(v["errno"].is_i64(), "no errno in {v}");
    v["errno"].as_i64().unwrap_or(-1)
}

fn with_seccomp(args: &[&str], seccomp: Value) -> Bundle {
    let mut b = Bundle::busybox(args);
    b.config["linux"]["seccomp"] = seccomp;
    b.save();
    b
}

/// `rt run` of a shell command; returns (exit code, stdout + stderr).
fn run_sh(rt: &Rt, b: &mut Bundle, script: &str) -> (i32, String) {
    b.set_args(&["/bin/sh", "-c", script]);
    b.save();
    let id = unique_id("sc");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = rt.run(&["delete", "-f", &id]);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn errno_ret_default_and_chosen() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }),
    );
    // unshare(CLONE_NEWUSER) needs no capability: EPERM can only come from the filter.
    assert_eq!(
        errno(&probe(&rt, &mut b, &["syscall", "unshare", "user"])),
        EPERM
    );
    assert_eq!(errno(&probe(&rt, &mut b, &["mkdir", "/tmp/x"])), ENOSYS);
    // The filter is in place and no_new_privs comes from the config, not libseccomp.
    let st = probe(&rt, &mut b, &[]);
    assert_eq!(st["status"]["Seccomp"], "2", "{}", st["status"]);
    assert_eq!(st["status"]["NoNewPrivs"], "1");
    b.config["process"]["noNewPrivileges"] = json!(false);
    let st = probe(&rt, &mut b, &[]);
    assert_eq!(st["status"]["Seccomp"], "2", "{}", st["status"]);
    assert_eq!(st["status"]["NoNewPrivs"], "0");
    assert_eq!(errno(&probe(&rt, &mut b, &["mkdir", "/tmp/x"])), ENOSYS);
}

#[test]
fn mkdir_from_a_shell_fails_with_errno_ret() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    let (code, out) = run_sh(&rt, &mut b, "mkdir /tmp/d; echo rc=$?");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Operation not permitted") && out.contains("rc=1"),
        "{out}"
    );
}

#[test]
fn args_conditions() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                // unshare(flags) with CLONE_NEWUSER set: errno 95
                {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95,
                 "args": [{"index": 0, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                // personality(0xffffffff) (a query): errno 38
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
                // two conditions on one argument: either one matches (runc)
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39,
                 "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
            ]
        }),
    );
    assert_eq!(
        errno(&probe(&rt, &mut b, &["syscall", "unshare", "user"])),
        95
    );
    // CLONE_NEWUTS: not matched by the condition, so the kernel answers (EPERM without
    // CAP_SYS_ADMIN in the default capabilities), not errno 95.
    let uts = probe(&rt, &mut b, &["syscall", "unshare", "uts"]);
    assert_eq!(errno(&uts), EPERM, "{uts}");
    assert_eq!(errno(&probe(&rt, &mut b, &["syscall", "personality"])), 38);
    assert_eq!(errno(&probe(&rt, &mut b, &["syscall", "kill"])), 39);
    // A shell: `kill -0` (signal 0) is refused, `kill -CONT` is not.
    let (code, out) = run_sh(
        &rt,
        &mut b,
        "kill -0 $$; echo a=$?; kill -CONT $$; echo b=$?",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a=1") && out.contains("b=0"), "{out}");
}

/// Every x86_64 syscall but mkdir and mkdirat.
const ALLOW: &str = "
    read write open close stat fstat lstat poll lseek mmap mprotect munmap brk
    rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access
    pipe select sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2
    pause nanosleep getitimer alarm setitimer getpid sendfile socket connect accept
    sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername
    socketpair setsockopt getsockopt clone fork vfork execve exit wait4 kill uname
    semget semop semctl shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync fdatasync
    truncate ftruncate getdents getcwd chdir fchdir rename rmdir creat link unlink
    symlink readlink chmod fchmod chown fchown lchown umask gettimeofday getrlimit
    getrusage sysinfo times ptrace getuid syslog getgid setuid setgid geteuid getegid
    setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid
    getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset
    rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod
    uselib personality ustat statfs fstatfs sysfs getpriority setpriority
    sched_setparam sched_getparam sched_setscheduler sched_getscheduler
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock
    mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex
    setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot
    sethostname setdomainname iopl ioperm create_module init_module delete_module
    get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg afs_syscall
    tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr
    fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr
    tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup
    io_destroy io_getevents io_submit io_cancel get_thread_area lookup_dcookie
    epoll_create epoll_ctl_old epoll_wait_old remap_file_pages getdents64
    set_tid_address restart_syscall semtimedop fadvise64 timer_create timer_settime
    timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime
    clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver
    mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive
    mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set
    ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat
    mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat
    fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice
    tee sync_file_range vmsplice move_pages utimensat epoll_pwait signalfd
    timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4 signalfd4
    eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo
    perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at
    open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv
    process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp
    getrandom memfd_create kexec_file_load bpf execveat userfaultfd membarrier mlock2
    copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx
    io_pgetevents rseq pidfd_send_signal io_uring_setup io_uring_enter
    io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open
    clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2
    mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule
    landlock_restrict_self memfd_secret process_mrelease futex_waitv
    set_mempolicy_home_node";

#[test]
fn default_errno_with_an_allow_list() {
    let rt = Rt::new();
    let names: Vec<&str> = ALLOW.split_whitespace().collect();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                // names libseccomp does not know are skipped, not an error
                {"names": ["rt_test_no_such_syscall"], "action": "SCMP_ACT_ALLOW"}
            ]
        }),
    );
    let r = probe(&rt, &mut b, &["mkdir", "/tmp/x"]);
    assert_eq!(errno(&r), EPERM, "{r}");
    let r = probe(&rt, &mut b, &["syscall", "getpid"]);
    assert_eq!(r["ok"], true, "{r}");
    let (code, out) = run_sh(
        &rt,
        &mut b,
        "mkdir /tmp/d; echo rc=$?; echo hello > /dev/shm/f; cat /dev/shm/f",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rc=1") && out.contains("hello"), "{out}");
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["rt_test_no_such_syscall", "mkdir", "mkdirat"],
                          "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }),
    );
    assert_eq!(errno(&probe(&rt, &mut b, &["mkdir", "/tmp/x"])), ENOSYS);
}

#[test]
fn kill_process_action_kills_with_sigsys() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }),
    );
    b.set_args(&["/bin/rt-probe", "mkdir", "/tmp/x"]);
    b.save();
    let id = unique_id("sc");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    // 128 + SIGSYS (31), as runc reports a signalled init.
    assert_eq!(out.status.code(), Some(159), "{}", describe(&["run"], &out));
    let _ = rt.run(&["delete", "-f", &id]);
}

/// `rt create` refuses the profile: exit 1, the JSON path in the message, no leftovers.
fn refused(seccomp: Value, path: &str) {
    let rt = Rt::new();
    let b = with_seccomp(&["/bin/true"], seccomp);
    let id = unique_id("sc");
    let err = rt.fail(&["create", "--bundle", b.dir_str(), &id]);
    assert!(err.contains(path), "want {path:?} in: {err}");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn bad_action_name_is_refused_at_create() {
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                            {"names": ["getcwd"], "action": "SCMP_ACT_BOGUS"}]}),
        "linux.seccomp.syscalls[1].action",
    );
}

#[test]
fn bad_default_action_op_arch_flag_are_refused_at_create() {
    refused(
        json!({"defaultAction": "SCMP_ACT_NOPE"}),
        "linux.seccomp.defaultAction",
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
               "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_SIMILAR"}]}]}),
        "linux.seccomp.syscalls[0].args[0].op",
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}),
        "linux.seccomp.architectures[0]",
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
        "linux.seccomp.flags[0]",
    );
}

#[test]
fn bad_values_are_refused_at_create() {
    // These parse; compile (in init, before "created") refuses them.
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
        "linux.seccomp.syscalls[1].args[0].index",
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100000}]}),
        "linux.seccomp.syscalls[0].errnoRet",
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/x.sock"}),
        "linux.seccomp.defaultAction",
    );
}

#[test]
fn flags_are_accepted() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                      "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }),
    );
    assert_eq!(errno(&probe(&rt, &mut b, &["mkdir", "/tmp/x"])), ENOSYS);
}

#[test]
fn exec_gets_the_filter_too() {
    let rt = Rt::new();
    let b = with_seccomp(
        &["/bin/sleep", "30"],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }),
    );
    let r = exec_probe_into(&rt, &b, &["mkdir", "/tmp/x"]);
    assert_eq!(errno(&r), ENOSYS, "{r}");
}

/// `rt exec` of rt-probe into a detached container of bundle `b` (which must keep running),
/// then `delete -f`.
fn exec_probe_into(rt: &Rt, b: &Bundle, probe_args: &[&str]) -> Value {
    let id = unique_id("sc");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    let r = exec_probe(rt, &id, probe_args);
    rt.ok(&["delete", "-f", &id]);
    r
}

#[test]
fn non_root_user_with_and_without_no_new_privs() {
    // Without no_new_privs the filter is loaded while still privileged, before the uid
    // switch; with it, as the last step. Either way a uid-1000 process is filtered.
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }),
    );
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    for nnp in [true, false] {
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        let r = probe(&rt, &mut b, &["mkdir", "/dev/shm/x"]);
        assert_eq!(errno(&r), ENOSYS, "nnp {nnp}: {r}");
        let st = probe(&rt, &mut b, &[]);
        assert_eq!(st["uid"], 1000);
        assert_eq!(st["status"]["Seccomp"], "2");
        assert_eq!(st["status"]["NoNewPrivs"], if nnp { "1" } else { "0" });
    }
}

/// Once the filter is loaded, rt's init and exec child talk to rt with write and read
/// only, as runc's do: a profile that refuses the socket message calls still runs the
/// container (with and without noNewPrivileges) and exec, and both are filtered.
#[test]
fn a_filter_refusing_sendmsg_and_recvmsg_still_runs() {
    let rt = Rt::new();
    let mut b = with_seccomp(
        &[],
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["sendmsg", "recvmsg", "sendto", "recvfrom", "sendmmsg", "recvmmsg"],
                 "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }),
    );
    for nnp in [true, false] {
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        let r = probe(&rt, &mut b, &["mkdir", "/tmp/x"]);
        assert_eq!(errno(&r), ENOSYS, "nnp {nnp}: {r}");
    }
    b.set_args(&["/bin/sleep", "30"]);
    b.save();
    let r = exec_probe_into(&rt, &b, &["mkdir", "/tmp/x"]);
    assert_eq!(errno(&r), ENOSYS, "exec: {r}");
}
