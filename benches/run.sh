#!/usr/bin/env bash
# The side-by-side benchmark suite (issue 6): geode beside tokio, smol and a hand-written epoll
# loop. Installs what is missing (wrk, strace, valgrind; Debian packages), builds geode's
# http_hello example, then runs `cargo bench --bench suite -- "$@"`.
#
#   bash benches/run.sh --quick     # 3 short rounds, under 2 minutes after the build
#   bash benches/run.sh             # the full suite: 5 rounds, under 10 minutes
#   bash benches/run.sh --only pingpong,syscalls --pin split --out results.md
#
# CARGO_TARGET_DIR is honoured (the example is looked for beside the bench binary). Loopback
# traffic only; no timing assertion anywhere. Not run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in wrk strace valgrind taskset; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    pkgs=()
    for tool in "${missing[@]}"; do
        case "$tool" in
            taskset) pkgs+=(util-linux) ;;
            *) pkgs+=("$tool") ;;
        esac
    done
    echo "== installing ${pkgs[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
    if command -v apt-get >/dev/null 2>&1; then
        $SUDO apt-get update -qq || true
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" ||
            echo "could not install ${pkgs[*]}: the rows that need them are skipped" >&2
    else
        echo "no apt-get: ${pkgs[*]} missing, the rows that need them are skipped" >&2
    fi
fi

echo "== building geode's http_hello example (geode's HTTP server in the suite)"
cargo build --release --example http_hello

echo "== cargo bench --bench suite -- $*"
exec cargo bench --bench suite -- "$@"
