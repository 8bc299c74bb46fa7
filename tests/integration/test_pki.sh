#!/usr/bin/env bash
# Checks scripts/gen-pki: the layout other tests code against, and that each certificate
# verifies (or fails) with openssl for the reason its name promises.
# Usage: tests/integration/test_pki.sh [SCRIPT] (default: scripts/gen-pki of this checkout)
set -uo pipefail

GEN=${1:-$(cd "$(dirname "$0")/../.." && pwd)/scripts/gen-pki}
DIR=$(mktemp -d /tmp/mtlb-pki-test.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect_ok DESCRIPTION CMD...: CMD must succeed.
expect_ok() {
    local what=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        fail "$what: $out"
    fi
}

# expect_err DESCRIPTION MESSAGE CMD...: CMD must fail and print MESSAGE.
expect_err() {
    local what=$1 msg=$2 out
    shift 2
    if out=$("$@" 2>&1); then
        fail "$what: unexpectedly succeeded"
    elif ! grep -q "$msg" <<<"$out"; then
        fail "$what: expected '$msg', got: $out"
    fi
}

start=$(date +%s)
"$GEN" "$DIR/pki" || {
    echo "FAIL: gen-pki exited $?"
    exit 1
}
[ $(($(date +%s) - start)) -le 20 ] || fail "gen-pki took more than 20 s"
cd "$DIR/pki" || exit 1

for f in ca/root.crt ca/root.key ca/inter.crt ca/inter.key ca/crl.pem ca/other-root.crt \
    ca/inter-revoked.crt ca/inter-revoked.key ca/crl-noakid.pem ca/crl-inter.pem \
    trust/revoked-inter.pem trust/inter-only.pem trust/leaf-only.pem \
    ca/other-root.key ca/rogue-root.crt ca/rogue-root.key server/api.crt server/api.key \
    server/api-chain.pem server/rsa.crt server/rsa.key server/other.crt server/other.key \
    server/expired.crt server/expired.key server/mismatch.key client/tester.p12 \
    ca/crl-expired.pem ca/crl-soon.pem server/soon.crt server/soon.key server/api-reversed.pem \
    trust/full.pem trust/root-only.pem trust/other.pem trust/bad-entry.pem; do
    [ -s "$f" ] || fail "missing or empty $f"
done
[ -e .complete ] || fail "missing .complete"
for c in good rsa selfsigned untrusted expired revoked noclientauth other under-revoked noeku \
    slash future byleaf weak; do
    [ -s "client/$c.crt" ] && [ -s "client/$c.key" ] || fail "missing client/$c.crt/.key"
done
for c in good rsa untrusted expired revoked noclientauth under-revoked noeku slash future weak; do
    [ "$(grep -c 'BEGIN CERTIFICATE' "client/$c-chain.pem")" = 2 ] || fail "client/$c-chain.pem"
done
for k in ca/*.key server/*.key client/*.key backend/*.key; do
    [ "$(head -n 1 "$k")" = "-----BEGIN PRIVATE KEY-----" ] || fail "$k is not unencrypted PKCS#8"
done

# subjects and serials the header tests assert
check_cert() { # FILE SUBJECT SERIAL
    local got
    got=$(openssl x509 -in "$1" -noout -subject -nameopt compat)
    [ "$got" = "subject=$2" ] || fail "$1 subject: $got"
    got=$(openssl x509 -in "$1" -noout -serial)
    [ "$got" = "serial=$3" ] || fail "$1 serial: $got"
}
check_cert backend/ca.crt "/C=PL/O=mtlb Backends/CN=mtlb Backend CA" 01
check_cert backend/orders.crt "/C=PL/O=mtlb Backends/CN=orders.internal" 3001
check_cert backend/edge.crt "/C=PL/O=mtlb Backends/CN=mtlb-edge" 3002
expect_ok "backend server verifies for its name" \
    openssl verify -CAfile backend/ca.crt -verify_hostname orders.internal -purpose sslserver \
    backend/orders.crt
expect_ok "backend server verifies for 127.0.0.1" \
    openssl verify -CAfile backend/ca.crt -verify_ip 127.0.0.1 backend/orders.crt
expect_err "backend server fails for another name" "hostname mismatch" \
    openssl verify -CAfile backend/ca.crt -verify_hostname billing.internal backend/orders.crt
expect_ok "edge client certificate verifies" \
    openssl verify -CAfile backend/ca.crt -purpose sslclient backend/edge.crt
check_cert ca/root.crt "/C=PL/O=mtlb Test/CN=mtlb Test Root CA" 01
check_cert ca/inter.crt "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA" 02
check_cert ca/other-root.crt "/C=PL/O=mtlb Other/CN=mtlb Other CA" 01
check_cert client/good.crt "/C=PL/O=mtlb Test/CN=good-client" 1001
check_cert client/rsa.crt "/C=PL/O=mtlb Test/CN=rsa-client" 1002
check_cert client/selfsigned.crt "/C=PL/O=mtlb Test/CN=selfsigned-client" 1003
check_cert client/untrusted.crt "/C=PL/O=mtlb Rogue/CN=untrusted-client" 1004
check_cert client/expired.crt "/C=PL/O=mtlb Test/CN=expired-client" 1005
check_cert client/revoked.crt "/C=PL/O=mtlb Test/CN=revoked-client" 1006
check_cert client/noclientauth.crt "/C=PL/O=mtlb Test/CN=serveronly-client" 1007
check_cert client/other.crt "/C=PL/O=mtlb Other/CN=other-client" 1008
check_cert ca/inter-revoked.crt "/C=PL/O=mtlb Test/CN=mtlb Test Revoked Intermediate CA" 03
check_cert client/under-revoked.crt "/C=PL/O=mtlb Test/CN=under-revoked-client" 1009
check_cert client/noeku.crt "/C=PL/O=mtlb Test/CN=noeku-client" 100A
check_cert client/future.crt "/C=PL/O=mtlb Test/CN=future-client" 100C
check_cert client/byleaf.crt "/C=PL/O=mtlb Test/CN=byleaf-client" 100D
check_cert client/weak.crt "/C=PL/O=mtlb Test/CN=weak-client" 100E
got=$(openssl x509 -in client/slash.crt -noout -subject -nameopt RFC2253)
[ "$got" = "subject=CN=mallory/CN=admin,O=mtlb Test,C=PL" ] || fail "client/slash.crt subject: $got"
openssl x509 -in client/noeku.crt -noout -text | grep -q "Extended Key Usage" &&
    fail "client/noeku.crt has an extended key usage"
openssl x509 -in ca/inter.crt -noout -text | grep -q "CA:TRUE, pathlen:0" || fail "inter pathlen"
openssl x509 -in client/rsa.crt -noout -text | grep -q "rsaEncryption" || fail "rsa client key type"
openssl x509 -in server/rsa.crt -noout -text | grep -q "(2048 bit)" || fail "rsa server key size"
openssl x509 -in client/good.crt -noout -text | grep -q "prime256v1" || fail "good is not P-256"

V=(openssl verify -CAfile ca/root.crt -untrusted ca/inter.crt)
expect_ok "good" "${V[@]}" -purpose sslclient client/good.crt
expect_ok "rsa client" "${V[@]}" -purpose sslclient client/rsa.crt
expect_ok "good with CRLs" "${V[@]}" -crl_check_all -CRLfile ca/crl.pem client/good.crt
expect_err "expired client" "certificate has expired" "${V[@]}" client/expired.crt
expect_err "future client" "certificate is not yet valid" "${V[@]}" client/future.crt
expect_ok "weak: fine without a security level" "${V[@]}" client/weak.crt
expect_err "weak: below security level 1" "EE certificate key too weak" "${V[@]}" -auth_level 1 \
    client/weak.crt
expect_err "byleaf: issued by a leaf" "invalid CA certificate" openssl verify -partial_chain \
    -CAfile client/good.crt client/byleaf.crt
openssl x509 -in client/byleaf.crt -noout -issuer | grep -q "CN = good-client" || fail "byleaf issuer"
openssl x509 -in client/good.crt -noout -text | grep -q "CA:FALSE" || fail "good is not CA:FALSE"
expect_err "expired server" "certificate has expired" "${V[@]}" server/expired.crt
expect_err "revoked" "certificate revoked" "${V[@]}" -crl_check_all -CRLfile ca/crl.pem \
    client/revoked.crt
expect_ok "no EKU passes OpenSSL's purpose rule" "${V[@]}" -purpose sslclient client/noeku.crt
expect_err "revoked intermediate" "certificate revoked" openssl verify -CAfile ca/root.crt \
    -untrusted ca/inter-revoked.crt -crl_check_all -CRLfile ca/crl.pem client/under-revoked.crt
expect_ok "under-revoked without CRLs" openssl verify -CAfile ca/root.crt \
    -untrusted ca/inter-revoked.crt client/under-revoked.crt
for crl in ca/crl.pem ca/crl-noakid.pem; do
    expect_ok "full chain with $crl" openssl verify -CAfile trust/full.pem -crl_check_all \
        -CRLfile "$crl" client/good.crt
done
expect_err "root CRL missing" "unable to get certificate CRL" openssl verify \
    -CAfile trust/full.pem -crl_check_all -CRLfile ca/crl-inter.pem client/good.crt
expect_ok "inter-only, partial chain" openssl verify -partial_chain -CAfile trust/inter-only.pem \
    client/good.crt
expect_ok "leaf-only, partial chain" openssl verify -partial_chain -CAfile trust/leaf-only.pem \
    client/rsa.crt
openssl crl -in ca/crl-noakid.pem -noout -text | grep -q "Authority Key Identifier" &&
    fail "crl-noakid.pem has an AKID"
[ "$(grep -c 'BEGIN X509 CRL' ca/crl-inter.pem)" = 1 ] || fail "ca/crl-inter.pem"
expect_err "intermediate CRL past nextUpdate" "CRL has expired" openssl verify \
    -CAfile trust/full.pem -crl_check_all -CRLfile ca/crl-expired.pem client/good.crt
expect_ok "intermediate CRL due in 3 days" openssl verify -CAfile trust/full.pem -crl_check_all \
    -CRLfile ca/crl-soon.pem client/good.crt
expect_err "CRL due in 3 days, 4 days on" "CRL has expired" openssl verify -attime \
    $(($(date +%s) + 4 * 86400)) -CAfile trust/full.pem -crl_check_all -CRLfile ca/crl-soon.pem \
    client/good.crt
expect_ok "soon: valid now" "${V[@]}" server/soon.crt
expect_err "soon: expired in 11 days" "certificate has expired" "${V[@]}" -attime \
    $(($(date +%s) + 11 * 86400)) server/soon.crt
openssl x509 -in server/api-reversed.pem -noout -subject | grep -q "Root CA" ||
    fail "api-reversed.pem does not start with the root"
expect_err "wrong purpose" "unsuitable certificate purpose" "${V[@]}" -purpose sslclient \
    client/noclientauth.crt
expect_err "untrusted" "unable to get local issuer" openssl verify -CAfile trust/full.pem \
    client/untrusted.crt
expect_ok "selfsigned in full.pem" openssl verify -purpose sslclient -CAfile trust/full.pem \
    client/selfsigned.crt
expect_ok "selfsigned in root-only.pem" openssl verify -CAfile trust/root-only.pem \
    client/selfsigned.crt
expect_err "root-only without the intermediate" "unable to get local issuer" \
    openssl verify -CAfile trust/root-only.pem client/good.crt
expect_ok "root-only with the intermediate sent" openssl verify -CAfile trust/root-only.pem \
    -untrusted ca/inter.crt client/good.crt
expect_ok "other domain" openssl verify -purpose sslclient -CAfile trust/other.pem \
    client/other.crt
expect_err "other client against full.pem" "unable to get local issuer" \
    openssl verify -CAfile trust/full.pem client/other.crt
expect_ok "api for localhost" openssl verify -purpose sslserver -CAfile ca/root.crt \
    -verify_hostname localhost server/api.crt
expect_ok "api for 127.0.0.1" openssl verify -CAfile ca/root.crt -verify_ip 127.0.0.1 \
    server/api.crt
expect_ok "rsa server" openssl verify -CAfile ca/root.crt -verify_hostname rsa.example.com \
    server/rsa.crt
expect_ok "other server" openssl verify -CAfile ca/root.crt -verify_hostname \
    other.example.com server/other.crt

# the CRL bundles: one CRL per CA, valid for about a year
[ "$(grep -c 'BEGIN X509 CRL' ca/crl.pem)" = 3 ] || fail "ca/crl.pem should hold 3 CRLs"
next=$(openssl crl -in ca/crl.pem -noout -nextupdate | cut -d= -f2)
[ $(($(date -d "$next" +%s) - $(date +%s))) -gt $((300 * 86400)) ] || fail "CRL nextUpdate $next"

# keys
pub() { openssl pkey -in "$1" -pubout 2>/dev/null; }
[ "$(pub server/api.key)" = "$(openssl x509 -in server/api.crt -noout -pubkey)" ] ||
    fail "api.key does not match api.crt"
[ "$(pub server/mismatch.key)" != "$(openssl x509 -in server/api.crt -noout -pubkey)" ] ||
    fail "mismatch.key matches api.crt"
p12=$(openssl pkcs12 -in client/tester.p12 -passin pass:changeit -nodes 2>&1)
[ "$(grep -c 'BEGIN CERTIFICATE' <<<"$p12")" = 2 ] && grep -q 'BEGIN PRIVATE KEY' <<<"$p12" ||
    fail "tester.p12: $p12"

# truststores
[ "$(grep -c 'BEGIN CERTIFICATE' trust/full.pem)" = 3 ] || fail "trust/full.pem"
grep -q "mtlb Test Intermediate CA" <(openssl crl2pkcs7 -nocrl -certfile trust/root-only.pem |
    openssl pkcs7 -print_certs -noout) && fail "root-only.pem holds the intermediate"
grep -q -- "-----BEGIN PRIVATE KEY-----" trust/bad-entry.pem || fail "bad-entry.pem"

# OCSP responses for stapling: signed by the root, "good" for their certificate, and dated
ocsp_check() { # RESPONSE CERT
    openssl ocsp -respin "$1" -issuer ca/root.crt -cert "$2" -CAfile ca/root.crt 2>&1
}
grep -q "server/api.crt: good" <(ocsp_check server/api.ocsp server/api.crt) || fail "api.ocsp"
grep -q "server/api.crt: good" <(ocsp_check server/api-soon.ocsp server/api.crt) ||
    fail "api-soon.ocsp"
grep -q "server/other.crt: good" <(ocsp_check server/other.ocsp server/other.crt) ||
    fail "other.ocsp"
ocsp_check server/api-forged.ocsp server/api.crt | grep -q "verify error" || fail "api-forged.ocsp verifies"
openssl ocsp -respin server/api-soon.ocsp -resp_text -noverify 2>/dev/null |
    grep -q "Next Update" || fail "api-soon.ocsp has no nextUpdate"
[ "$(sed -n 2p server/api-full.pem)" != "" ] &&
    [ "$(grep -c 'BEGIN CERTIFICATE' server/api-full.pem)" = 2 ] || fail "server/api-full.pem"

# idempotence: a second run leaves everything as it is; without .complete it starts over
before=$(cat ca/root.crt)
"$GEN" "$DIR/pki" || fail "second run"
[ "$(cat ca/root.crt)" = "$before" ] || fail "second run regenerated the PKI"
rm .complete
echo stale >server/stale.pem
"$GEN" "$DIR/pki" || fail "rerun after removing .complete"
[ "$(cat ca/root.crt)" != "$before" ] && [ ! -e server/stale.pem ] && [ -e .complete ] ||
    fail "rerun without .complete did not start over"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "ok: gen-pki"
