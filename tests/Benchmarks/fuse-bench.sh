#!/usr/bin/env bash
# FUSE benchmark: a volume's file on storagepoold's FUSE mount against bindfs (a C FUSE passthrough from
# Debian) over a plain file of the same size, side by side in one run, both written with the same random data
# first (O_DIRECT). fio with libaio and O_DIRECT at queue depth 32 (QEMU opens disks with cache=none); the
# server's CPU time (utime+stime from /proc) is counted per GiB moved. The backing file read directly is shown
# for scale. Prints medians of RUNS runs and the ratios, as a Markdown table.
#
#   tests/Benchmarks/fuse-bench.sh                # RUNS=5 SIZE_MB=1024
#   WORKLOADS="rand-write-4K" RUNS=3 tests/Benchmarks/fuse-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/Benchmarks/bounded.sh
source tests/Benchmarks/bounded.sh
repo=$PWD
runs=${RUNS:-5}
size_mb=${SIZE_MB:-1024}
read -r -a workloads <<< "${WORKLOADS:-seq-read-1M seq-write-1M rand-read-4K rand-write-4K}"

if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio bindfs fuse3 python3 >/dev/null
fi
dotnet build src/StoragePool.Daemon -c Release --nologo -v q >/dev/null
dotnet build src/StoragePool.Cli -c Release --nologo -v q >/dev/null
daemon=$repo/src/StoragePool.Daemon/bin/Release/net10.0/storagepoold
cli=$repo/src/StoragePool.Cli/bin/Release/net10.0/storagepool

work=$(mktemp -d /var/tmp/sp-fuse-bench.XXXXXX)   # on disk, not tmpfs
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    umount -l "$work/bindfs" "$work/fs" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== $size_mb MiB of random data" >&2
mkdir -p "$work/plain" "$work/bindfs"
head -c "${size_mb}M" /dev/urandom > "$work/base.img"
bindfs -f "$work/plain" "$work/bindfs" &
pids+=($!)
echo '{}' > "$work/sp.json"
"$daemon" --data-dir "$work/sp" --api-socket "$work/sp-api.sock" --nbd-socket "$work/sp-nbd.sock" \
    --fuse-mount "$work/fs" --no-libvirt --config "$work/sp.json" >"$work/sp.log" 2>&1 &
pids+=($!)
sp_pid=$!
bindfs_pid=${pids[0]}
export STORAGEPOOL_SOCKET="$work/sp-api.sock"
for _ in $(seq 100); do "$cli" status >/dev/null 2>&1 && mountpoint -q "$work/bindfs" && break; sleep 0.1; done
bounded "$cli" volume create default/bench "${size_mb}M" >/dev/null

declare -A file=([storagepoold]="$work/fs/default/volumes/bench" [bindfs]="$work/bindfs/disk" [backing]="$work/plain/disk")
declare -A pid=([storagepoold]=$sp_pid [bindfs]=$bindfs_pid)
truncate -s "${size_mb}M" "${file[bindfs]}"
for server in storagepoold bindfs; do
    bounded dd if="$work/base.img" of="${file[$server]}" bs=1M oflag=direct conv=notrunc status=none
done
sync
declare -A workload=(
    [seq-read-1M]="--rw=read --bs=1M --io_size=$((size_mb * 4))M"
    [seq-write-1M]="--rw=write --bs=1M --io_size=$((size_mb * 2))M"
    [rand-read-4K]="--rw=randread --bs=4k --number_ios=200000"
    [rand-write-4K]="--rw=randwrite --bs=4k --number_ios=200000"
)
cpu_ticks() { if [ "$1" = none ]; then echo 0; else awk '{ print $14 + $15 }' "/proc/$1/stat"; fi; }
hz=$(getconf CLK_TCK)

: > "$work/results"   # one line per fio run: server workload run iops bytes_per_s cpu_s bytes
servers=(storagepoold bindfs backing)
for name in "${workloads[@]}"; do
    [ -n "${workload[$name]:-}" ] || { echo "unknown workload $name (${!workload[*]})" >&2; exit 2; }
    for run in $(seq "$runs"); do
        for i in 0 1 2; do
            server=${servers[$(((i + run) % 3))]}
            sync
            before=$(cpu_ticks "${pid[$server]:-none}")
            # shellcheck disable=SC2086
            bounded fio --name="$name" --filename="${file[$server]}" --ioengine=libaio --direct=1 --iodepth=32 --size="${size_mb}M" \
                ${workload[$name]} --output-format=json --output="$work/fio.json" >/dev/null
            after=$(cpu_ticks "${pid[$server]:-none}")
            python3 tests/Benchmarks/fio-results.py record "$server" "$name" "$run" "$((after - before))" "$hz" "$work/fio.json" >> "$work/results"
            echo "   $name run $run $server done" >&2
        done
    done
done

python3 tests/Benchmarks/fio-results.py table "$work/results" "Medians of $runs runs, $size_mb MiB file, fio libaio O_DIRECT, iodepth 32, one job." storagepoold bindfs backing
