#!/usr/bin/env bash
# Installs what the tests need (Debian 12), checks formatting, builds, runs every test project
# and ends with one line: "N passed, N failed". Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing test dependencies (apt)"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libsystemd0 libzstd1 libxxhash0 dbus-daemon dbus-bin systemd libglib2.0-bin util-linux procps curl xfsprogs \
    qemu-utils libnbd-bin python3-libnbd nbdkit openssl gcc make pkg-config libfuse3-dev fuse3 attr libvirt0 \
    libvirt-daemon-system libvirt-clients qemu-system-x86 >/dev/null

echo "== dotnet format --verify-no-changes"
dotnet format StoragePool.sln --verify-no-changes

if [ -f native/Makefile ]; then
    echo "== native shim"
    make -C native
fi

echo "== build"
dotnet build StoragePool.sln -c Debug --nologo -v q

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# the CLI tests run the CLI as packages ship it: published self-contained, trimmed, in one file
echo "== publish the CLI"
dotnet publish src/StoragePool.Cli -c Release --use-current-runtime --self-contained --nologo -v q -o "$results/cli"
export STORAGEPOOL_TEST_CLI=$results/cli/storagepool

echo "== tests"
set +e
# a test still running after 5 minutes is taken as hung: its host is stopped and the test named, so a hang costs
# minutes of CI, not its whole budget (the slowest test takes about a minute)
dotnet test StoragePool.sln --no-build -c Debug --nologo --blame-hang-timeout 5m --blame-hang-dump-type none 2>&1 | tee "$results/out"
status=${PIPESTATUS[0]}
set -e

# VSTest prints one summary line per test project: "Passed!  - Failed: 0, Passed: 61, ..."
summaries=$(grep -E '^(Passed|Failed)! ' "$results/out" || true)
sum() { printf '%s\n' "$summaries" | grep -Eo "$1: +[0-9]+" | awk '{ s += $2 } END { print s + 0 }'; }
passed=$(sum Passed)
failed=$(sum Failed)
projects=$(printf '%s\n' "$summaries" | grep -c . || true)
expected=$(find tests -name '*Tests.csproj' | wc -l)
if [ "$projects" -ne "$expected" ] && [ "$status" -eq 0 ]; then
    echo "only $projects of $expected test projects reported results" >&2
    status=1
fi
echo "$passed passed, $failed failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
