#!/usr/bin/env bash
# Interop: geode's example servers against real clients nobody here wrote. Called by .ci/run
# after the tests; run it alone with `bash .ci/interop.sh`.
#
#   http_hello    curl: keep-alive over several URLs, HTTP/1.0 (closed after the response),
#                 HTTP/1.0 with Connection: keep-alive (reused); ab -k and ab (HTTP/1.0
#                 keep-alive and not), h2load --h1, 20,000 requests x 50 connections each,
#                 0 failures; a half-sent request is closed by the server's request timeout
#   hyper_server  curl: keep-alive over several URLs, a 64 MiB POST echoed intact (sha256);
#                 h2load --h1
#   tls_echo      openssl s_client, TLS 1.3 and 1.2, verifying the server's certificate
#
# Servers listen on port 0 of 127.0.0.1 (each prints its address); every client and wait is
# bounded with `timeout`. The tools come from Debian's packages (curl, apache2-utils for ab,
# nghttp2-client for h2load, openssl), installed with apt-get as root or through sudo; if one
# cannot be installed the script says which and fails: it never passes without running.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "interop: FAIL: $*" >&2
    for log in "$work"/*.log; do
        [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

# Tools: command -> Debian package.
declare -A PACKAGE=([curl]=curl [ab]=apache2-utils [h2load]=nghttp2-client [openssl]=openssl)
missing=()
for tool in "${!PACKAGE[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${PACKAGE[$tool]}")
done
if [ "${#missing[@]}" != 0 ]; then
    echo "== installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq || echo "interop: apt-get update failed" >&2
    $SUDO apt-get install -y -qq "${missing[@]}" ||
        echo "interop: apt-get install ${missing[*]} failed" >&2
fi
for tool in "${!PACKAGE[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "interop: FAIL: '$tool' (Debian package ${PACKAGE[$tool]}) is not installed and" \
            "could not be installed; the interop checks cannot run without it" >&2
        exit 1
    fi
done

echo "== building the examples"
cargo build --all-features --example http_hello --example hyper_server --example tls_echo
bin=target/debug/examples

# start NAME ARGS...: runs example NAME on 127.0.0.1:0 and sets $addr to where it listens.
start() {
    local name="$1"
    shift
    "$bin/$name" 127.0.0.1:0 "$@" >"$work/$name.log" 2>&1 &
    pids+=("$!")
    local deadline=$((SECONDS + 30))
    addr=""
    while [ -z "$addr" ]; do
        addr="$(sed -n 's/^listening on \(http:\/\/\)\{0,1\}\([0-9.:]*\).*/\2/p' "$work/$name.log")"
        if [ -z "$addr" ]; then
            kill -0 "${pids[-1]}" 2>/dev/null || fail "$name exited at start-up"
            [ "$SECONDS" -lt "$deadline" ] || fail "$name did not start listening in 30 s"
            sleep 0.1
        fi
    done
    echo "== $name on $addr"
}

# expect_count FILE PATTERN N WHAT: FILE has at least N lines matching PATTERN.
expect_count() {
    local n
    n="$(grep -ciE -- "$2" "$1" || true)"
    [ "$n" -ge "$3" ] || fail "$4: expected $3 x '$2', saw $n (in $1)"
}

# run_ab ARGS...: ab against $addr; 20,000 requests complete, none failed.
run_ab() {
    local out="$work/ab.out"
    timeout 120 ab "$@" -n 20000 -c 50 "http://$addr/" >"$out" 2>&1 ||
        fail "ab $* exited $? ($(tail -n 3 "$out" | tr '\n' ' '))"
    grep -qE '^Complete requests: +20000$' "$out" || fail "ab $*: not 20000 complete requests"
    grep -qE '^Failed requests: +0$' "$out" || fail "ab $*: failed requests ($(grep Failed "$out"))"
    if [ "${1:-}" = -k ]; then
        grep -qE '^Keep-Alive requests: +20000$' "$out" || fail "ab -k: not all kept alive"
    fi
    echo "ab $*: $(grep -E '^Requests per second' "$out")"
}

# run_h2load N: h2load --h1 against $addr; N requests, all succeeded.
run_h2load() {
    local out="$work/h2load.out"
    timeout 120 h2load --h1 -n "$1" -c 50 "http://$addr/" >"$out" 2>&1 ||
        fail "h2load --h1 exited $? ($(tail -n 3 "$out" | tr '\n' ' '))"
    grep -qE "^requests: $1 total, $1 started, $1 done, $1 succeeded, 0 failed, 0 errored, 0 timeout" "$out" ||
        fail "h2load --h1: $(grep -E '^requests:' "$out")"
    echo "h2load --h1: $(grep -E '^requests:' "$out")"
}

# --- http_hello
start http_hello
out="$work/curl.out"
timeout 30 curl -sS -v "http://$addr/" "http://$addr/a" "http://$addr/b?c=d" >"$out" 2>&1 ||
    fail "curl keep-alive against http_hello exited $?"
expect_count "$out" '^Hello, World!' 1 "curl keep-alive: bodies"
[ "$(grep -o 'Hello, World!' "$out" | wc -l)" = 3 ] || fail "curl keep-alive: not 3 bodies"
expect_count "$out" 're-?using (existing )?connection' 2 "curl keep-alive: connection reuse"
echo "curl: 3 URLs on one connection"

timeout 30 curl -sS -v --http1.0 "http://$addr/" "http://$addr/a" >"$out" 2>&1 ||
    fail "curl --http1.0 against http_hello exited $?"
expect_count "$out" '^< Connection: close' 2 "curl --http1.0: Connection: close"
[ "$(grep -o 'Hello, World!' "$out" | wc -l)" = 2 ] || fail "curl --http1.0: not 2 bodies"
if grep -qiE 're-?using (existing )?connection' "$out"; then
    fail "curl --http1.0: a connection was reused after HTTP/1.0 without keep-alive"
fi
echo "curl --http1.0: closed after each response"

timeout 30 curl -sS -v --http1.0 -H 'Connection: keep-alive' "http://$addr/" "http://$addr/a" \
    >"$out" 2>&1 || fail "curl --http1.0 keep-alive against http_hello exited $?"
expect_count "$out" '^< Connection: keep-alive' 2 "curl --http1.0 keep-alive: the header"
expect_count "$out" 're-?using (existing )?connection' 1 "curl --http1.0 keep-alive: reuse"
echo "curl --http1.0 with keep-alive: reused"

run_ab -k
run_ab
run_h2load 20000

# Half a request, then silence: the server closes it after its request timeout (10 s).
t0=$SECONDS
exec 5<>"/dev/tcp/${addr%:*}/${addr##*:}"
printf 'GET / HTTP/1.1\r\nHost: x\r\n' >&5
if ! timeout 30 cat <&5 >"$out"; then
    fail "http_hello kept a half-sent request open for 30 s"
fi
exec 5<&-
[ -s "$out" ] && fail "http_hello answered half a request: $(head -c 200 "$out")"
echo "stalled request: closed after $((SECONDS - t0)) s"

# --- hyper_server
start hyper_server
timeout 30 curl -sS -v "http://$addr/" "http://$addr/missing" "http://$addr/" >"$out" 2>&1 ||
    fail "curl keep-alive against hyper_server exited $?"
[ "$(grep -c 'Hello from hyper on geode!' "$out")" = 2 ] || fail "hyper_server: not 2 hellos"
expect_count "$out" '^< HTTP/1.1 404' 1 "hyper_server: the 404"
expect_count "$out" 're-?using (existing )?connection' 2 "hyper_server keep-alive: reuse"
expect_count "$out" '^< x-request-count: 3' 1 "hyper_server: the third request on one connection"
echo "curl: 3 URLs on one hyper connection"

head -c $((64 << 20)) /dev/urandom >"$work/body"
timeout 120 curl -sS --fail -H 'Content-Type: application/octet-stream' \
    --data-binary "@$work/body" -o "$work/echoed" "http://$addr/echo" ||
    fail "curl POST of 64 MiB to hyper_server exited $?"
sent="$(sha256sum <"$work/body" | cut -d' ' -f1)"
got="$(sha256sum <"$work/echoed" | cut -d' ' -f1)"
[ "$sent" = "$got" ] || fail "64 MiB echo: sha256 $got, sent $sent ($(stat -c %s "$work/echoed") bytes back)"
echo "curl: 64 MiB POST echoed intact (sha256 $sent)"
run_h2load 5000
# Every client above closed cleanly or after its last response: nothing for hyper to report
# (a shutdown after the client had gone used to be logged as an error, once per connection).
if grep -q '^connection: ' "$work/hyper_server.log"; then
    fail "hyper_server logged connection errors: $(grep -m3 '^connection: ' "$work/hyper_server.log")"
fi

# --- tls_echo
start tls_echo "$work/cert.pem"
for version in -tls1_3 -tls1_2; do
    fifo="$work/in$version"
    log="$work/s_client$version.out"
    mkfifo "$fifo"
    timeout 30 openssl s_client -connect "$addr" -servername localhost -CAfile "$work/cert.pem" \
        -verify_return_error "$version" <"$fifo" >"$log" 2>&1 &
    client=$!
    exec 6>"$fifo"
    line="geode interop $version $RANDOM"
    printf '%s\n' "$line" >&6
    deadline=$((SECONDS + 20))
    # s_client prints only what the server sends back, so the line appears once it echoed.
    until grep -qF -- "$line" "$log"; do
        kill -0 "$client" 2>/dev/null || fail "openssl s_client $version exited early"
        [ "$SECONDS" -lt "$deadline" ] || fail "openssl s_client $version: no echo in 20 s"
        sleep 0.1
    done
    exec 6>&-
    wait "$client" || fail "openssl s_client $version exited $?"
    grep -q 'Verify return code: 0 (ok)' "$log" || fail "s_client $version: certificate not verified"
    want="TLSv1.${version#-tls1_}"
    grep -qE "(Protocol *: *|New, )$want" "$log" || fail "s_client $version: not $want"
    echo "openssl s_client $version: $want, certificate verified, echoed"
done

echo "interop: all passed"
