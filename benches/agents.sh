#!/usr/bin/env bash
# Resident memory and CPU of one release daemon running N agents (default
# 1000), each with the auto-reply, follow-back and scheduled-post examples,
# against a separate sandbox process (so the emulator's own memory is not
# counted), and the time from start to READY=1 (sign-ins go 8 at a time).
# The sandbox keeps its read and write limits; its auth limit is raised only so
# that setting up 1,000 registrations does not take 100 minutes.
# Usage: bash benches/agents.sh [agents] [seconds]   (default 1000 120)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
secs=${2:-120}
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/imagine-agent sandbox --addr "127.0.0.1:$port" --community 20 --community-interval 200ms --auth-per-minute 100000 >/dev/null 2>&1 &
python3 - "$work" "$n" "$port" "$secs" "$PWD" <<'PY'
import json, os, sys, urllib.request, concurrent.futures as cf
sys.path.insert(0, os.path.join(sys.argv[5], "benches"))
from procstat import measure, register, start, wait_sandbox
work, n, port, secs, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
base = f"http://127.0.0.1:{port}"
wait_sandbox(base)
os.makedirs(f"{work}/creds")
def agent(i):
    h = f"bot_{i:05d}"
    register(base, h, f"{work}/creds/{h}")
    return f"  - handle: {h}\n    credentials_file: {work}/creds/{h}\n    behaviors: [{repo}/behaviors/auto_reply.yaml, {repo}/behaviors/follow_back.yaml, {repo}/behaviors/scheduled_post.yaml]\n"
with cf.ThreadPoolExecutor(8) as ex:
    agents = list(ex.map(agent, range(n)))
with open(f"{work}/config.yaml", "w") as f:
    f.write(f"base_url: {base}\nstate_dir: {work}/state\npoll_interval: 30s\n"
            f"llm:\n  default:\n    base_url: {base}/v1\n    model: sandbox-stand-in\nagents:\n" + "".join(agents))
p, ready, status = start([f"{repo}/target/release/imagine-agent", "run", "--config", f"{work}/config.yaml"], work)
rss, peak, cpu, wall = measure(p.pid, secs)
stats = json.load(urllib.request.urlopen(base + "/sandbox/stats"))
p.terminate(); p.wait(timeout=60)
print(f"{n} agents, 3 behaviors each: start to READY=1 {ready:.1f} s ({status})")
print(f"over {wall:.0f} s: RSS {rss/1024:.1f} MiB (peak {peak/1024:.1f} MiB), {rss/n:.0f} KiB per agent, CPU {cpu:.1f}% of one core")
st = stats["stats"]
limited = {r: c["429"] for r, c in st["byRoute"].items() if "429" in c}
print(f"sandbox: {st['requests']} requests, {st['rateLimited']} answered 429 {limited}, {st['tokenGrants']} token grants")
PY
