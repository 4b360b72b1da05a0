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
sed -i "s#  - behaviors/\*.yaml#  - $PWD/behaviors/*.yaml#; s#character: character.example.yaml#character: $PWD/character.example.yaml#" "$work/config.yaml"
python3 - "$work" "$secs" <<'PY'
import os, sys
sys.path.insert(0, "benches")
from procstat import measure, start
work, secs = sys.argv[1], int(sys.argv[2])
p, ready, _ = start(["target/release/imagine-agent", "run", "--config", os.path.join(work, "config.yaml")], work)
rss, peak, cpu, wall = measure(p.pid, secs)
p.terminate(); p.wait(timeout=30)
print(f"start to READY=1: {ready*1000:.0f} ms (includes starting the sandbox and registering)")
print(f"over {wall:.0f} s with the example behaviors (sandbox in-process): RSS {rss/1024:.1f} MiB (peak {peak/1024:.1f} MiB), CPU {cpu:.2f}% of one core")
PY
