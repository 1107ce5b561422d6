"""The per-phase report of hack/shim-phases.sh.

    shim_phases.py CONTAINERD_LOG MARKS TRACE WARMUPS RUNTIME...

CONTAINERD_LOG: containerd at debug level (with the shim's own lines, copied from its log
fifo); MARKS: "RUNTIME I begin|end EPOCH_US" per `ctr run --rm`; TRACE: an ftrace instance's
text (sched_process_exec/exit/fork, signal_generate of SIGCHLD) with "EPOCH <us>" markers.
Prints, per phase, the median and (mean) in ms of the runs after WARMUPS, per RUNTIME.
"""
import datetime
import re
import statistics
import sys

log_path, marks_path, trace_path, warmups = sys.argv[1:5]
runtimes = sys.argv[5:]
warmups = int(warmups)

windows = {}
for line in open(marks_path):
    r, i, what, t = line.split()
    windows.setdefault((r, int(i)), {})[what] = int(t)

events = []  # (epoch us, kind, text); kind L = containerd log, T = trace
for line in open(log_path):
    m = re.match(r'time="([^"]+)" level=\w+ msg="((?:[^"\\]|\\.)*)"(.*)', line)
    if not m:
        continue
    stamp = m.group(1).rstrip("Z")
    day, frac = stamp.split(".") if "." in stamp else (stamp, "0")
    dt = datetime.datetime.strptime(day, "%Y-%m-%dT%H:%M:%S")
    us = int(dt.replace(tzinfo=datetime.timezone.utc).timestamp()) * 1000000
    events.append((us + int((frac + "000000")[:6]), "L", m.group(2) + m.group(3)))

markers, trace = [], []
for line in open(trace_path):
    m = re.match(r"\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+(\d+\.\d+): (\w+): (.*)", line)
    if not m:
        continue
    comm, pid, ts, ev, rest = m.groups()
    ts_us = float(ts) * 1e6
    mk = re.match(r"EPOCH (\d+)", rest)
    if ev == "tracing_mark_write" and mk:
        markers.append((ts_us, int(mk.group(1))))
    elif ev != "tracing_mark_write":
        trace.append((ts_us, comm, pid, ev, rest))
if len(markers) < 2:
    sys.exit("no clock markers in the trace")
# The last marker of each batch is the one written within 20 us of reading the clock.
first = [mk for mk in markers if mk[0] < markers[0][0] + 5e5][-1]
last = markers[-1]
scale = (last[1] - first[1]) / (last[0] - first[0])
for ts_us, comm, pid, ev, rest in trace:
    events.append((int(first[1] + (ts_us - first[0]) * scale), "T", (comm, pid, ev, rest)))
events.sort(key=lambda e: e[0])


def after(evs, t0, pred):
    for t, kind, x in evs:
        if t >= t0 and pred(kind, x):
            return t, x
    return None, None


def log(pat):
    return lambda kind, x: kind == "L" and pat in x


def exec_of(suffix):
    return lambda kind, x: kind == "T" and x[2] == "sched_process_exec" and x[3].split()[0].endswith(suffix)


def exit_of(pid):
    return lambda kind, x: kind == "T" and x[2] == "sched_process_exit" and x[1] == pid


PHASES = [
    ("ctd_task_create", "task create"),
    ("start_exec", "start exec"),
    ("start_exit", "start exit"),
    ("client", "ttrpc client"),
    ("create_exec", "rt create exec"),
    ("create_exit", "rt create exit"),
    ("TaskCreate", "TaskCreate"),
    ("start_rt_exec", "rt start exec"),
    ("start_rt_exit", "rt start exit"),
    ("TaskStart", "TaskStart"),
    ("container_exit", "container exit"),
    ("TaskExit", "TaskExit"),
    ("delete_exec", "rt delete exec"),
    ("delete_exit", "rt delete exit"),
    ("TaskDelete", "TaskDelete"),
    ("shutdown", "Shutdown"),
    ("delact_exec", "delete action exec"),
    ("delact_exit", "delete action exit"),
    ("remove_snapshot", "snapshot removed"),
    ("end", "ctr exits"),
]

rows = {}
for (r, i), w in sorted(windows.items()):
    if i < warmups or r not in runtimes or "end" not in w:
        continue
    b, e = w["begin"], w["end"]
    evs = [x for x in events if b <= x[0] <= e + 1000]
    key = f"key=p-{r}-{i}"
    d = {"begin": b, "end": e}
    mounts = [t for t, k, x in evs if k == "L" and "get snapshot mounts" in x and key in x.split()]
    if len(mounts) < 2:
        continue
    d["ctd_task_create"] = mounts[1]
    shim = "containerd-shim-rtbase-v2" if r == "base" else "containerd-shim-rt-v2"
    t, x = after(evs, b, exec_of(shim))
    if t is None:
        continue
    d["start_exec"], start_pid = t, x[1]
    d["start_exit"], _ = after(evs, t, exit_of(start_pid))
    d["client"], _ = after(evs, t, log("Got new client"))
    t0 = d["client"] or t
    rts = []
    for tt, kind, x in evs:
        if tt >= t0 and kind == "T" and x[2] == "sched_process_exec" and x[0] == "rt":
            if x[3].split()[0].endswith("/bin/rt") and x[1] not in [p for _, p in rts]:
                rts.append((tt, x[1]))
    for (name, (tt, pid)) in zip(["create", "start_rt", "delete"], rts):
        d[name + "_exec"] = tt
        d[name + "_exit"], _ = after(evs, tt, exit_of(pid))
    for topic, name in [("create", "TaskCreate"), ("start", "TaskStart"), ("exit", "TaskExit"), ("delete", "TaskDelete")]:
        d[name], _ = after(evs, b, log(f"topic=/tasks/{topic} "))
    d["container_exit"], _ = after(evs, b, lambda k, x: k == "T" and x[0] == "true" and x[2] == "sched_process_exit")
    d["shutdown"], _ = after(evs, b, log("shutdown request"))
    if d["shutdown"]:
        t, x = after(evs, d["shutdown"], exec_of(shim))
        if t is not None:
            d["delact_exec"] = t
            d["delact_exit"], _ = after(evs, t, exit_of(x[1]))
    d["remove_snapshot"], _ = after(evs, b, lambda k, x: k == "L" and "remove snapshot" in x and key in x.split())
    rows.setdefault(r, []).append(d)

width = 42
print(f"{'phase (ms: median (mean))':{width}s}" + "".join(f"{r:>17s}" for r in runtimes))
prev = ("begin", "ctr run")
for key, label in PHASES:
    line = f"{prev[1] + ' -> ' + label:{width}s}"
    for r in runtimes:
        v = [(d[key] - d[prev[0]]) / 1000 for d in rows.get(r, []) if d.get(key) and d.get(prev[0])]
        line += f"{statistics.median(v):9.2f} ({statistics.mean(v):5.2f})" if v else f"{'-':>17s}"
    print(line)
    prev = (key, label)
line = f"{'total (ctr run --rm)':{width}s}"
for r in runtimes:
    v = [(d["end"] - d["begin"]) / 1000 for d in rows.get(r, [])]
    line += f"{statistics.median(v):9.2f} ({statistics.mean(v):5.2f})" if v else f"{'-':>17s}"
print(line)
print("runs: " + ", ".join(f"{r} {len(rows.get(r, []))}" for r in runtimes))
