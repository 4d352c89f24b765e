#!/usr/bin/env python3
"""The fio side of the side-by-side benchmarks (nbd-bench.sh, fuse-bench.sh).

  fio-results.py record SERVER WORKLOAD RUN CPU_TICKS HZ FIO_JSON     one result line (append to a results file)
  fio-results.py table RESULTS TITLE OURS PEER[,PEER...] [OTHER...]   medians and ratios as a Markdown table

The table compares OURS with the fastest PEER of each workload; OTHER servers are shown for scale only.
"""
import json
import statistics
import sys
from collections import defaultdict

ORDER = ["seq-read-1M", "seq-write-1M", "rand-read-4K", "rand-write-4K"]


def record(server, name, run, ticks, hz, path):
    job = json.load(open(path))["jobs"][0]
    side = job["read"] if "read" in name else job["write"]
    print(server, name, run, side["iops"], side["bw_bytes"], int(ticks) / int(hz), side["io_bytes"])


def table(path, title, ours, peers, others):
    rows = [line.split() for line in open(path).read().splitlines()]
    by = defaultdict(list)
    for server, name, run, iops, bw, cpu, nbytes in rows:
        by[(server, name)].append((float(iops), float(bw), float(cpu) / (float(nbytes) / 2**30)))
    med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in by.items()}
    servers = [ours] + peers + others
    print(title + "\n")
    print("| workload | " + " | ".join(servers) + " | ratio vs fastest peer | server CPU s/GiB: ours / peer's (ratio) |")
    print("|---" * (len(servers) + 3) + "|")
    for name in sorted({name for _, name in med}, key=ORDER.index):
        def show(server):
            iops, bw, _ = med[(server, name)]
            return f"{bw / 2**20:.0f} MiB/s" if name.startswith("seq") else f"{iops / 1000:.1f}k IOPS"
        peer = max(peers, key=lambda s: med[(s, name)][0])
        ratio = med[(ours, name)][0] / med[(peer, name)][0]
        ours_cpu, peer_cpu = med[(ours, name)][2], med[(peer, name)][2]
        cpu = f"{ours_cpu:.2f} / {peer_cpu:.2f} ({ours_cpu / peer_cpu:.2f}×)" if peer_cpu > 0 else f"{ours_cpu:.2f} / -"
        print(f"| {name} | " + " | ".join(show(s) for s in servers) + f" | {ratio:.2f}× ({peer}) | {cpu} |")


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(*sys.argv[2:8])
    else:
        table(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(","), sys.argv[6:])
