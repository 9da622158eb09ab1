#!/usr/bin/env bash
# Memcheck over geode's test binaries (Miri is not available; this and the proptest models in
# src/reactor/model_tests.rs stand in for it). Called by .ci/run after the tests; run it alone
# with `bash .ci/valgrind.sh` (a binary name as argument runs only that one, e.g. `tcp`).
#
# Every test binary of the geode package runs under
#   valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
# with --test-threads=2: the library's unit tests (slab, waiter queues, timer heap, the proptest
# models, ...) and every integration test, except those that fork or measure time, CPU or
# memory (valgrind runs code 20-50x slower and serialises threads, so such assertions fail for
# reasons that are not memory errors; a forked child is traced too, and ends in `_exit`):
#   whole binaries:
#     fork.rs      forks (the file is one fork test)
#     fork_runtime.rs  forks (one test: a fork child starts its own runtime)
#     emfile.rs    forks, and measures the CPU time of an accept retry loop
#     soak.rs      measures RSS growth and per-cycle time limits (quick mode runs natively)
#     fairness.rs  measures a timer's latency under an always-ready reader
#     signal_fork.rs  forks (the file is one fork test)
#   single tests (--skip filters; the rest of their binary runs):
#     cloexec  fork_child_reactor_fds_are_cloexec                        forks
#     time     run_with_only_a_timer_pending_sleeps_instead_of_spinning  CPU time vs wall time
#     time     the_millisecond_fallback_never_wakes_early_nor_busy_loops re-runs itself as a
#              child process and measures wake-up times
#     time     a_hundred_thousand_concurrent_sleeps_all_complete         bounded to 10 s
#     tcp      sixteen_mib_each_way_intact                  32 MiB under memcheck: past its 30 s
#     process  bad_input_gives_clear_errors_and_leaks_nothing   under memcheck a failed exec
#              (missing or non-executable program) in the spawned child is not reported back
#              to std's spawn, which then returns a Child; natively it is NotFound /
#              PermissionDenied (the rest of process.rs spawns children under valgrind fine)
# Tests that count context switches (exclusivity.rs, thread_per_core.rs) run here but skip that
# one bound themselves (tests/util: `under_valgrind`): valgrind hands its one lock between threads
# with futex waits, each a voluntary context switch of the thread.
# Not skipped, but partly native: blocking.rs, fs.rs, lookup.rs and stdio.rs re-run their own
# binary as a child process for the tests that need process-wide settings (the pool's thread
# cap, fork, namespaces for EACCES as root and for a resolver that never answers, piped
# standard streams). valgrind does not trace exec'd children (no --trace-children), so those
# children, including the one that measures a 1 ms interval's lateness beside 100 pending
# lookups, run natively; the parent side runs under memcheck.
# glibc's resolver context (`__resolv_conf_allocate`, reached from getaddrinfo on a pool
# thread in lookup.rs) is suppressed: glibc keeps it per thread and frees it at thread exit.
# One deliberate leak is suppressed: tests/executor.rs
# run_waits_for_a_pending_timer_with_no_task_left leaks a Sleep with Box::leak on purpose (a
# timer nobody owns must still fire before run returns).
# And two reports about the 16-byte AES-GCM tag of a TLS record (tests/tls_echo.rs, rustls on
# ring): memcheck does not follow ring's hand-written AES-GCM assembly, so the tag it writes
# at the end of a record's buffer looks uninitialised, when the record is sent (a sendto, or a
# vectored sendmsg, of those bytes through a geode socket, called from futures-rustls) and
# when the peer compares
# it (ring::bb::verify_slices_are_equal). The records decrypt and verify, so the tag is real;
# the suppressions match only those two call chains.
# Environment under valgrind: PROPTEST_CASES=32 (the 3 x 256 model cases take 4 minutes under
# memcheck; natively they run in full in .ci/run), GEODE_STRESS_WAKES=3200 (stress.rs's hang
# guard is sized for native speed), GEODE_NO_EPOLL_PWAIT2=1 (valgrind 3.19 does not know
# epoll_pwait2, syscall 441, and warns on every binary; geode would fall back to epoll_wait on
# its ENOSYS anyway), GEODE_NO_PIDFD=1 (nor pidfd_open, syscall 434: geode::process uses its
# SIGCHLD fallback, which it would also pick on that ENOSYS; natively both paths run, the
# fallback in tests/process.rs's pidfd_fallback_over_sigchld).
#
# Exits non-zero if memcheck reports any error (or a definite leak) in any binary, if a test
# fails under valgrind, or if a binary runs for more than 15 minutes (a hang).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v valgrind >/dev/null 2>&1; then
    echo "== installing valgrind"
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind
fi
valgrind --version

# Whole binaries not run (see above).
SKIP_BINARIES="fork fork_runtime emfile soak fairness signal_fork"

# Single tests not run, per binary: "binary:filter" (a --skip substring filter).
SKIP_TESTS=(
    "cloexec:fork_child_reactor_fds_are_cloexec"
    "time:run_with_only_a_timer_pending_sleeps_instead_of_spinning"
    "time:the_millisecond_fallback_never_wakes_early_nor_busy_loops"
    "time:a_hundred_thousand_concurrent_sleeps_all_complete"
    "tcp:sixteen_mib_each_way_intact"
    "process:bad_input_gives_clear_errors_and_leaks_nothing"
)

echo "== building test binaries"
artifacts="$(mktemp)"
supp="$(mktemp)"
trap 'rm -f "$artifacts" "$supp"' EXIT
cat >"$supp" <<'EOF'
{
   glibc's resolver keeps a per-thread resolv.conf context (freed at thread exit by glibc's freeres, which the pool's live threads have not reached)
   Memcheck:Leak
   match-leak-kinds: definite
   ...
   fun:__resolv_conf_allocate
}
{
   executor.rs leaks a Sleep on purpose (Box::leak)
   Memcheck:Leak
   match-leak-kinds: definite
   ...
   fun:*run_waits_for_a_pending_timer_with_no_task_left*
}
{
   ring's AES-GCM tag, compared: memcheck does not follow ring's assembly
   Memcheck:Cond
   fun:*ring*verify_slices_are_equal*
}
{
   ring's AES-GCM tag, sent by futures-rustls through a geode socket
   Memcheck:Param
   socketcall.sendto(msg)
   ...
   fun:*futures_rustls*common*
}
EOF
# The same tag sent by a vectored write: memcheck names the iovec (no wildcard there), and
# rustls writes a few records at a time.
for i in $(seq 0 63); do
    cat >>"$supp" <<EOF
{
   ring's AES-GCM tag, sent by futures-rustls through a geode socket's vectored write
   Memcheck:Param
   sendmsg(msg.msg_iov[$i])
   ...
   fun:*futures_rustls*common*
}
EOF
done
cargo test -p geode --all-features --no-run --message-format=json >"$artifacts"
# One line per test binary: "<name> <path>" ("lib" for the unit tests).
binaries="$(python3 - "$artifacts" <<'EOF'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg.get("profile", {}).get("test"):
        continue
    target = msg["target"]
    if not target["name"] or "geode-macros" in msg.get("package_id", ""):
        continue
    name = "lib" if "lib" in target["kind"] else target["name"]
    if name not in seen:
        seen.add(name)
        print(name, msg["executable"])
EOF
)"

only="${1:-}"
failed=()
start=$(date +%s)
while read -r name path; do
    [ -n "$name" ] || continue
    if [ -n "$only" ] && [ "$name" != "$only" ]; then
        continue
    fi
    if [[ " $SKIP_BINARIES " == *" $name "* ]]; then
        echo "== $name: skipped (forks or measures time/memory; see the header)"
        continue
    fi
    skips=()
    for entry in "${SKIP_TESTS[@]}"; do
        if [ "${entry%%:*}" = "$name" ]; then
            skips+=(--skip "${entry#*:}")
        fi
    done
    t0=$(date +%s)
    echo "== $name ${skips[*]:-}"
    status=0
    PROPTEST_CASES=32 GEODE_STRESS_WAKES=3200 GEODE_NO_EPOLL_PWAIT2=1 GEODE_NO_PIDFD=1 \
        timeout --kill-after=10 900 valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite --quiet \
        --suppressions="$supp" \
        "$path" --test-threads=2 "${skips[@]}" || status=$?
    echo "== $name: exit $status in $(($(date +%s) - t0)) s"
    if [ "$status" != 0 ]; then
        failed+=("$name (exit $status)")
    fi
done <<<"$binaries"

echo "== valgrind: $(($(date +%s) - start)) s"
if [ "${#failed[@]}" != 0 ]; then
    echo "valgrind: failures (exit 1 = memcheck errors; 101 = a test failed; 124/137 = timed" \
        "out): ${failed[*]}" >&2
    exit 1
fi
echo "valgrind: no memcheck errors"
