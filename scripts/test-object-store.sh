#!/usr/bin/env bash
# A real S3-compatible object store for the backup tests and benches (run as root):
# SeaweedFS's `weed mini` (built by toolchain/object-store.sh) in a network namespace of
# its own, on an address of a bridge this script makes, serving S3 over TLS only, with a
# certificate of a CA made here and keys made here. Nothing else reaches it, and it
# reaches nothing: containers get to it through the host's routing, as to any server.
#   test-object-store.sh up        start it (idempotent); prints
#                                  "ENDPOINT BUCKET CA_FILE ACCESS_KEY SECRET_KEY"
#   test-object-store.sh cut       take it off the network (it keeps running)
#   test-object-store.sh restore   put it back
#   test-object-store.sh down      stop it and remove everything, its data too
# Env: PGTOPO_TEST_S3_NAME (1-8 lowercase letters, default "main": stores of different names
# run side by side, as test files run in parallel), PGTOPO_TEST_S3_NET (third octet of its
# own bridge's network, default 249; one per store that runs at the same time).
set -euo pipefail

say() { printf '\033[1mtest-object-store:\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

NAME=${PGTOPO_TEST_S3_NAME:-main}
[[ $NAME =~ ^[a-z]{1,8}$ ]] || die "PGTOPO_TEST_S3_NAME must be 1-8 lowercase letters, not '$NAME'"
NET=10.${PGTOPO_TEST_S3_NET:-249}.0
ADDRESS=$NET.10
PORT=8333
BUCKET=pgtopo-test
# Interface names are at most 15 characters; "s3" and a dash keep them apart from the test
# hosts' (pt<group><i>, scripts/test-hosts.sh).
NS=pgtopo-s3-$NAME
BR=s3br-$NAME
VETH=s3-$NAME
DIR=/var/lib/pgtopo-object-store/$NAME
PIDFILE=$DIR/weed.pid
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ "$(id -u)" = 0 ] || die "needs root (a network namespace and a bridge)"

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# A CA, the store's certificate for its address, and the keys: made once per data dir.
make_secrets() {
    [ -s "$DIR/tls/ca.crt" ] && [ -s "$DIR/keys" ] && return 0
    install -d -m 0700 "$DIR/tls"
    (
        cd "$DIR/tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -keyout ca.key -out ca.crt -subj "/CN=pgtopo test object store CA" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout server.key -out server.csr -subj "/CN=$ADDRESS" 2>/dev/null
        # pgBackRest (2.45, 2.55) matches the endpoint against the certificate's DNS names
        # only: an endpoint given by address needs that address as a DNS name too.
        printf 'subjectAltName=IP:%s,DNS:%s\nextendedKeyUsage=serverAuth\n' "$ADDRESS" "$ADDRESS" >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
            -extfile server.ext -out server.crt 2>/dev/null
        rm -f server.csr server.ext ca.srl
    )
    (umask 077 && printf '%s %s\n' "pgtopo$(openssl rand -hex 6)" "$(openssl rand -hex 20)" >"$DIR/keys")
}

network_up() {
    if ip -o -4 addr show | awk -v b="$BR" '$2 != b' | grep -qF " $NET.1/"; then
        die "$NET.1 is already on another interface: set PGTOPO_TEST_S3_NET to a free number"
    fi
    ip link show "$BR" >/dev/null 2>&1 || ip link add "$BR" type bridge
    ip addr replace "$NET.1/24" dev "$BR"
    ip link set "$BR" up
    # The main dockerd sets FORWARD's policy to DROP: traffic from the test hosts' bridge
    # (their containers) to the store, and its answers, are let through this bridge only.
    for dir in -i -o; do iptables -C FORWARD "$dir" "$BR" -j ACCEPT 2>/dev/null || iptables -I FORWARD "$dir" "$BR" -j ACCEPT; done
    [ -e "/var/run/netns/$NS" ] || ip netns add "$NS"
    ip link show "$VETH" >/dev/null 2>&1 || ip link add "$VETH" type veth peer name "${VETH}p" netns "$NS"
    ip link set "$VETH" master "$BR" up
    ip -n "$NS" link set lo up
    ip -n "$NS" addr replace "$ADDRESS/24" dev "${VETH}p"
    ip -n "$NS" link set "${VETH}p" up
    # No default route: the store answers this machine, its containers (masqueraded, from
    # $NET.1) and the test hosts' (from their own 10.x addresses), and reaches nothing else.
    ip -n "$NS" route replace 10.0.0.0/8 via "$NET.1"
}

answers() {
    curl -s -o /dev/null --max-time 3 --cacert "$DIR/tls/ca.crt" "https://$ADDRESS:$PORT/"
}

up() {
    local weed keys
    weed=$(bash "$HERE/../toolchain/object-store.sh")
    make_secrets
    network_up
    read -r access secret <"$DIR/keys"
    if ! running; then
        install -d -m 0700 "$DIR/data"
        # S3 only (no WebDAV, admin UI, Iceberg or Lance; no telemetry), over TLS on PORT (a key file and no https port
        # make the S3 port serve HTTPS alone). The bucket is made at start: pgBackRest
        # never creates one.
        AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret \
            nohup ip netns exec "$NS" "$weed" mini -dir="$DIR/data" -ip="$ADDRESS" -ip.bind="$ADDRESS" \
            -s3.port="$PORT" -s3.cert.file="$DIR/tls/server.crt" -s3.key.file="$DIR/tls/server.key" \
            -bucket="$BUCKET" -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
            -master.telemetry=false \
            >"$DIR/weed.log" 2>&1 &
        echo $! >"$PIDFILE"
    fi
    for ((i = 0; i < 120; i++)); do
        answers && break
        running || { tail -n 30 "$DIR/weed.log" >&2; die "weed exited (log: $DIR/weed.log)"; }
        sleep 0.5
    done
    answers || { tail -n 30 "$DIR/weed.log" >&2; die "the object store does not answer on https://$ADDRESS:$PORT"; }
    echo "$ADDRESS:$PORT $BUCKET $DIR/tls/ca.crt $access $secret"
}

down() {
    if running; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do running || break; sleep 0.2; done
    fi
    if [ -e "/var/run/netns/$NS" ]; then ip netns pids "$NS" | xargs -r kill -9; fi
    ip link del "$VETH" 2>/dev/null || true
    [ -e "/var/run/netns/$NS" ] && ip netns del "$NS"
    ip link del "$BR" 2>/dev/null || true
    for dir in -i -o; do iptables -D FORWARD "$dir" "$BR" -j ACCEPT 2>/dev/null || true; done
    rm -rf "$DIR"
}

case ${1:-} in
up) up ;;
cut) ip link set "$VETH" down ;;
restore) ip link set "$VETH" up ;;
down) down ;;
*) die "usage: $0 up | cut | restore | down" ;;
esac
