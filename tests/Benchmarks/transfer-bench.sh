#!/usr/bin/env bash
# Bulk volume copy benchmark: `storagepool volume copy` between two storagepoold daemons against the
# usual ways of moving a disk image, side by side in one run, over loopback on one disk (/var/tmp):
#   mbuffer       mbuffer -> mbuffer over TCP, the whole file (the destination is not sparse)
#   zstd-mbuffer  zstd -1 -T2 | mbuffer -> mbuffer | zstd -d (zstd writes a sparse file)
#   nbdcopy       nbdcopy pulls from `nbdkit file` over TCP (block status: sparse)
#   qemu-img      qemu-img convert -n --target-is-zero -W -m 16 pushes to `nbdkit file` over TCP, serving a
#                 truncated file (--target-is-zero is true of it, as nbdcopy's --destination-is-zero is)
#   storagepool   storagepool volume copy default/src --to http://127.0.0.1:PORT (daemon to daemon)
# The source is made once per run of the script with a fixed seed: a 4 GiB sparse file with 1 GiB
# allocated in 256 scattered 4 MiB extents, a third random bytes, a third log-like text (~3.6x with
# zstd -1), a third allocated zeros. The StoragePool source volume is filled from it by qemu-img, which
# skips zeros, so it holds the zero third as holes (its allocated bytes are printed).
# Per run: wall time up to a durable destination (`sync -f` inside the timed region; the storagepool
# copy returns after the receiver's fsync); CPU of both ends (/usr/bin/time for clients, utime+stime
# deltas from /proc for the servers: nbdkit, both daemons); wire bytes = rx_bytes of `lo` over the
# timed region (TCP/IP headers included, and anything else on loopback then); destination allocated
# bytes (du, or the volume's allocated_bytes); byte identity (cmp, or qemu-img compare of the exports).
# warm: the source is read into the page cache first; cold: sync and drop_caches first. Medians.
# The daemons make one untimed copy before the runs (a service is measured warm, not at its first call).
#
#   tests/Benchmarks/transfer-bench.sh                      # RUNS=5 MODES="warm cold", all methods
#   SKIP_STORAGEPOOL=1 RUNS=2 tests/Benchmarks/transfer-bench.sh   # peers only, no dotnet publish
#   METHODS="nbdcopy storagepool" MODES=cold RUNS=3 tests/Benchmarks/transfer-bench.sh
#   SP_ARGS="--streams 4 --compress none" METHODS=storagepool tests/Benchmarks/transfer-bench.sh   # copy options
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/Benchmarks/bounded.sh
source tests/Benchmarks/bounded.sh
runs=${RUNS:-5}
seed=${SEED:-42}
read -r -a modes <<< "${MODES:-warm cold}"
read -r -a wanted <<< "${METHODS:-mbuffer zstd-mbuffer nbdcopy qemu-img storagepool}"

[ "$(id -u)" -eq 0 ] || { echo "run as root (drop_caches, package installs)" >&2; exit 2; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    mbuffer zstd nbdkit libnbd-bin qemu-utils time iproute2 python3 >/dev/null

work=$(mktemp -d /var/tmp/sp-transfer-bench.XXXXXX)   # on disk, not tmpfs
pids=()
killtree() { local c; for c in $(pgrep -P "$1" || true); do killtree "$c"; done; kill "$1" 2>/dev/null || true; }
cleanup() {
    for pid in "${pids[@]}" $(jobs -p); do killtree "$pid"; done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

sp=0
if [[ " ${wanted[*]} " == *" storagepool "* ]]; then
    if [ "${SKIP_STORAGEPOOL:-0}" = 1 ]; then
        echo "note: SKIP_STORAGEPOOL=1, skipping the storagepool method" >&2
    else
        # as the packages ship them: self-contained single files, precompiled (ReadyToRun); the CLI's start is timed
        dotnet publish src/StoragePool.Daemon -c Release -r linux-x64 --self-contained --nologo -v q -o "$work/bin/daemon" >&2
        dotnet publish src/StoragePool.Cli -c Release -r linux-x64 --self-contained --nologo -v q -o "$work/bin/cli" >&2
        daemon=$work/bin/daemon/storagepoold
        cli=$work/bin/cli/storagepool
        # an unknown subcommand with --help prints the parent's help and exits 0, so look for copy's own usage
        if [[ $("$cli" volume copy --help 2>&1 || true) == *"storagepool volume copy"* ]]; then sp=1
        else echo "note: this storagepool has no 'volume copy' yet, skipping the storagepool method" >&2; fi
    fi
fi
methods=()
for m in "${wanted[@]}"; do if [ "$m" != storagepool ] || [ "$sp" = 1 ]; then methods+=("$m"); fi; done
[ "${#methods[@]}" -gt 0 ] || { echo "no method to run" >&2; exit 2; }

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
lo_bytes() { cat /sys/class/net/lo/statistics/rx_bytes; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_listen() {   # without connecting: mbuffer -I takes a single connection
    for _ in $(seq 200); do [ -n "$(ss -Hltn "sport = :$1")" ] && return; sleep 0.05; done
    echo "nothing listens on port $1" >&2; return 1
}
time_s() { awk '{ s = $1 + $2 } END { printf "%.2f", s }' "$1"; }   # the last line of /usr/bin/time -f '%U %S'

src=$work/src.img
echo "== source: 4 GiB sparse, 1 GiB in 256 extents of 4 MiB (seed $seed)" >&2
python3 - "$src" "$seed" > "$work/src.nonzero" <<'PY'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
EXT, SIZE = 4 << 20, 4 << 30
rng = random.Random(seed)
words = ("volume snapshot pool store extent flush write read trim zero allocate commit replay journal "
         "checkpoint nbd export client connected disconnected request reply error retry timeout latency "
         "compaction metadata bitmap clone revert resize delete create open close sync fsync barrier").split()
levels = ["INFO"] * 6 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
def line():   # a log line; extents pick 30k of them at random, so no two text extents are alike
    return (f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z node{rng.randint(1, 9)} storagepoold[{rng.randint(1000, 99999)}]: "
            f"{rng.choice(levels)} {' '.join(rng.choices(words, k=rng.randint(3, 9)))} vol=pool{rng.randint(0, 3)}/vm-{rng.randint(0, 500)} "
            f"off={rng.randrange(0, 1 << 34, 4096)} len={rng.choice([4096, 65536, 1 << 20])} took={rng.random() * 50:.3f}ms\n")
pool = [line() for _ in range(30000)]
zero = bytes(4096)
nonzero = 0
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, SIZE)
for i, slot in enumerate(sorted(rng.sample(range(SIZE // EXT), 256))):
    if i % 3 == 0:
        data = rng.randbytes(EXT)
    elif i % 3 == 1:
        data = "".join(rng.choices(pool, k=EXT // 80)).encode()[:EXT]
        assert len(data) == EXT
    else:
        data = bytes(EXT)   # written, so allocated
    os.pwrite(fd, data, slot * EXT)
    nonzero += sum(4096 for o in range(0, EXT, 4096) if data[o:o + 4096] != zero)
os.fsync(fd)
os.close(fd)
print(nonzero)
PY
src_alloc=$(du --block-size=1 "$src" | cut -f1)
src_nonzero=$(cat "$work/src.nonzero")

# long-lived servers: nbdkit serving the source, nbdkit serving qemu-img's destination (kept at one inode,
# emptied between runs with truncate), the two daemons
port_src=$(free_port); port_dst=$(free_port); port_mb=$(free_port)
truncate -s 4G "$work/dst-qemu-img.img"
nbdkit -r -i 127.0.0.1 -p "$port_src" -P "$work/nbdkit-src.pid" file "$src"
nbdkit -i 127.0.0.1 -p "$port_dst" -P "$work/nbdkit-dst.pid" file "$work/dst-qemu-img.img"
for _ in $(seq 100); do [ -s "$work/nbdkit-src.pid" ] && [ -s "$work/nbdkit-dst.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/nbdkit-src.pid")" "$(cat "$work/nbdkit-dst.pid")")
declare -A server_s=([nbdcopy]=${pids[0]}) server_r=([qemu-img]=${pids[1]})
sp_src_alloc=
if [ "$sp" = 1 ]; then
    STORAGEPOOL_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    export STORAGEPOOL_TOKEN
    printf '{"token": "%s"}\n' "$STORAGEPOOL_TOKEN" > "$work/sp.json"
    declare -A sp_port
    for side in a b; do
        sp_port[$side]=$(free_port)
        "$daemon" --data-dir "$work/sp-$side" --api-socket "$work/$side-api.sock" --nbd-socket "$work/$side-nbd.sock" \
            --listen "127.0.0.1:${sp_port[$side]}" --no-fuse --no-libvirt --config "$work/sp.json" >"$work/sp-$side.log" 2>&1 &
        pids+=($!)
    done
    server_s[storagepool]=${pids[2]}; server_r[storagepool]=${pids[3]}
    spcli() { STORAGEPOOL_SOCKET=$work/$1-api.sock bounded "$cli" "${@:2}"; }
    for side in a b; do for _ in $(seq 100); do spcli "$side" status >/dev/null 2>&1 && break; sleep 0.1; done; done
    spcli a volume create default/src 4G >/dev/null
    bounded qemu-img convert -n -f raw -O raw "$src" "nbd+unix:///default/src?socket=$work/a-nbd.sock"
    sp_src_alloc=$(spcli a volume show default/src --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["allocated_bytes"])')
    # daemons are long-running: one untimed copy first, so that no timed run pays for JIT compilation
    # shellcheck disable=SC2086
    spcli a volume copy default/src --to "http://127.0.0.1:${sp_port[b]}" --as default/warmup ${SP_ARGS:-} >/dev/null
    spcli b volume delete default/warmup >/dev/null
fi
sync

# Each method copies the source to its destination; the clock starts (t0) once the receiving end is ready.
# Client CPU goes to $work/send.time and $work/recv.time.
copy_mbuffer() {
    /usr/bin/time -f '%U %S' -o "$work/recv.time" "${bounded_prefix[@]}" mbuffer -q -m 64M -s 1M -I "127.0.0.1:$port_mb" >"$1" &
    wait_listen "$port_mb"; t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$work/send.time" "${bounded_prefix[@]}" mbuffer -q -m 64M -s 1M -i "$src" -O "127.0.0.1:$port_mb"
    wait $!; sync -f "$1"
}
copy_zstd-mbuffer() {   # zstd writes a file sparse by default
    # shellcheck disable=SC2016
    /usr/bin/time -f '%U %S' -o "$work/recv.time" "${bounded_prefix[@]}" bash -c 'mbuffer -q -m 64M -s 1M -I "127.0.0.1:$1" | zstd -d -q -o "$2"' _ "$port_mb" "$1" &
    wait_listen "$port_mb"; t0=$EPOCHREALTIME
    # shellcheck disable=SC2016
    /usr/bin/time -f '%U %S' -o "$work/send.time" "${bounded_prefix[@]}" bash -c 'zstd -1 -T2 -q -c "$2" | mbuffer -q -m 64M -s 1M -O "127.0.0.1:$1"' _ "$port_mb" "$src"
    wait $!; sync -f "$1"
}
copy_nbdcopy() {
    truncate -s 4G "$1"; echo '0 0' > "$work/send.time"; t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$work/recv.time" "${bounded_prefix[@]}" nbdcopy --destination-is-zero "nbd://127.0.0.1:$port_src" "$1"
    sync -f "$1"
}
copy_qemu-img() {
    echo '0 0' > "$work/recv.time"; t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$work/send.time" "${bounded_prefix[@]}" qemu-img convert -n --target-is-zero -W -m 16 -f raw -O raw "$src" "nbd://127.0.0.1:$port_dst"
    sync -f "$1"
}
copy_storagepool() {   # $1 is the destination volume's name
    echo '0 0' > "$work/recv.time"; t0=$EPOCHREALTIME
    # shellcheck disable=SC2086
    STORAGEPOOL_SOCKET=$work/a-api.sock /usr/bin/time -f '%U %S' -o "$work/send.time" \
        "${bounded_prefix[@]}" "$cli" volume copy default/src --to "http://127.0.0.1:${sp_port[b]}" --as "default/$1" ${SP_ARGS:-} >/dev/null
}

echo "mode method run wall_s cpu_send_s cpu_recv_s wire_bytes dest_alloc_bytes identical" > "$work/results"
for mode in "${modes[@]}"; do
    for run in $(seq "$runs"); do
        # rotate the order so that no method always runs first (or last)
        for i in $(seq 0 $((${#methods[@]} - 1))); do
            method=${methods[$(((i + run) % ${#methods[@]}))]}
            if [ "$method" = storagepool ]; then dest=dst-$mode-$run; else dest=$work/dst-$method.img; fi
            sync
            case $mode in
                warm) if [ "$method" = storagepool ]; then find "$work/sp-a" -type f -exec cat {} + >/dev/null
                      else cat "$src" >/dev/null; fi ;;
                cold) echo 3 > /proc/sys/vm/drop_caches ;;
                *) echo "unknown mode $mode (warm, cold)" >&2; exit 2 ;;
            esac
            s=${server_s[$method]:-}; r=${server_r[$method]:-}
            s0=$([ -z "$s" ] || cpu_ticks "$s"); r0=$([ -z "$r" ] || cpu_ticks "$r"); lo0=$(lo_bytes)
            "copy_$method" "$dest"
            t1=$EPOCHREALTIME; lo1=$(lo_bytes)
            s1=$([ -z "$s" ] || cpu_ticks "$s"); r1=$([ -z "$r" ] || cpu_ticks "$r")
            cpu_s=$(python3 -c "print(f'{$(time_s "$work/send.time") + (${s1:-0} - ${s0:-0}) / $hz:.2f}')")
            cpu_r=$(python3 -c "print(f'{$(time_s "$work/recv.time") + (${r1:-0} - ${r0:-0}) / $hz:.2f}')")
            if [ "$method" = storagepool ]; then
                alloc=$(spcli b volume show "default/$dest" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["allocated_bytes"])')
                ident=ok; bounded qemu-img compare -q -f raw -F raw "nbd+unix:///default/src?socket=$work/a-nbd.sock" \
                    "nbd+unix:///default/$dest?socket=$work/b-nbd.sock" || ident=DIFF
                spcli b volume delete "default/$dest" >/dev/null
            else
                alloc=$(du --block-size=1 "$dest" | cut -f1)
                ident=ok; bounded cmp -s "$src" "$dest" || ident=DIFF
                if [ "$method" = qemu-img ]; then truncate -s 0 "$dest"; truncate -s 4G "$dest"; else rm -f "$dest"; fi
            fi
            sync
            wall=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
            echo "$mode $method $run $wall $cpu_s $cpu_r $((lo1 - lo0)) $alloc $ident" >> "$work/results"
            echo "   $mode run $run $method: ${wall}s cpu ${cpu_s}+${cpu_r}s wire $((lo1 - lo0)) alloc $alloc $ident" >&2
        done
    done
done

python3 - "$work/results" "$runs" "$src_alloc" "$src_nonzero" "$sp_src_alloc" <<'PY'
import statistics, sys
from collections import defaultdict
path, runs, src_alloc, src_nonzero, sp_src_alloc = sys.argv[1:]
MiB = 2**20
rows = [line.split() for line in open(path).read().splitlines()[1:]]
print(f"Source: 4096 MiB sparse image, {int(src_alloc) / MiB:.0f} MiB allocated (du), {int(src_nonzero) / MiB:.0f} MiB non-zero."
      + (f" StoragePool source volume: {int(sp_src_alloc) / MiB:.0f} MiB allocated." if sp_src_alloc else ""))
print(f"Medians of {runs} runs over loopback, destination on the same disk, wall time includes making it durable.")
print("Wire = rx bytes of `lo` during the copy (TCP/IP headers included).")
order = ["mbuffer", "zstd-mbuffer", "nbdcopy", "qemu-img", "storagepool"]
for mode in dict.fromkeys(r[0] for r in rows):
    by, wall = defaultdict(list), {}
    for m, method, run, w, cs, cr, wire, alloc, ident in (r for r in rows if r[0] == mode):
        by[method].append((float(w), float(cs), float(cr), int(wire), int(alloc), ident))
        wall[(method, run)] = float(w)
    sp = "storagepool" in by
    print(f"\n### {mode}\n")
    print("| method | median wall s | min–max s | CPU s (sender+receiver) | wire MiB | dest allocated MiB | identical |"
          + (" ratio vs storagepool |" if sp else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if sp else ""))
    for method in sorted(by, key=order.index):
        v = by[method]
        med = lambda i: statistics.median(x[i] for x in v)
        walls = [x[0] for x in v]
        bad = sum(x[5] != "ok" for x in v)
        line = (f"| {method} | {med(0):.2f} | {min(walls):.2f}–{max(walls):.2f} | {med(1) + med(2):.2f} ({med(1):.2f}+{med(2):.2f}) "
                f"| {med(3) / MiB:.1f} | {med(4) / MiB:.0f} | {'ok' if not bad else f'DIFF ({bad}/{len(v)})'} |")
        if sp:
            ratios = [w / wall[("storagepool", run)] for (m, run), w in wall.items() if m == method]
            line += f" {statistics.median(ratios):.2f}× |"
        print(line)
PY
