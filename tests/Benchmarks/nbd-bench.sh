#!/usr/bin/env bash
# NBD server benchmark: storagepoold against the two reference servers from Debian, qemu-nbd and
# `nbdkit file`, side by side in one run. Each server serves its own copy of the same backing file
# (random data), and each copy is written the same way: through that server by `qemu-img convert`
# (how a file was filled changes ext4's extent layout, and with it 4 KiB random-write speed by up
# to 4×, whatever the server). fio's nbd engine (libnbd) drives the same workloads at queue depth 32; the
# server's CPU time (utime+stime from /proc) is counted per GiB moved. Prints medians of RUNS runs
# and ratios against the faster peer, as a Markdown table.
#
#   tests/Benchmarks/nbd-bench.sh                # RUNS=5 SIZE_MB=1024
#   RUNS=7 SIZE_MB=2048 tests/Benchmarks/nbd-bench.sh
#   WORKLOADS="seq-write-1M" RUNS=3 tests/Benchmarks/nbd-bench.sh    # some workloads only
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=tests/Benchmarks/bounded.sh
source tests/Benchmarks/bounded.sh
runs=${RUNS:-5}
size_mb=${SIZE_MB:-1024}
read -r -a workloads <<< "${WORKLOADS:-seq-read-1M seq-write-1M rand-read-4K rand-write-4K}"

if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio qemu-utils nbdkit libnbd-bin python3 >/dev/null
fi
dotnet build src/StoragePool.Daemon -c Release --nologo -v q >/dev/null
dotnet build src/StoragePool.Cli -c Release --nologo -v q >/dev/null
daemon=$repo/src/StoragePool.Daemon/bin/Release/net10.0/storagepoold
cli=$repo/src/StoragePool.Cli/bin/Release/net10.0/storagepool

work=$(mktemp -d /var/tmp/sp-nbd-bench.XXXXXX)   # on disk, not tmpfs
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

echo "== backing file: $size_mb MiB of random data" >&2
head -c "${size_mb}M" /dev/urandom > "$work/base.img"
truncate -s "${size_mb}M" "$work/qemu.img" "$work/nbdkit.img"

qemu-nbd --fork --persistent --shared=64 --format=raw --cache=writeback --socket="$work/qemu.sock" \
    --pid-file="$work/qemu.pid" "$work/qemu.img"
nbdkit -U "$work/nbdkit.sock" -P "$work/nbdkit.pid" file "$work/nbdkit.img"
echo '{}' > "$work/sp.json"
"$daemon" --data-dir "$work/sp" --api-socket "$work/sp-api.sock" --nbd-socket "$work/sp-nbd.sock" \
    --no-fuse --no-libvirt --config "$work/sp.json" >"$work/sp.log" 2>&1 &
echo $! > "$work/sp.pid"
for _ in $(seq 100); do [ -f "$work/qemu.pid" ] && [ -f "$work/nbdkit.pid" ] && [ -S "$work/sp-nbd.sock" ] && break; sleep 0.1; done
pids+=("$(cat "$work/qemu.pid")" "$(cat "$work/nbdkit.pid")" "$(cat "$work/sp.pid")")
export STORAGEPOOL_SOCKET="$work/sp-api.sock"
for _ in $(seq 100); do "$cli" status >/dev/null 2>&1 && break; sleep 0.1; done
bounded "$cli" volume create default/bench "${size_mb}M" >/dev/null

declare -A uri=(
    [storagepoold]="nbd+unix:///default/bench?socket=$work/sp-nbd.sock"
    [qemu-nbd]="nbd+unix:///?socket=$work/qemu.sock"
    [nbdkit]="nbd+unix:///?socket=$work/nbdkit.sock"
)
for server in storagepoold qemu-nbd nbdkit; do
    bounded qemu-img convert -n -f raw -O raw "$work/base.img" "${uri[$server]}"
done
sync
declare -A pid=([storagepoold]=$(cat "$work/sp.pid") [qemu-nbd]=$(cat "$work/qemu.pid") [nbdkit]=$(cat "$work/nbdkit.pid"))
declare -A workload=(
    [seq-read-1M]="--rw=read --bs=1M --io_size=$((size_mb * 4))M"
    [seq-write-1M]="--rw=write --bs=1M --io_size=$((size_mb * 2))M"
    [rand-read-4K]="--rw=randread --bs=4k --number_ios=200000"
    [rand-write-4K]="--rw=randwrite --bs=4k --number_ios=200000"
)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

: > "$work/results"   # one line per fio run: server workload run iops bytes_per_s cpu_s bytes
servers=(storagepoold qemu-nbd nbdkit)
for name in "${workloads[@]}"; do
    [ -n "${workload[$name]:-}" ] || { echo "unknown workload $name (${!workload[*]})" >&2; exit 2; }
    for run in $(seq "$runs"); do
        # rotate the order so that no server always runs first (or last) on a warm machine
        for i in 0 1 2; do
            server=${servers[$(((i + run) % 3))]}
            # every run starts with no dirty pages: otherwise the writeback of one run's writes (and the
            # kernel's throttling of writers past dirty_ratio) lands on whichever server runs next
            sync
            before=$(cpu_ticks "${pid[$server]}")
            # shellcheck disable=SC2086
            bounded fio --name="$name" --ioengine=nbd --uri="${uri[$server]}" --iodepth=32 --size="${size_mb}M" \
                ${workload[$name]} --output-format=json --output="$work/fio.json" >/dev/null
            after=$(cpu_ticks "${pid[$server]}")
            python3 tests/Benchmarks/fio-results.py record "$server" "$name" "$run" "$((after - before))" "$hz" "$work/fio.json" >> "$work/results"
            echo "   $name run $run $server done" >&2
        done
    done
done

python3 tests/Benchmarks/fio-results.py table "$work/results" "Medians of $runs runs, $size_mb MiB volume, fio nbd engine, iodepth 32, one job." storagepoold qemu-nbd,nbdkit
