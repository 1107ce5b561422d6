#!/usr/bin/env python3
"""Reproducer: `start` racing a parent that reaps the container's init at once (conmon does).

    python3 hack/lib/start-race-repro.py RUNTIME BUNDLE [N] [PARALLEL]

BUNDLE: a config with process.args ["/bin/true"] and no cgroupsPath (ids are unique).
Per container: `create --pid-file`, a thread blocks in waitpid(init) as conmon does (we are
its subreaper), then `start`. rt's container/start.rs opens the exec fifo (which releases
the init: it execs /bin/true, exits, and is reaped) before pidfd_open(init), so `start`
can fail with "the container's init is gone: No such process". runc: 0 failures.
"""
import ctypes, os, subprocess, sys, tempfile, threading
from concurrent.futures import ThreadPoolExecutor

def one_worker(rt, bundle, n, k):
    root = tempfile.mkdtemp(prefix="rt-race-")
    fails, last = 0, ""
    for i in range(n):
        cid = f"race-{os.getpid()}-{k}-{i}"
        pidfile = os.path.join(root, "pid")
        subprocess.run([rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        pid = int(open(pidfile).read())
        t = threading.Thread(target=os.waitpid, args=(pid, 0))
        t.start()
        r = subprocess.run([rt, "--root", root, "start", cid], capture_output=True, text=True)
        if r.returncode != 0:
            fails, last = fails + 1, r.stderr.strip()
        t.join()
        subprocess.run([rt, "--root", root, "delete", "--force", cid], capture_output=True)
    os.rmdir(root) if not os.listdir(root) else None
    return fails, last

def main():
    rt, bundle = sys.argv[1], os.path.abspath(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    par = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    # Separate processes would be closer to conmon; threads suffice to load 2 cores.
    with ThreadPoolExecutor(par) as ex:
        res = list(ex.map(lambda k: one_worker(rt, bundle, n, k), range(par)))
    fails = sum(f for f, _ in res)
    last = next((l for _, l in res if l), "")
    print(f"{rt}: {fails}/{n * par} start failures {last}")
    sys.exit(1 if fails else 0)

main()
