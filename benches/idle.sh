#!/usr/bin/env bash
# Idle resident memory and CPU of the release daemon running the example
# behaviors against the built-in sandbox, and the time from start to READY=1.
# Usage: bash benches/idle.sh [seconds]   (default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-120}
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#^\# state_dir: ./state#state_dir: $work/state#" config.example.yaml > "$work/config.yaml"
sed -i "s#  - behaviors/\*.yaml#  - $PWD/behaviors/*.yaml#" "$work/config.yaml"
python3 - "$work" "$secs" <<'PY'
import os, socket, subprocess, sys, time
work, secs = sys.argv[1], int(sys.argv[2])
sock_path = os.path.join(work, "notify.sock")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sock_path); s.settimeout(30)
env = dict(os.environ, NOTIFY_SOCKET=sock_path, RUST_LOG="warn")
t0 = time.monotonic()
p = subprocess.Popen(["target/release/imagine-agent", "run", "--config", os.path.join(work, "config.yaml")], env=env)
while True:
    msg = s.recv(4096).decode()
    if "READY=1" in msg.splitlines():
        break
ready = time.monotonic() - t0
tck = os.sysconf("SC_CLK_TCK")
def sample():
    with open(f"/proc/{p.pid}/stat") as f: fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{p.pid}/status") as f: rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    return (int(fields[11]) + int(fields[12])) / tck, rss
time.sleep(10)
cpu0, _ = sample(); t1 = time.monotonic(); peak = 0
while time.monotonic() - t1 < secs:
    time.sleep(1); _, rss = sample(); peak = max(peak, rss)
cpu1, rss = sample(); wall = time.monotonic() - t1
p.terminate(); p.wait(timeout=30)
print(f"start to READY=1: {ready*1000:.0f} ms (includes starting the sandbox and registering)")
print(f"over {wall:.0f} s with the example behaviors (sandbox in-process): RSS {rss/1024:.1f} MiB (peak {peak/1024:.1f} MiB), CPU {100*(cpu1-cpu0)/wall:.2f}% of one core")
PY
