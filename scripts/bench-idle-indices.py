#!/usr/bin/env python3
"""Threads and resident memory of a quidditch server holding 10, 100 and 1,000 idle indices.

Starts the server binary on a fresh data directory, creates indices (every tenth gets three
documents, so its writer opens and is closed again once idle), waits for idle writers to close,
and prints Threads and VmRSS from /proc/<pid>/status at each step.

Usage: scripts/bench-idle-indices.py [path/to/quidditch [max-indices]]
(defaults: target/release/quidditch, 1000)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import requests

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "release", "quidditch")


def status(pid):
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def main():
    data = tempfile.mkdtemp(prefix="quidditch-idle-")
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data, "d")],
                            stderr=subprocess.PIPE, text=True)
    url = None
    for line in proc.stderr:
        m = re.search(r"quidditch listening on (http://[0-9.:]+)", line)
        if m:
            url = m.group(1)
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    s = requests.Session()
    threads, rss = status(proc.pid)
    print("| idle indices | threads | RSS MB | RSS per index KB |")
    print("|---|---|---|---|")
    print(f"| 0 | {threads} | {rss:.1f} | - |")
    base = rss
    created = 0
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    for target in [t for t in (10, 100, 1000) if t <= limit]:
        while created < target:
            s.put(f"{url}/idle-{created:04d}", json={"settings": {"number_of_replicas": 0}}).raise_for_status()
            if created % 10 == 0:
                lines = "".join(json.dumps(x) + "\n" for j in range(3) for x in
                                ({"index": {"_index": f"idle-{created:04d}", "_id": str(j)}}, {"j": j}))
                s.post(f"{url}/_bulk?refresh=true", data=lines,
                       headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
            created += 1
        time.sleep(12)  # idle writers close (engine.writer_idle_close_ms, 10 s by default)
        threads, rss = status(proc.pid)
        print(f"| {target} | {threads} | {rss:.1f} | {(rss - base) * 1024 / target:.0f} |")
    proc.kill()


if __name__ == "__main__":
    main()
