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
    libvirt-daemon-system libvirt-clients qemu-system-x86 kmod >/dev/null

# What a real Debian 12 host has done before anyone runs the tests, and a machine without udev (a container, a VM
# whose PID 1 is not systemd) has not: there the kernel's devtmpfs makes every device node root:root 0600 and nothing
# changes it, and no module is loaded unless asked for. Each step does what the host would have done, so that the
# tests pass on a fresh machine and depend on nothing someone fixed by hand.
echo "== host setup (what udev and the packages do on a real host)"
host_lacks() { echo "scripts/test.sh: $*" >&2; exit 1; }
# Users and groups, made by packages on every host: libvirt-qemu, the user QEMU runs as under libvirt, in group kvm
# (libvirt-daemon-system); nobody and nogroup, 65534 (base-passwd; the D-Bus tests call as nobody); disk (base-passwd;
# a test gives the NBD socket to it).
id libvirt-qemu >/dev/null 2>&1 || host_lacks "there is no user libvirt-qemu (apt-get install libvirt-daemon-system)"
getent group kvm >/dev/null || host_lacks "there is no group kvm (libvirt-daemon-system makes it)"
id -nG libvirt-qemu | grep -qw kvm || as_root usermod -a -G kvm libvirt-qemu
for name in passwd:65534 group:65534 group:disk; do
    getent "${name%%:*}" "${name#*:}" >/dev/null || host_lacks "getent ${name%%:*} ${name#*:} finds nothing (base-passwd makes it)"
done
# Kernel modules, which a host loads on demand: fuse for the daemon's file system; loop and xfs for the reflink and
# durability tests, which are skipped (not failed) without them.
[ -e /dev/fuse ] || as_root modprobe fuse
[ -e /dev/loop-control ] || as_root modprobe loop
grep -qw xfs /proc/filesystems || as_root modprobe xfs
# Device nodes, as Debian's udev sets them (/lib/udev/rules.d/50-udev-default.rules), changed only when they differ:
# - /dev/kvm to group kvm, 0660 (KERNEL=="kvm", GROUP="kvm", MODE="0660"), so that QEMU, running as libvirt-qemu,
#   can use KVM. Without that, or without /dev/kvm (no virtualization offered here), test domains run under TCG and
#   the test says why.
# - /dev/fuse 0666 (KERNEL=="fuse", MODE="0666"), so that users mount with fusermount3. The tests run the daemon as
#   root, which needs no mode; a daemon started as a user (scripts/quickstart.sh) does.
# Loop devices keep root:root 0600 (a host gives them to group disk): the tests mount them as root.
set_node() { # NODE GROUP MODE
    if [ "$(stat -c '%G %a' "$1")" != "$2 $3" ]; then
        as_root chgrp "$2" "$1"
        as_root chmod "$3" "$1"
    fi
}
if [ -e /dev/kvm ]; then
    set_node /dev/kvm kvm 660
else
    echo "there is no /dev/kvm here: test domains run under TCG"
fi
set_node /dev/fuse root 666
# Services: none is started here, on purpose. The tests start what they use and stop it by PID: libvirtd and
# virtlogd as root without systemd (one already running, as under systemd on a host, is used and left running),
# and a private dbus-daemon for the D-Bus tests; every storagepoold under test is kept off the system bus. Nothing
# outside the repository is configured either: libvirt runs with Debian's /etc/libvirt defaults and no hooks, and
# FUSE needs no user_allow_other in /etc/fuse.conf (the daemon runs as root).

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
skipped=$(sum Skipped)
projects=$(printf '%s\n' "$summaries" | grep -c . || true)
expected=$(find tests -name '*Tests.csproj' | wc -l)
if [ "$projects" -ne "$expected" ] && [ "$status" -eq 0 ]; then
    echo "only $projects of $expected test projects reported results" >&2
    status=1
fi
# skipped: a test that found some host setup missing (see above) and said so
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
