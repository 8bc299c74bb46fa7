# shellcheck shell=bash
# Sourced by bench/run: writes the mtlb, HAProxy and nginx configurations for the same job into
# $OUT/conf. Each LB gets three listeners on 127.0.0.1: P_OPT (ECDSA certificate, client
# certificates optional, also HTTP/2 where the LB speaks it), P_EC (ECDSA, mandatory) and P_RSA
# (RSA-2048, mandatory). All send X-SSL-Client-Verify/DN/Issuer/Serial, X-Forwarded-For,
# X-Real-IP and X-Forwarded-Proto after dropping client copies, balance round robin over the
# two backends with pooled keep-alive connections, and run one worker thread.
# Expects: OUT PKI B1 B2 NOFILE IDLE_CONNS and P_OPT P_EC P_RSA (arrays keyed by LB name),
# R_PORT (keyed a, b: the two mtlb replicas of the cross-replica resumption rows).

# With the argument "-log" each writes a variant with its access log on (the wrk_log row,
# conf/NAME-log.*): one line per request into $OUT/logs, with the fields mtlb writes where the
# peer has them (TLS version, cipher, resumption, client DN, issuer, serial, fingerprint,
# request id, timings, user agent), buffered or not as each LB does it.

write_mtlb_conf() { # [-log | -routes]
    local lb=mtlb access=off routes="" i
    [ "${1:-}" = -log ] && access=$OUT/logs/mtlb-access.log
    # -routes (the wrk_routes row): 100 routes on the wrk listener, the request matching the
    # last one, so that the cost of routing shows against wrk_small.
    # It listens on the ports of the pseudo-LB "mtlb-routes", so that it runs beside the plain
    # mtlb and the two take turns in one run.
    if [ "${1:-}" = -routes ]; then
        lb=mtlb-routes
        routes=$'\n    routes:'
        for i in $(seq 0 98); do
            routes+=$'\n'"      - {path_prefix: /r$i/, backend: app}"
        done
        routes+=$'\n'"      - {path_prefix: /size/, backend: app}"
    fi
    cat >"$OUT/conf/mtlb${1:-}.yaml" <<EOF
# Written by bench/run.
listeners:
  - bind: "127.0.0.1:${P_OPT[$lb]}"
    backend: app${routes}
    domains:
      - names: ["localhost", "api.example.com"]
        certificate: $PKI/server/api.crt
        key: $PKI/server/api.key
        client_auth: {mode: optional, truststore: $PKI/trust/full.pem, verify_depth: 10}
  - bind: "127.0.0.1:${P_EC[$lb]}"
    backend: app
    domains:
      - names: ["localhost", "api.example.com"]
        certificate: $PKI/server/api.crt
        key: $PKI/server/api.key
        client_auth: {mode: mandatory, truststore: $PKI/trust/full.pem, verify_depth: 10}
  - bind: "127.0.0.1:${P_RSA[$lb]}"
    backend: app
    domains:
      - names: ["localhost", "rsa.example.com"]
        certificate: $PKI/server/rsa.crt
        key: $PKI/server/rsa.key
        client_auth: {mode: mandatory, truststore: $PKI/trust/full.pem, verify_depth: 10}
backends:
  - name: app
    servers: ["127.0.0.1:$B1", "127.0.0.1:$B2"]
threads: {acceptors: 1, workers: 1}
timeouts: {client_idle: 900s, client_header: 60s, handshake: 60s}
limits: {max_connections: 30000}
log: {level: warn, access_log: "$access"}
EOF
}

# Replicas A and B for the cross-replica resumption rows: one mandatory ECDSA listener each,
# the same domain, truststore and ticket key file, so each resumes the other's tickets.
write_mtlb_replica_confs() {
    head -c 80 /dev/urandom >"$OUT/conf/ticket.keys"
    chmod 600 "$OUT/conf/ticket.keys"
    local r
    for r in a b; do
        cat >"$OUT/conf/mtlb-replica-$r.yaml" <<EOF
# Written by bench/run: replica $r (hs_replicas rows).
listeners:
  - bind: "127.0.0.1:${R_PORT[$r]}"
    backend: app
    tls: {ticket_keys: "$OUT/conf/ticket.keys"}
    domains:
      - names: ["localhost", "api.example.com"]
        certificate: $PKI/server/api.crt
        key: $PKI/server/api.key
        client_auth: {mode: mandatory, truststore: $PKI/trust/full.pem, verify_depth: 10}
backends:
  - name: app
    servers: ["127.0.0.1:$B1", "127.0.0.1:$B2"]
threads: {acceptors: 1, workers: 1}
timeouts: {client_idle: 900s, client_header: 60s, handshake: 60s}
log: {level: warn, access_log: "off"}
EOF
    done
}

write_haproxy_conf() { # [-log]
    local lb=haproxy logdef="" capture=""
    if [ "${1:-}" = -log ]; then
        # HAProxy writes each line with its own syscall; stdout (-db) is a file here.
        logdef="    log stdout format raw local0
    unique-id-format %{+X}o%ci%cp%rt%pid
    log-format \"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %U %ID %[ssl_fc_protocol] %[ssl_fc_cipher] %[ssl_fc_is_resumed] %{+Q}[ssl_c_s_dn] %{+Q}[ssl_c_i_dn] %[ssl_c_serial,hex] %[ssl_c_sha1,hex] %{+Q}r %hr\""
        capture="    http-request capture req.hdr(User-Agent) len 128"
    fi
    cat "$PKI/server/api.crt" "$PKI/server/api.key" >"$OUT/conf/haproxy-api.pem"
    cat "$PKI/server/rsa.crt" "$PKI/server/rsa.key" >"$OUT/conf/haproxy-rsa.pem"
    cat >"$OUT/conf/haproxy${1:-}.cfg" <<EOF
# Written by bench/run.
global
    nbthread 1
    # The same TLS 1.3 suite order as mtlb, chosen by the server (see bench/README.md).
    ssl-default-bind-ciphersuites $TLS13_SUITES
    # HAProxy sizes its descriptor table for 2 per connection and refuses to start when the
    # hard limit is lower. The idle run needs many client connections (one descriptor each),
    # h2 with 100 streams many backend ones (6,400): enough for both, limits not strict.
    maxconn $(( IDLE_CONNS + 1000 > NOFILE / 2 ? IDLE_CONNS + 1000 : NOFILE / 2 ))
    ulimit-n $NOFILE
    no strict-limits
    tune.ssl.default-dh-param 2048

defaults
$logdef
    mode http
    timeout connect 5s
    timeout client 900s
    timeout server 60s
    timeout http-request 60s
    timeout http-keep-alive 900s
    option http-keep-alive

frontend opt
    bind 127.0.0.1:${P_OPT[$lb]} ssl crt $OUT/conf/haproxy-api.pem ca-file $PKI/trust/full.pem verify optional ca-ignore-err all crt-ignore-err all alpn h2,http/1.1
$capture
    default_backend app

frontend mand_ec
    bind 127.0.0.1:${P_EC[$lb]} ssl crt $OUT/conf/haproxy-api.pem ca-file $PKI/trust/full.pem verify required
    default_backend app

frontend mand_rsa
    bind 127.0.0.1:${P_RSA[$lb]} ssl crt $OUT/conf/haproxy-rsa.pem ca-file $PKI/trust/full.pem verify required
    default_backend app

backend app
    balance roundrobin
    http-reuse always
    http-request del-header X-SSL-Client-Verify
    http-request del-header X-SSL-Client-DN
    http-request del-header X-SSL-Issuer
    http-request del-header X-SSL-Client-Serial
    http-request del-header X-Real-IP
    http-request set-header X-SSL-Client-Verify NONE unless { ssl_c_used }
    http-request set-header X-SSL-Client-Verify SUCCESS if { ssl_c_used } { ssl_c_verify 0 }
    http-request set-header X-SSL-Client-Verify FAILED if { ssl_c_used } !{ ssl_c_verify 0 }
    http-request set-header X-SSL-Client-DN %{+Q}[ssl_c_s_dn] if { ssl_c_used }
    http-request set-header X-SSL-Issuer %{+Q}[ssl_c_i_dn] if { ssl_c_used }
    http-request set-header X-SSL-Client-Serial %[ssl_c_serial,hex] if { ssl_c_used }
    http-request set-header X-Forwarded-For %[src]
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto https
    server b1 127.0.0.1:$B1
    server b2 127.0.0.1:$B2
EOF
}

write_nginx_conf() { # [-log]
    local lb=nginx access="access_log off;"
    if [ "${1:-}" = -log ]; then
        # Buffered per worker, as mtlb's is.
        access="log_format audit '\$remote_addr [\$time_iso8601] \$request_id \$ssl_server_name '
        '\$ssl_protocol \$ssl_cipher \$ssl_session_reused \"\$ssl_client_s_dn\" '
        '\"\$ssl_client_i_dn\" \$ssl_client_serial \$ssl_client_fingerprint \"\$request\" '
        '\$status \$body_bytes_sent \$request_length \$upstream_addr \$upstream_connect_time '
        '\$upstream_header_time \$request_time \"\$http_user_agent\"';
    access_log $OUT/logs/nginx-access.log audit buffer=64k flush=1s;"
    fi
    cat >"$OUT/conf/nginx${1:-}.conf" <<EOF
# Written by bench/run.
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/logs/nginx-error.log warn;

events {
    worker_connections $NOFILE;
}

http {
    $access
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    keepalive_timeout 900s;
    keepalive_requests 100000000;
    # nginx 1.22 leaves TLS 1.3 out of its default; the other two negotiate it.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_conf_command Ciphersuites $TLS13_SUITES;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets on;
    ssl_verify_depth 10;
    ssl_client_certificate $PKI/trust/full.pem;

    upstream app {
        server 127.0.0.1:$B1;
        server 127.0.0.1:$B2;
        keepalive 32;
        keepalive_requests 100000000;
    }

    # Like the other two, stream large bodies instead of spooling them to temporary files.
    proxy_max_temp_file_size 0;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-SSL-Client-Verify \$ssl_client_verify;
    proxy_set_header X-SSL-Client-DN \$ssl_client_s_dn;
    proxy_set_header X-SSL-Issuer \$ssl_client_i_dn;
    proxy_set_header X-SSL-Client-Serial \$ssl_client_serial;
    proxy_set_header X-Forwarded-For \$remote_addr;
    proxy_set_header X-Real-IP \$remote_addr;
    proxy_set_header X-Forwarded-Proto https;

    server {
        listen 127.0.0.1:${P_OPT[$lb]} ssl http2;
        ssl_certificate $PKI/server/api.crt;
        ssl_certificate_key $PKI/server/api.key;
        ssl_verify_client optional;
        location / { proxy_pass http://app; }
    }
    server {
        listen 127.0.0.1:${P_EC[$lb]} ssl;
        ssl_certificate $PKI/server/api.crt;
        ssl_certificate_key $PKI/server/api.key;
        ssl_verify_client on;
        location / { proxy_pass http://app; }
    }
    server {
        listen 127.0.0.1:${P_RSA[$lb]} ssl;
        ssl_certificate $PKI/server/rsa.crt;
        ssl_certificate_key $PKI/server/rsa.key;
        ssl_verify_client on;
        location / { proxy_pass http://app; }
    }
}
EOF
}

# mtlb's server-preferred TLS 1.3 order; the peers get it too, so every LB encrypts with
# AES-128-GCM (OpenSSL's own default puts AES-256-GCM first).
TLS13_SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

write_configs() {
    write_mtlb_conf
    write_mtlb_replica_confs
    write_haproxy_conf
    write_nginx_conf
    local v
    for v in "" -log; do
        write_mtlb_conf $v
        write_haproxy_conf $v
        write_nginx_conf $v
    done
    write_mtlb_conf -routes
}
