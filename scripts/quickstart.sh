#!/usr/bin/env bash
# Installs what StoragePool needs (Debian 12 + .NET SDK), builds it, starts storagepoold on the
# embedded default (one node, a file store under .quickstart/, no etcd) and shows it working:
# volumes, a snapshot, a clone, a resize, and data written over NBD (with qemu-io, when installed).
# The daemon keeps running for the CLI tour in README.md; the script prints how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
state=${STORAGEPOOL_QUICKSTART_DIR:-$repo/.quickstart}

if [ "$(id -u)" -eq 0 ]; then
    echo "== installing runtime libraries (apt)"
    apt-get update -qq
    # the native shim (native/) is built with gcc against libfuse3; fuse3 mounts the volume files
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsystemd0 libzstd1 libxxhash0 qemu-utils \
        gcc make pkg-config libfuse3-dev fuse3 >/dev/null
fi

echo "== building storagepoold and storagepool (Release)"
dotnet build src/StoragePool.Daemon -c Release --nologo -v q
dotnet build src/StoragePool.Cli -c Release --nologo -v q

# A fresh demo every run: stop the previous quickstart daemon and start from an empty state.
if [ -f "$state/storagepoold.pid" ] && kill -0 "$(cat "$state/storagepoold.pid")" 2>/dev/null; then
    kill "$(cat "$state/storagepoold.pid")"
    for _ in $(seq 50); do kill -0 "$(cat "$state/storagepoold.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$state"
mkdir -p "$state/bin"
ln -s "$repo/src/StoragePool.Daemon/bin/Release/net10.0/storagepoold" "$state/bin/storagepoold"
ln -s "$repo/src/StoragePool.Cli/bin/Release/net10.0/storagepool" "$state/bin/storagepool"
export PATH="$state/bin:$PATH"
export STORAGEPOOL_SOCKET="$state/api.sock"

echo "== starting storagepoold (data in $state/data, log in $state/storagepoold.log)"
echo '{}' > "$state/storagepoold.json"
nohup storagepoold --data-dir "$state/data" --api-socket "$STORAGEPOOL_SOCKET" --nbd-socket "$state/nbd.sock" \
    --fuse-mount "$state/fs" --config "$state/storagepoold.json" \
    >"$state/storagepoold.log" 2>&1 &
echo $! > "$state/storagepoold.pid"
for _ in $(seq 100); do
    storagepool status >/dev/null 2>&1 && break
    kill -0 "$(cat "$state/storagepoold.pid")" 2>/dev/null || { cat "$state/storagepoold.log"; exit 1; }
    sleep 0.1
done

run() { echo "\$ $*"; "$@"; }
echo "== StoragePool at work"
run storagepool volume create default/web1 20G
run storagepool volume create default/db1 10G
if command -v qemu-io >/dev/null; then
    # the data path: 64 MiB written over NBD, as QEMU would
    run qemu-io -f raw -c 'write -P 0xab 0 64M' "$(storagepool volume nbd-uri default/db1)"
fi
run storagepool snapshot create default/db1@before-upgrade
run storagepool volume clone default/db1@before-upgrade default/db1-test
run storagepool volume resize default/web1 30G
run storagepool volume list
if [ -d "$state/fs/default/volumes" ]; then
    # the libvirt face: every volume is a file of the FUSE mount (a libvirt dir pool points here)
    run ls -ls "$state/fs/default/volumes"
fi
run storagepool status

cat <<MSG

storagepoold is running (pid $(cat "$state/storagepoold.pid")). To use the CLI from this shell:
  export PATH="$state/bin:\$PATH" STORAGEPOOL_SOCKET="$state/api.sock"
Stop it with:
  kill $(cat "$state/storagepoold.pid")
MSG
