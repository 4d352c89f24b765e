# shellcheck shell=bash
# Sourced by the benchmark and soak scripts: every client they drive runs under a time limit, so that a server that
# hangs ends the run with a message instead of waiting forever.
#
#   bounded CMD ARGS...            runs CMD; past LIMIT seconds (default 600) it is stopped and the run says HANG
#   /usr/bin/time ... "${bounded_prefix[@]}" CMD ARGS...
#                                  the same limit where a function cannot go (as the command of another program);
#                                  exit status 124 is the hang
limit=${LIMIT:-600}
# shellcheck disable=SC2034 # used by the scripts that source this file
bounded_prefix=(timeout --kill-after=10 "$limit")

bounded() {
    local rc=0
    timeout --kill-after=10 "$limit" "$@" || rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "HANG: '$*' was still running after $limit s and was stopped" >&2
    fi
    return "$rc"
}
