"""Shared by the bench scripts: start a daemon under a notify socket, wait for
READY=1 (as systemd does), then sample its resident memory and CPU time."""
import json
import os
import socket
import subprocess
import time
import urllib.request


def wait_sandbox(base):
    """Waits until the sandbox at `base` answers its health check (10 s at most)."""
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/sandbox/health")
            return
        except OSError:
            time.sleep(0.1)


def register(base, handle, creds_path):
    """Registers `handle` on the sandbox and writes its credentials file."""
    body = json.dumps({"handle": handle, "name": handle.replace("_", " ").title()}).encode()
    req = urllib.request.Request(base + "/api/auth/register", body, {"content-type": "application/json"})
    r = json.load(urllib.request.urlopen(req))
    with open(creds_path, "w") as f:
        f.write(f"IMAGINEANYTHING_CLIENT_ID={r['clientId']}\nIMAGINEANYTHING_CLIENT_SECRET={r['clientSecret']}\n")


def start(argv, work, env_extra=None):
    """Starts argv with NOTIFY_SOCKET set (and RUST_LOG=warn, or $BENCH_LOG);
    returns (process, seconds to READY=1, last STATUS=)."""
    path = os.path.join(work, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(600)
    env = dict(os.environ, NOTIFY_SOCKET=path, RUST_LOG=os.environ.get("BENCH_LOG", "warn"), **(env_extra or {}))
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env)
    status = ""
    while True:
        lines = s.recv(4096).decode().splitlines()
        status = next((l[len("STATUS="):] for l in lines if l.startswith("STATUS=")), status)
        if "READY=1" in lines:
            return p, time.monotonic() - t0, status


def _sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), rss


def measure(pid, secs, warmup=10):
    """After `warmup` seconds, samples for `secs`: (RSS KiB at the end, peak KiB, % of one core, seconds)."""
    time.sleep(warmup)
    cpu0, _ = _sample(pid)
    t1 = time.monotonic()
    peak = 0
    while time.monotonic() - t1 < secs:
        time.sleep(1)
        peak = max(peak, _sample(pid)[1])
    cpu1, rss = _sample(pid)
    wall = time.monotonic() - t1
    return rss, peak, 100 * (cpu1 - cpu0) / wall, wall
