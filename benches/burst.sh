#!/usr/bin/env bash
# CPU per 1,000 notifications handled, and peak memory: one daemon built as it is
# deployed (`--profile dist`: release with link-time optimization) (one
# agent, the auto_reply example with a template text, rate limits off on both
# sides) against a separate sandbox process; a burst of N mentions (default
# 3000) arrives at once and the daemon's CPU time (user + system, from /proc)
# is read from the burst until the last reply is visible. Every durability
# promise stays on (intents, seen-marks, inbox in sled). Also reported: the
# requests the daemon made and the state flushes it did, per mention.
# Usage: bash benches/burst.sh [mentions] [runs]   (default 3000 3)
# BENCH_BIN=path runs another build of the daemon (e.g. one with frame
# pointers), BENCH_PERF=file records it with perf, BENCH_CALLGRIND=file counts
# its instructions during the burst with valgrind's callgrind (stable between
# runs where CPU time on a shared machine is not; `callgrind_annotate file`),
# BENCH_DETAIL=1 adds user and system time, context switches, page faults,
# bytes written and CPU by thread, BENCH_ROUTES=1 prints the requests by route.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
runs=${2:-3}
cargo build --profile dist --quiet
for run in $(seq 1 "$runs"); do
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/dist/imagine-agent sandbox --addr "127.0.0.1:$port" --community 8 --community-interval 1h --no-rate-limits >/dev/null 2>&1 &
sbpid=$!
python3 - "$work" "$n" "$port" "$PWD" "$mport" <<'PY'
import json, os, subprocess, sys, time, urllib.request
sys.path.insert(0, os.path.join(sys.argv[4], "benches"))
from procstat import register, start, wait_sandbox, _sample
work, n, port, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = f"http://127.0.0.1:{port}"
metrics = f"http://127.0.0.1:{sys.argv[5]}/metrics"
def flushes():
    for line in urllib.request.urlopen(metrics).read().decode().splitlines():
        if line.startswith("imagine_agent_state_flushes_total"):
            return int(float(line.split()[-1]))
    return 0
wait_sandbox(base)
register(base, "burst_bot", f"{work}/creds")
with open(f"{work}/reply.yaml", "w") as f:
    f.write("kind: auto_reply\nname: replies\ncontent:\n  template: \"Thanks @{{ author }}!\"\nguardrails:\n  author_cooldown: 0s\n  max_per_hour: 100000\n  max_per_day: 100000\n  max_replies_per_thread: 100000\n")
with open(f"{work}/config.yaml", "w") as f:
    f.write(f"base_url: {base}\nstate_dir: {work}/state\npoll_interval: 1s\nmetrics_addr: 127.0.0.1:{sys.argv[5]}\nagent:\n  credentials_file: {work}/creds\nbehaviors: [reply.yaml]\n"
            "rate_limits: {reads_per_minute: 0, writes_per_minute: 0, auth_per_minute: 0}\n")
argv = [os.environ.get("BENCH_BIN", f"{repo}/target/dist/imagine-agent"), "run", "--config", f"{work}/config.yaml"]
if os.environ.get("BENCH_PERF"):
    argv = ["perf", "record", "-F", "2000", "-g", "-o", os.environ["BENCH_PERF"], "--"] + argv
cg = os.environ.get("BENCH_CALLGRIND")
if cg:
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={cg}"] + argv
p, ready, _ = start(argv, work)
time.sleep(2)
cpu0, rss0 = _sample(p.pid)
def split():
    with open(f"/proc/{p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    switches = 0
    for t in os.listdir(f"/proc/{p.pid}/task"):
        try:
            with open(f"/proc/{p.pid}/task/{t}/status") as f:
                switches += sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)
        except OSError:
            pass
    tck = os.sysconf("SC_CLK_TCK")
    groups = {}
    for t in os.listdir(f"/proc/{p.pid}/task"):
        try:
            with open(f"/proc/{p.pid}/task/{t}/stat") as f:
                name, rest = f.read().split("(", 1)[1].rsplit(")", 1)
            tf = rest.split()
            g = name.rstrip("0123456789").rstrip("-")
            groups[g] = groups.get(g, 0) + (int(tf[11]) + int(tf[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    with open(f"/proc/{p.pid}/io") as f:
        io = dict(l.split(": ") for l in f.read().splitlines())
    return int(fields[11]) / tck, int(fields[12]) / tck, switches, int(fields[7]), int(io["wchar"]), groups
s0 = split()
if cg:
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True, capture_output=True)
f0 = flushes()
t0 = time.monotonic()
req = urllib.request.Request(base + "/sandbox/community/burst", json.dumps({"target": "burst_bot", "mentions": n}).encode(), {"content-type": "application/json"})
urllib.request.urlopen(req)
peak = rss0
def routes():
    return json.load(urllib.request.urlopen(base + "/sandbox/stats"))["stats"]["byRoute"]
def requests(r):
    return sum(sum(v.values()) for v in r.values())
def replies():
    return routes().get("POST /api/posts/{id}/comments", {}).get("201", 0)
before = requests(routes())
while replies() < n:
    time.sleep(0.2)
    peak = max(peak, _sample(p.pid)[1])
cpu1, rss = _sample(p.pid)
if cg:
    subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True, capture_output=True)
s1 = split()
wall = time.monotonic() - t0
after = routes()
nflush = flushes() - f0
calls = requests(after) - before
p.terminate(); p.wait(timeout=120)
cpu = cpu1 - cpu0
print(f"{n} mentions handled in {wall:.1f} s: daemon CPU {cpu:.2f} s = {1000*cpu/n:.3f} s per 1,000; RSS peak {peak/1024:.1f} MiB (before the burst {rss0/1024:.1f} MiB); {calls/n:.2f} requests and {nflush/n:.3f} state flushes per mention")
if os.environ.get("BENCH_DETAIL"):
    print(f"  user {s1[0]-s0[0]:.2f} s, system {s1[1]-s0[1]:.2f} s, {(s1[2]-s0[2])/n:.1f} context switches and {(s1[3]-s0[3])/n:.1f} page faults and {(s1[4]-s0[4])/n:.0f} bytes written (files and sockets) per mention")
    by = {g: 1000 * (v - s0[5].get(g, 0)) / n for g, v in s1[5].items()}
    print("  CPU per 1,000 by thread: " + ", ".join(f"{g} {v:.3f} s" for g, v in sorted(by.items(), key=lambda x: -x[1]) if v > 0))
if os.environ.get("BENCH_ROUTES"):
    for k, v in sorted(after.items()):
        print(f"  {k}: {v}")
PY
kill $sbpid 2>/dev/null || true
wait $sbpid 2>/dev/null || true
rm -rf "$work"
done
