#!/bin/sh
# shellcheck shell=dash
# The kTLS-vs-userspace benchmark, run inside the VM by /init (bench/ktls-vm-bench through
# scripts/ktls-vm-test --script) under busybox sh. One mtlb (1 worker, access log off) with two
# listeners on the same two mtlb-echo backends: `ktls: auto` and `ktls: off`. For TLS 1.2 and
# 1.3 and each listener: large downloads and many small requests on one keep-alive connection
# (ktls_client checks every byte), with wall time and mtlb's CPU time (utime+stime) per run.
# Prints "PASS/FAIL name" lines for the checks (the transports really are ktls and userspace,
# every run succeeded) and one "RESULT key=value..." line per run; the host makes the table.
# Then the memory row: per TLS version and transport, a fresh mtlb holding IDLE_CONNS idle
# keep-alive mTLS connections (hsload --idle, each after one request), one "IDLE ..." line
# with mtlb's RSS before and after. Memory is not distorted by the emulation, time is.
# Settings: /opt/mtlb/vm-bench.conf (shell assignments, optional), see the defaults below.

B=/opt/mtlb/bin
PKI=/opt/mtlb/pki
W=/tmp/ktls-bench
KTLS_PORT=8443
OFF_PORT=8444
NOSPLICE_PORT=8445 # ktls: auto with splice: false (the copy path on a kTLS socket)
ADMIN_PORT=9901
MID_BYTES=1048576 # per download, the three-way splice comparison
MID_COUNT=16      # downloads per connection
LARGE_BYTES=16777216 # per download
LARGE_COUNT=2        # downloads per connection
SMALL_BYTES=64       # per response
SMALL_COUNT=1500     # requests per connection
REPS=3
IDLE_CONNS=2000      # idle connections per transport in the memory row (TLS 1.3)
IDLE_CONNS_12=500    # the same for TLS 1.2: fewer, so that the default run stays in minutes
IDLE_TLS="1.3 1.2"   # TLS versions of the memory row
IDLE_WAIT=1800       # seconds hsload may take to open them (emulated handshakes are slow)
IDLE_PARALLEL=8      # handshakes in flight at a time
IDLE_TRANSPORTS="ktls userspace"
LOADS="large small idle" # which rows run; "up1" alone: only the 1 MiB uploads
# shellcheck disable=SC1091
[ -r /opt/mtlb/vm-bench.conf ] && . /opt/mtlb/vm-bench.conf
mkdir -p "$W"
nfail=0
ulimit -n 16384 # the memory row holds IDLE_CONNS connections in mtlb and in hsload
HZ=100 # USER_HZ, the unit of /proc/PID/stat times: 100 on x86 whatever CONFIG_HZ is

pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1: $2"
    nfail=$((nfail + 1))
}

evidence() {
    for f in "$@"; do
        [ -s "$f" ] && tail -n 20 "$f" | sed 's/^/  | /'
    done
}

wait_log() { # FILE PATTERN SECONDS
    local i=0
    while [ "$i" -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

kv() { # KEY LINE
    echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

tls_stat() { awk -v k="$1" '$1 == k { print $2 }' /proc/net/tls_stat; }

# Pins to one CPU when busybox has taskset: mtlb on CPU 0, clients and backends on CPU 1.
NCPU=$(grep -c '^processor' /proc/cpuinfo)
PIN0=""
PIN1=""
PINNING=none
if [ "$NCPU" -ge 2 ] && taskset 1 true 2>/dev/null; then
    PIN0="taskset 1"
    PIN1="taskset 2"
    PINNING="mtlb on cpu0, clients and backends on cpu1"
fi

write_config() { # FILE LOG_LEVEL ACCESS_LOG [CLIENT_IDLE [HANDSHAKE]]
    local domain
    domain="      - names: [\"api.example.com\", \"localhost\"]
        certificate: \"$PKI/server/api.crt\"
        key: \"$PKI/server/api.key\"
        client_auth: {mode: optional, truststore: \"$PKI/trust/full.pem\"}"
    cat >"$1" <<EOF
listeners:
  - bind: "127.0.0.1:$KTLS_PORT"
    backend: app
    ktls: auto
    domains:
$domain
  - bind: "127.0.0.1:$OFF_PORT"
    backend: app
    ktls: off
    domains:
$domain
  - bind: "127.0.0.1:$NOSPLICE_PORT"
    backend: app
    ktls: auto
    splice: false
    domains:
$domain
admin: {bind: "127.0.0.1:$ADMIN_PORT"}
backends:
  - name: app
    servers: ["127.0.0.1:9001", "127.0.0.1:9002"]
threads: {acceptors: 1, workers: 1}
timeouts: {handshake: ${5:-10s}, client_header: 30s, client_body: 60s, client_idle: ${4:-60s},
           backend_connect: 5s, backend_response: 60s, backend_idle: 60s, drain: 1s}
log: {level: $2, access_log: $3}
EOF
}

start_mtlb() { # NAME LOG_LEVEL ACCESS_LOG [CLIENT_IDLE [HANDSHAKE]]
    write_config "$W/$1.yaml" "$2" "$3" "${4:-}" "${5:-}"
    $PIN0 "$B/mtlb" -c "$W/$1.yaml" >"$W/$1.out" 2>"$W/$1.log" &
    MTLB_PID=$!
    if wait_log "$W/$1.log" "event=started" 20; then
        echo "mtlb ($1): $(grep -o 'event=started.*' "$W/$1.log" | head -n 1)"
        return 0
    fi
    fail "mtlb_starts_$1" "no event=started within 20 s"
    evidence "$W/$1.log"
    return 1
}

stop_mtlb() {
    kill "$MTLB_PID" 2>/dev/null
    wait "$MTLB_PID" 2>/dev/null
}

client() { # TAG ARGS...: sets $out and $rc
    local tag=$1
    shift
    out=$($PIN1 "$B/ktls_client" --tag "$tag" --ca "$PKI/ca/root.crt" "$@" 2>"$W/$tag.err")
    rc=$?
}

# One request per listener and version with the access log and debug log on: the access log's
# transport and the handshake_done line of the client's connection must both say WANT.
verify_transports() {
    local v port want name lp acc hs
    start_mtlb verify debug "$W/access.log" || return 1
    for v in 1.2 1.3; do
        for port in $KTLS_PORT $OFF_PORT; do
            want=ktls
            [ "$port" = "$OFF_PORT" ] && want=userspace
            name="transport_$(echo "$v" | tr -d .)_$want"
            client "$name" --connect "127.0.0.1:$port" --tls "$v" --requests 1
            lp=$(kv local_port "$out")
            sleep 0.3 # the access log is flushed once per worker loop iteration
            acc=$(grep "tag=$name&" "$W/access.log" | grep -o '"transport":"[a-z_]*"' | cut -d'"' -f4)
            hs=$(grep "peer=127.0.0.1:$lp .*event=handshake_done" "$W/verify.log" |
                sed -n 's/.*transport=\([a-z_]*\).*/\1/p')
            echo "transport: TLS $v port $port -> access log transport=${acc:-?}," \
                "handshake_done transport=${hs:-?}, client $(kv cipher "$out")"
            if [ "$rc" -eq 0 ] && [ "$acc" = "$want" ] && [ "$hs" = "$want" ]; then
                pass "$name"
            else
                fail "$name" "want $want; client rc=$rc: $out"
                evidence "$W/verify.log" "$W/$name.err"
            fi
        done
    done
    stop_mtlb
}

spliced_bytes() { # [SERIES]: response bytes, or the series named
    wget -qO- "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null |
        awk -v k="${1:-mtlb_spliced_bytes_total}" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }'
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$MTLB_PID/stat"; }
uptime_cs() { awk '{ split($1, a, "."); print a[1] * 100 + a[2] }' /proc/uptime; }

# run REP VERSION WORKLOAD TRANSPORT: one client connection, measured. TRANSPORT: ktls (with
# splice, the default), ktls_nosplice (splice: false) or userspace.
run() {
    local port=$KTLS_PORT bytes=$LARGE_BYTES count=$LARGE_COUNT name c0 c1 t0 t1 x0 x1 s0 s1
    local dir=--download series=mtlb_spliced_bytes_total
    [ "$4" = userspace ] && port=$OFF_PORT
    [ "$4" = ktls_nosplice ] && port=$NOSPLICE_PORT
    [ "$3" = small ] && bytes=$SMALL_BYTES && count=$SMALL_COUNT
    [ "$3" = mib1 ] && bytes=$MID_BYTES && count=$MID_COUNT
    # up1: 1 MiB uploads (request bodies: client -> backend, splice_req.c)
    [ "$3" = up1 ] && bytes=$MID_BYTES && count=$MID_COUNT && dir=--upload &&
        series=mtlb_spliced_request_bytes_total
    name="$3_$(echo "$2" | tr -d .)_$4_$1"
    s0=$(spliced_bytes $series)
    x0=$(tls_stat TlsTxSw)
    c0=$(cpu_ticks)
    t0=$(uptime_cs)
    client "$name" --connect "127.0.0.1:$port" --tls "$2" --requests "$count" \
        $dir "$bytes" --timeout-ms 120000
    t1=$(uptime_cs)
    c1=$(cpu_ticks)
    x1=$(tls_stat TlsTxSw)
    s1=$(spliced_bytes $series)
    echo "RESULT rep=$1 tls=$2 load=$3 transport=$4 ok=$([ "$rc" -eq 0 ] && echo 1 || echo 0)" \
        "requests=$(kv requests_done "$out") bytes=$bytes wall_ms=$(((t1 - t0) * 10))" \
        "cpu_ms=$(((c1 - c0) * 1000 / HZ)) spliced=$((s1 - s0)) ktls_tx_conns=$((x1 - x0))"
    if [ "$rc" -ne 0 ]; then
        fail "$name" "$out"
        evidence "$W/$name.err" "$W/bench.log"
    fi
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$MTLB_PID/status"; }

# idle VERSION TRANSPORT: a fresh mtlb, warmed up (1 s of handshakes), its RSS; then N =
# IDLE_CONNS (TLS 1.2: IDLE_CONNS_12) keep-alive mTLS connections (ECDSA client certificate,
# one request each) held idle, and its RSS again. TlsCurrRxSw counts the kernel's receive
# contexts: +N for ktls (both directions offloaded, so the SSL is freed), +0 for userspace.
idle() {
    local port=$KTLS_PORT name before after hs ready x0 x1 i ok=1 args n=$IDLE_CONNS
    [ "$1" = 1.2 ] && n=$IDLE_CONNS_12
    [ "$2" = userspace ] && port=$OFF_PORT
    name="idle_$(echo "$1" | tr -d .)_$2"
    # client_idle far above the time 2,000 emulated handshakes take; a few handshakes at a
    # time with long timeouts: an emulated handshake on a busy host takes 0.1-0.5 s, so 64 in
    # parallel (bench/run's figure) would time out in the queue
    start_mtlb "$name" info off 3600s 120s || return 1
    args="--connect 127.0.0.1:$port --sni localhost --tls $1 --conns $IDLE_PARALLEL --timeout 120"
    args="$args --cert $PKI/client/good-chain.pem --key $PKI/client/good.key"
    # shellcheck disable=SC2086 # $args: options without spaces
    $PIN1 "$B/hsload" $args --duration 1 >"$W/$name.warm" 2>&1
    sleep 1
    before=$(rss_kib)
    x0=$(tls_stat TlsCurrRxSw)
    # shellcheck disable=SC2086
    $PIN1 "$B/hsload" $args --idle "$n" --hold 3600 >"$W/$name.hs" 2>&1 &
    hs=$!
    i=0
    while [ "$i" -lt $((IDLE_WAIT * 10)) ] && ! grep -q '^ready' "$W/$name.hs" && kill -0 "$hs" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 2 # the last connections' requests finish and their buffers go back
    after=$(rss_kib)
    x1=$(tls_stat TlsCurrRxSw)
    ready=$(sed -n 's/^ready idle=\([0-9]*\).*/\1/p' "$W/$name.hs")
    kill "$hs" 2>/dev/null
    wait "$hs" 2>/dev/null
    kill -0 "$MTLB_PID" 2>/dev/null || ok=0
    stop_mtlb
    [ "${ready:-0}" -eq "$n" ] || ok=0
    echo "IDLE tls=$1 transport=$2 ok=$ok conns=${ready:-0} before_kib=$before" \
        "after_kib=$after ktls_rx_conns=$((x1 - x0))"
    if [ "$ok" -ne 1 ]; then
        fail "$name" "hsload ready=${ready:-none} of $n"
        evidence "$W/$name.hs" "$W/$name.log"
    fi
}

idle_rows() {
    local v
    local t
    for v in $IDLE_TLS; do
        for t in $IDLE_TRANSPORTS; do
            idle "$v" "$t"
        done
    done
}

bench() {
    local rep v load first second order t down=0
    # The 1 MiB downloads come with the large or small rows; "up1" runs the uploads only.
    case " $LOADS " in *" large "* | *" small "*) down=1 ;; esac
    start_mtlb bench info off || return 1
    for rep in $(seq 1 "$REPS"); do
        # Alternate which transport goes first, so drift (other load on the host) hits both.
        first=ktls
        second=userspace
        [ $((rep % 2)) -eq 0 ] && first=userspace && second=ktls
        for v in 1.2 1.3; do
            for load in $LOADS; do
                case $load in idle | up1) continue ;; esac # idle_rows; 1 MiB rows below
                run "$rep" "$v" "$load" "$first"
                run "$rep" "$v" "$load" "$second"
            done
            # 1 MiB bodies three ways, the order rotating with the repetition.
            case $((rep % 3)) in
            1) order="ktls ktls_nosplice userspace" ;;
            2) order="ktls_nosplice userspace ktls" ;;
            *) order="userspace ktls ktls_nosplice" ;;
            esac
            if [ "$down" -eq 1 ]; then
                for t in $order; do
                    run "$rep" "$v" mib1 "$t"
                done
            fi
            for t in $order; do
                run "$rep" "$v" up1 "$t"
            done
        done
    done
    if kill -0 "$MTLB_PID" 2>/dev/null; then
        pass mtlb_alive_at_end
    else
        fail mtlb_alive_at_end "mtlb exited"
        evidence "$W/bench.log"
    fi
    stop_mtlb
}

echo "settings: large=${LARGE_COUNT}x${LARGE_BYTES} B, small=${SMALL_COUNT}x${SMALL_BYTES} B," \
    "mib1 (down) and up1 (up)=${MID_COUNT}x${MID_BYTES} B," \
    "reps=$REPS, idle=$IDLE_CONNS, TLS 1.2 $IDLE_CONNS_12 (TLS $IDLE_TLS), rows: $LOADS, cpus=$NCPU, pinning: $PINNING"
echo "cpu: $(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
    "aes flag: $(grep -qw aes /proc/cpuinfo && echo yes || echo no)"
$PIN1 "$B/mtlb-echo" --listen 127.0.0.1:9001 --name b1 >"$W/b1.log" 2>&1 &
$PIN1 "$B/mtlb-echo" --listen 127.0.0.1:9002 --name b2 >"$W/b2.log" 2>&1 &
if wait_log "$W/b1.log" "listening on" 10 && wait_log "$W/b2.log" "listening on" 10; then
    verify_transports
    case " $LOADS " in *" large "* | *" small "* | *" up1 "*) bench ;; esac
    case " $LOADS " in *" idle "*) idle_rows ;; esac
else
    fail backends_start "mtlb-echo did not start"
fi
echo "tls_stat: $(awk '{printf "%s=%s ", $1, $2}' /proc/net/tls_stat)"
exit "$nfail"
