#!/usr/bin/env bash
# Runs the README's shell examples as written, so the README cannot drift from what works.
# Every ```sh block of README.md is read; each command (continuation lines joined) must be
#   - a client command (curl, openssl, h2load, wrk) or an offline tool (mtlb verify-client,
#     mtlb truststore-lint: this build's mtlb): run from the directory of a live demo
#     (scripts/demo --detach with this build), with the demo's ports put in for 8443 and 8444;
#     it must exit 0, or fail when the comment above it says "refused";
#   - or one of the commands listed in COVERED below, each with the place that runs it.
# A command that is neither fails the test: a new README example needs a test.
# Usage: tests/readme/readme-examples.sh SOURCE_ROOT BUILD_DIR
set -euo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
readme="$src/README.md"

# Commands run elsewhere, by prefix, with where. Checked to exist (the script is executable).
declare -A COVERED=(
    ["scripts/demo"]="run here (scripts/demo --detach) and by hand; CI runs it through this test"
    ["scripts/test"]="is the CI command itself (.ci/run)"
    ["scripts/install-deps"]="run by scripts/test, and in the image's builder (scripts/build-image)"
    ["scripts/build-image"]="run by .ci/run (its builder runs the suites on a clean Debian 12 root)"
    ["scripts/test-image"]="run by .ci/run after scripts/build-image (podman run and kube play)"
    ["scripts/validate-k8s"]="run by .ci/run (and by scripts/test-image)"
    ["scripts/ktls-vm-test"]="run by scripts/test at its end"
    ["MTLB_VM_KEEP=1 scripts/ktls-vm-test"]="scripts/ktls-vm-test, run by scripts/test"
    ["bench/run"]="the benchmark (minutes; not part of the test run)"
    ["grep -i tls /proc/net/tls_stat"]="run in the kTLS VM by tests/ktls/vm-tests.sh (needs CONFIG_TLS)"
    ["ss -tie"]="needs a kernel with CONFIG_TLS to show tcp-ulp-tls; run here for its exit status"
)

fail=0
pass=0
note() { printf '%s\n' "$*"; }

tmp=$(mktemp -d /tmp/mtlb-readme.XXXXXX)
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    if [ -f "$tmp/pids" ]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
        done <"$tmp/pids"
    fi
    if [ "${MTLB_IT_KEEP:-0}" = 1 ]; then
        note "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

if ! "$src/scripts/demo" --build "$build" --run-dir "$tmp" --detach >"$tmp/demo.out" 2>&1; then
    cat "$tmp/demo.out"
    note "FAIL scripts/demo --detach did not come up"
    exit 1
fi
read -r ports <"$tmp/ports"
mandatory=$(sed -n 's/.*mandatory=\([0-9]*\).*/\1/p' <<<"$ports")
optional=$(sed -n 's/.*optional=\([0-9]*\).*/\1/p' <<<"$ports")

# Commands of every ```sh block: "COMMENT<US>COMMAND" per line (US = \037, not white space,
# so an empty comment survives read), continuations joined.
extract() {
    awk '
        /^```sh[[:space:]]*$/ { inblk = 1; comment = ""; next }
        /^```/ { inblk = 0; next }
        !inblk { next }
        /^[[:space:]]*#/ { comment = $0; next }
        /^[[:space:]]*$/ { next }
        {
            line = $0
            while (line ~ /\\$/ && (getline more) > 0) {
                sub(/\\$/, "", line)
                sub(/^[[:space:]]+/, " ", more)
                line = line more
            }
            print comment "\037" line
            comment = ""
        }
    ' "$readme"
}

covered_by() { # command -> prints the matching COVERED key
    local cmd=$1 k
    for k in "${!COVERED[@]}"; do
        if [[ "$cmd" == "$k"* ]]; then
            printf '%s' "$k"
            return 0
        fi
    done
    return 1
}

while IFS=$'\037' read -r comment cmd; do
    # A trailing "# ..." comment on the command line is part of the documentation.
    trailing=""
    if [[ "$cmd" == *" # "* ]]; then
        trailing=${cmd#* # }
        cmd=${cmd%% # *}
    fi
    cmd=$(sed 's/[[:space:]]*$//' <<<"$cmd")
    expect=ok
    if [[ "$comment $trailing" == *refused* ]]; then
        expect=fail
    fi
    case "$cmd" in
    curl\ * | openssl\ * | h2load\ * | wrk\ * | mtlb\ verify-client\ * | mtlb\ truststore-lint\ *)
        run=${cmd//:8443/:$mandatory}
        run=${run//:8444/:$optional}
        if [[ "$run" == mtlb\ * ]]; then
            run="$build/$run"
        fi
        rc=0
        (cd "$tmp" && timeout 60 bash -c "$run" </dev/null >"$tmp/cmd.out" 2>&1) || rc=$?
        if { [ "$expect" = ok ] && [ "$rc" = 0 ]; } || { [ "$expect" = fail ] && [ "$rc" != 0 ]; }; then
            note "PASS ($expect, exit $rc) $cmd"
            pass=$((pass + 1))
        else
            note "FAIL (expected $expect, exit $rc) $cmd"
            sed 's/^/    /' "$tmp/cmd.out" | tail -n 15
            fail=$((fail + 1))
        fi
        ;;
    *)
        if key=$(covered_by "$cmd"); then
            script=""
            for word in $key; do
                case "$word" in scripts/* | bench/*) script=$word ;; esac
            done
            if [ -n "$script" ] && [ ! -x "$src/$script" ]; then
                note "FAIL $cmd: $script is not an executable in the source tree"
                fail=$((fail + 1))
            elif [ "$key" = "ss -tie" ] && ! ss -tie >/dev/null; then
                note "FAIL ss -tie does not run"
                fail=$((fail + 1))
            else
                note "PASS (covered: ${COVERED[$key]}) $cmd"
                pass=$((pass + 1))
            fi
        else
            note "FAIL no test runs this README command: $cmd"
            fail=$((fail + 1))
        fi
        ;;
    esac
done < <(extract)

if [ $((pass + fail)) -lt 10 ]; then
    note "FAIL only $((pass + fail)) README commands found: the extraction is broken"
    fail=$((fail + 1))
fi
note "readme-examples: $pass passed, $fail failed"
[ "$fail" = 0 ]
