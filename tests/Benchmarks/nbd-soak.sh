#!/usr/bin/env bash
# NBD soak test: a hunt for connections that hang or fail, run by hand (not in CI). One storagepoold serves four
# volumes; Debian's NBD clients (qemu-img bench, qemu-io, fio's nbd engine, nbdcopy) run a matrix of workloads
# against it, ROUNDS times over: random and sequential, reads, writes, mixes with flushes, trims and write-zeroes,
# 1 to 8 connections, and every write read back and checked where the client can check it. A client still
# running after TIMEOUT seconds (a healthy run takes 1-5 s) is a hang: the daemon's state is recorded before the
# client is ended (its sockets from `ss -xp`, and for the first MAX_DUMPS=3 hangs a dump of the daemon if
# dotnet-dump is installed), and the work directory is kept, as it is after an error. Prints a Markdown table of
# runs, hangs and errors per client, workload and connection count, and exits 1 if there was any hang or error.
#
#   tests/Benchmarks/nbd-soak.sh                      # ROUNDS=12 VOLUME_MB=256 TIMEOUT=60: 396 runs, ~15 min
#   ROUNDS=1 tests/Benchmarks/nbd-soak.sh             # the matrix once, ~1.5 min
#   ONLY='qemu-img write' ROUNDS=20 TIMEOUT=20 tests/Benchmarks/nbd-soak.sh   # runs whose "client workload" matches
#   DAEMON=/elsewhere/src/StoragePool.Daemon/bin/Release/net10.0/storagepoold \
#   CLI=/elsewhere/src/StoragePool.Cli/bin/Release/net10.0/storagepool tests/Benchmarks/nbd-soak.sh  # another build
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
rounds=${ROUNDS:-12}
volume_mb=${VOLUME_MB:-256}   # a multiple of 8, so that every connection's slice is whole MiBs
limit=${TIMEOUT:-60}
only=${ONLY:-}
max_dumps=${MAX_DUMPS:-3}
volume_bytes=$((volume_mb * 1024 * 1024))
[ $((volume_mb % 8)) -eq 0 ] || { echo "VOLUME_MB must be a multiple of 8 (got $volume_mb)" >&2; exit 2; }

if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio qemu-utils libnbd-bin iproute2 >/dev/null
fi
# The build in this checkout, unless DAEMON / CLI point at another one.
if [ -z "${DAEMON:-}" ]; then dotnet build src/StoragePool.Daemon -c Release --nologo -v q >/dev/null; fi
if [ -z "${CLI:-}" ]; then dotnet build src/StoragePool.Cli -c Release --nologo -v q >/dev/null; fi
daemon=${DAEMON:-$repo/src/StoragePool.Daemon/bin/Release/net10.0/storagepoold}
cli=${CLI:-$repo/src/StoragePool.Cli/bin/Release/net10.0/storagepool}
dotnet_dump=$(command -v dotnet-dump || command -v /root/.dotnet/tools/dotnet-dump || true)

work=$(mktemp -d /var/tmp/sp-nbd-soak.XXXXXX)   # on disk, not tmpfs
daemon_pid=
clients=()   # the `timeout` processes of the clients in flight
keep=0       # 1 once there is something to look at: the work directory stays
cleanup() {
    for pid in "${clients[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ "$keep" -eq 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo '{}' > "$work/sp.json"
"$daemon" --data-dir "$work/sp" --api-socket "$work/sp-api.sock" --nbd-socket "$work/sp-nbd.sock" \
    --no-fuse --no-libvirt --config "$work/sp.json" >"$work/sp.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/sp-nbd.sock" ] && break; sleep 0.1; done
export STORAGEPOOL_SOCKET="$work/sp-api.sock"
for _ in $(seq 100); do "$cli" status >/dev/null 2>&1 && break; sleep 0.1; done
# One volume per client, so that one client's writes never meet another's checks.
for volume in qemu-img qemu-io fio nbdcopy; do
    "$cli" volume create "default/$volume" "${volume_mb}M" >/dev/null
done
uri() { echo "nbd+unix:///default/$1?socket=$work/sp-nbd.sock"; }

# Two source files for nbdcopy: random data with 2 MiB of zeros in every 8 MiB (nbdcopy sends those as write-zeroes),
# the zeros 4 MiB apart in the two, so that each copy in zeroes what the copy before it wrote as data.
echo "== $volume_mb MiB volumes; filling the read workloads' volumes with random data" >&2
for source in a b; do
    head -c "${volume_mb}M" /dev/urandom > "$work/source-$source.img"
    first=0; [ "$source" = b ] && first=4
    for mib in $(seq "$first" 8 $((volume_mb - 1))); do
        dd if=/dev/zero of="$work/source-$source.img" bs=1M seek="$mib" count=2 conv=notrunc status=none
    done
done
for volume in qemu-img fio; do
    timeout "$limit" qemu-img convert -n -f raw -O raw "$work/source-a.img" "$(uri "$volume")"
done

# --- Running clients under the watchdog ----------------------------------------------------------------------------

# launch N CMD...: starts connection N's client process. `timeout` puts it in a process group of its own; its limit
# is only a backstop for when this script dies, since the watchdog in await ends a hung client first.
launch() {
    local n=$1; shift
    [ "${#clients[@]}" -gt 0 ] || launched=$SECONDS
    timeout -k 10 $((limit + 120)) "$@" >"$log.$n" 2>&1 &
    clients+=("$!")
}

any_running() {
    local pid
    for pid in "${clients[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

# await: waits for the clients launched since the last await. One still running $limit s after the launch is hung
# (even if it finishes while its state is recorded): the state is recorded while it still holds its connections,
# then it is ended through its `timeout` with SIGALRM, the signal of timeout's own timer, so that timeout ends it the
# same way (SIGTERM, SIGKILL 10 s later) and exits 124 (137 after SIGKILL). Those exit codes mean a hang, any other
# non-zero one an error. Fails unless all exit 0 in time.
await() {
    local pid rc
    while any_running && [ "$SECONDS" -le $((launched + limit)) ]; do sleep 0.2; done
    if any_running; then
        outcome=hang
        record_hang
        for pid in "${clients[@]}"; do kill -0 "$pid" 2>/dev/null && kill -ALRM "$pid"; done
    fi
    for pid in "${clients[@]}"; do
        rc=0
        wait "$pid" || rc=$?
        case $rc in
            0) ;;
            124 | 137) outcome=hang ;;
            *) [ "$outcome" = hang ] || outcome=error ;;
        esac
    done
    clients=()
    [ "$outcome" = ok ]
}

# record_hang: writes the hung clients' sockets (and the daemon's ends of them, whose queues show any bytes that
# were sent and not read) to hang-N.txt, and a dump of the daemon to hang-N.dmp for `dotnet-dump analyze`. Dumps
# of the first MAX_DUMPS hangs only: each is a few hundred MiB.
record_hang() {
    local pid groups=() snapshot client_lines peers
    hangs_seen=$((hangs_seen + 1))
    keep=1
    for pid in "${clients[@]}"; do
        kill -0 "$pid" 2>/dev/null && mapfile -t -O "${#groups[@]}" groups < <(pgrep -g "$pid")
    done
    snapshot=$(ss -xp | sed 's/ *$//')
    client_lines=$(grep -E "pid=($(IFS='|'; echo "${groups[*]}"))," <<< "$snapshot" || true)
    # ss -x columns: Netid State Recv-Q Send-Q Local-address Local-inode Peer-address Peer-inode Process
    peers=$(awk '{ print $8 }' <<< "$client_lines" | paste -sd'|')
    {
        echo "$label: still running after $limit s"
        echo "== the client's unix sockets (ss -xp)"
        echo "$client_lines"
        echo "== the daemon's ends of them (storagepoold pid $daemon_pid; its log: $work/sp.log)"
        awk -v daemon="pid=$daemon_pid," -v peers="^($peers)\$" 'index($0, daemon) && $6 ~ peers' <<< "$snapshot"
    } > "$work/hang-$hangs_seen.txt"
    echo "   HANG $label: sockets in $work/hang-$hangs_seen.txt" >&2
    if [ -n "$dotnet_dump" ] && [ "$hangs_seen" -le "$max_dumps" ]; then
        if timeout 120 "$dotnet_dump" collect -p "$daemon_pid" -o "$work/hang-$hangs_seen.dmp" \
            >>"$work/hang-$hangs_seen.txt" 2>&1; then
            echo "   HANG $label: daemon dump in $work/hang-$hangs_seen.dmp" >&2
        else
            echo "   HANG $label: dotnet-dump failed, see $work/hang-$hangs_seen.txt" >&2
        fi
    fi
}

# soak CLIENT WORKLOAD CONNECTIONS FUNCTION ARGS...: one run. FUNCTION launches the clients (it sees $conns), awaits
# them and checks what they wrote; it fails on a hang, a client's error or a failed check. The outcome and time of
# each run go to $work/results.
soak() {
    local client=$1 workload=$2 start secs
    conns=$3
    shift 3
    [[ "$client $workload" =~ $only ]] && [ "$stop" -eq 0 ] || return 0
    run=$((run + 1))
    label="run $run ($client $workload, $conns connection(s))"
    log=$work/runs/$run
    outcome=ok
    start=${EPOCHREALTIME//[!0-9]/}
    "$@" || { [ "$outcome" != ok ] || outcome=error; }
    secs=$(((${EPOCHREALTIME//[!0-9]/} - start) / 100000))
    printf -v secs '%d.%d' $((secs / 10)) $((secs % 10))
    echo "$client $workload $conns $outcome $secs" >> "$work/results"
    case $outcome in
        ok) rm -f "$log".* ;;
        error)
            keep=1
            echo "   ERROR $label after $secs s; its output, in $log.*, ends:" >&2
            tail -n 5 "$log".* >&2 ;;
    esac
    echo "   round $round/$rounds $label: $outcome, $secs s" >&2
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        keep=1
        echo "storagepoold exited during $label; its log: $work/sp.log" >&2
        stop=1
    fi
}

# --- The clients ---------------------------------------------------------------------------------------------------

# qemu_img COUNT SIZE [OPTIONS]: qemu-img bench, COUNT requests in all of SIZE bytes each, 32 in flight, sequential
# from each connection's own offset (one process per connection). Writes with --flush-interval wait for all in
# flight to finish before each flush (unless --no-drain), the kind of client the lost-reply hang stopped. There is
# nothing to check: bench writes zeros or one --pattern byte everywhere.
qemu_img() {
    local count=$1 size=$2 n
    shift 2
    for n in $(seq 0 $((conns - 1))); do
        launch "$n" qemu-img bench -f raw -d 32 -c $((count / conns)) -s "$size" -o $((n * volume_bytes / conns)) \
            "$@" "$(uri qemu-img)"
    done
    await
}

# qemu_io BLOCK BURSTS [mixed]: qemu-io, BURSTS bursts of 32 asynchronous writes of BLOCK bytes at random places in
# the connection's slice (one process per connection), each with its own byte pattern, waited out (aio_flush), then
# read back asynchronously and checked against the pattern (-P). "mixed" adds to each burst 4 FUA writes among the
# 32, 4 asynchronous write-zeroes, 2 synchronous write-zeroes and 2 discards while the writes are in flight, and a
# flush; the zeroed blocks are read back as zeros (the discarded ones are not checked: a discard may keep the data).
# qemu-io reports a failed asynchronous request or a wrong pattern on its output and still exits 0, so the output
# is searched as well.
qemu_io() {
    local block=$1 bursts=$2 mixed=${3:-} n b k base slots slot pattern cmds
    for n in $(seq 0 $((conns - 1))); do
        base=$((n * volume_bytes / conns))
        cmds=()
        for b in $(seq "$bursts"); do
            mapfile -t slots < <(shuf -i 0-$((volume_bytes / conns / block - 1)) -n 40)
            for k in $(seq 0 31); do
                pattern=$(((b * 32 + k) % 255 + 1))
                if [ -n "$mixed" ] && [ $((k % 8)) -eq 0 ]; then
                    cmds+=(-c "aio_write -q -f -P $pattern $((base + slots[k] * block)) $block")
                else
                    cmds+=(-c "aio_write -q -P $pattern $((base + slots[k] * block)) $block")
                fi
            done
            if [ -n "$mixed" ]; then
                for k in 32 33 34 35; do cmds+=(-c "aio_write -q -z $((base + slots[k] * block)) $block"); done
                for k in 36 37; do cmds+=(-c "write -q -z $((base + slots[k] * block)) $block"); done
                for k in 38 39; do cmds+=(-c "discard -q $((base + slots[k] * block)) $block"); done
            fi
            cmds+=(-c aio_flush)
            for k in $(seq 0 31); do
                cmds+=(-c "aio_read -q -P $(((b * 32 + k) % 255 + 1)) $((base + slots[k] * block)) $block")
            done
            if [ -n "$mixed" ]; then
                for slot in "${slots[@]:32:6}"; do cmds+=(-c "aio_read -q -P 0 $((base + slot * block)) $block"); done
                cmds+=(-c flush)
            fi
            cmds+=(-c aio_flush)
        done
        launch "$n" qemu-io -f raw "${cmds[@]}" "$(uri qemu-io)"
    done
    await || return
    ! grep -iE 'fail|error' "$log".* >&2
}

# fio_nbd OPTIONS...: fio's nbd engine (libnbd), 32 in flight on each connection, one connection per job (--numjobs),
# each job in its own slice of the volume, so that --verify (a checksum in every block, read back when the job has
# written) sees only its own writes. A new random sequence every run (--randrepeat=0), and no verify state files
# left in the current directory. No --loops with --verify: fio then checks a block rewritten in a later loop
# against its first write, and fails whatever the server did.
fio_nbd() {
    local slice=$((volume_mb / conns))
    launch 0 fio --name=soak --ioengine=nbd --uri="$(uri fio)" --iodepth=32 --numjobs="$conns" --size="${slice}M" \
        --offset_increment="${slice}M" --randrepeat=0 --verify_state_save=0 --group_reporting "$@"
    await
}

# nbdcopy_through [OPTIONS]: three times, a source file into the volume and the volume out to a file, over --connections
# connections with 64 requests in flight on each, then the two files compared byte for byte. nbdcopy uses no more
# connections than threads, and its default is one thread per core, hence --threads.
nbdcopy_through() {
    local source pass copy=(nbdcopy --connections="$conns" --threads="$conns" --requests=64 "$@")
    for pass in a b a; do
        source=$work/source-$pass.img
        rm -f "$work/copy.img"
        launch "$pass-in" "${copy[@]}" "$source" "$(uri nbdcopy)"
        await || return
        launch "$pass-out" "${copy[@]}" "$(uri nbdcopy)" "$work/copy.img"
        await || return
        cmp "$source" "$work/copy.img" >&2 || return
    done
}

# --- The matrix ----------------------------------------------------------------------------------------------------

: > "$work/results"
mkdir "$work/runs"
run=0
hangs_seen=0
stop=0
start_time=$SECONDS
for round in $(seq "$rounds"); do
    soak qemu-img write-4k 1 qemu_img 200000 4k -w
    soak qemu-img write-4k 4 qemu_img 200000 4k -w
    soak qemu-img write-4k-flush-64 1 qemu_img 150000 4k -w --flush-interval=64
    soak qemu-img write-4k-flush-64-no-drain 1 qemu_img 150000 4k -w --flush-interval=64 --no-drain
    soak qemu-img write-4k-every-1M 1 qemu_img 150000 4k -w -S 1M
    soak qemu-img read-4k 1 qemu_img 300000 4k
    soak qemu-img write-64k 1 qemu_img 60000 64k -w --pattern=0x5a
    soak qemu-img write-64k-flush-32 2 qemu_img 40000 64k -w --flush-interval=32
    soak qemu-img read-64k 1 qemu_img 60000 64k
    soak qemu-img read-64k 8 qemu_img 120000 64k
    soak qemu-img write-1M-flush-100 1 qemu_img 5000 1M -w --flush-interval=100
    soak qemu-img read-1M 1 qemu_img 8000 1M

    soak qemu-io burst-write-read-4k 1 qemu_io 4096 150
    soak qemu-io burst-write-read-64k 1 qemu_io 65536 100
    soak qemu-io burst-write-read-64k 8 qemu_io 65536 30
    soak qemu-io burst-mixed-4k 1 qemu_io 4096 150 mixed
    soak qemu-io burst-mixed-64k 4 qemu_io 65536 40 mixed

    soak fio randread-4k 1 fio_nbd --rw=randread --bs=4k --loops=3
    soak fio randwrite-4k-verify 1 fio_nbd --rw=randwrite --bs=4k --verify=crc32c
    soak fio randwrite-4k-verify 4 fio_nbd --rw=randwrite --bs=4k --verify=crc32c
    soak fio randwrite-4k-burst-verify 1 fio_nbd --rw=randwrite --bs=4k --io_size=192M --verify=crc32c \
        --iodepth_batch_submit=32 --iodepth_batch_complete_min=32
    soak fio randwrite-4k-burst-verify 4 fio_nbd --rw=randwrite --bs=4k --io_size=48M --verify=crc32c \
        --iodepth_batch_submit=32 --iodepth_batch_complete_min=32
    soak fio randrw-4k-fsync-32-verify 2 fio_nbd --rw=randrw --bs=4k --fsync=32 --verify=crc32c
    # fio sends a block's trim and its write together; the server may carry them out in either order (NBD lets
    # it), and then the check fails. --serialize_overlap holds the write until the trim is done.
    soak fio randtrimwrite-4k-verify 1 fio_nbd --rw=randtrimwrite --bs=4k --io_size=48M --serialize_overlap=1 \
        --verify=crc32c
    soak fio randtrim-64k 2 fio_nbd --rw=randtrim --bs=64k --loops=4
    soak fio randrw-64k-fsync-16-verify 8 fio_nbd --rw=randrw --bs=64k --fsync=16 --verify=crc32c
    soak fio write-1M-fsync-8-verify 8 fio_nbd --rw=write --bs=1M --fsync=8 --verify=crc32c
    soak fio read-1M 8 fio_nbd --rw=read --bs=1M --loops=12

    soak nbdcopy in-out 1 nbdcopy_through
    soak nbdcopy in-out 2 nbdcopy_through
    soak nbdcopy in-out 4 nbdcopy_through
    soak nbdcopy in-out 8 nbdcopy_through
    soak nbdcopy in-out-64k-flush 4 nbdcopy_through --request-size=65536 --flush
    [ "$stop" -eq 0 ] || break
done
wall=$((SECONDS - start_time))

# One row per (client, workload, connections) in the order first run, then the total.
awk -v rounds="$rounds" -v wall="$wall" -v limit="$limit" -v mb="$volume_mb" '
    {
        key = $1 " | " $2 " | " $3
        if (!(key in runs)) order[n++] = key
        runs[key]++; hangs[key] += ($4 == "hang"); errors[key] += ($4 == "error")
        if ($5 > slowest[key]) slowest[key] = $5
        if ($5 > slowest_all) slowest_all = $5
        total++; total_hangs += ($4 == "hang"); total_errors += ($4 == "error")
    }
    END {
        printf "%d rounds, %d MiB volumes, a run is a hang after %d s; %d min %d s in all.\n\n", rounds, mb, limit, wall / 60, wall % 60
        print "| client | workload | connections | runs | hangs | errors | slowest (s) |"
        print "|---|---|---:|---:|---:|---:|---:|"
        for (i = 0; i < n; i++)
            printf "| %s | %d | %d | %d | %.1f |\n", order[i], runs[order[i]], hangs[order[i]], errors[order[i]], slowest[order[i]]
        printf "| **total** | | | %d | %d | %d | %.1f |\n", total, total_hangs, total_errors, slowest_all
    }' "$work/results"
if grep -qE ' (hang|error) ' "$work/results" || [ "$stop" -eq 1 ]; then exit 1; fi
