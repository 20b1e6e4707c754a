#!/usr/bin/env bash
# Simulated Docker hosts on this machine, for integration tests (run as root). Each host
# is a network namespace on a test bridge with its own dockerd; see
# shared/notes/several-hosts.md.
#   test-hosts.sh up NAME N         start hosts NAME1..NAMEN; prints "HOST SOCKET ADDRESS" lines
#   test-hosts.sh down NAME [--purge]   stop and remove them (--purge: the image caches too)
#   test-hosts.sh cut|restore NAME I [--engine]   take host I off the network / put it
#                                       back; --engine: its Docker engine too (its socket
#                                       moved aside), as when the host itself is lost
# Env: PGTOPO_TEST_NET (third octet, default 250), PGTOPO_HOSTS_DIR (data roots, kept
# across `down` so that loaded images are cached), PGTOPO_TEST_IMAGES (main-engine images
# to copy into every host), PGTOPO_TEST_TLS (host numbers whose engine also listens on
# tcp://ADDRESS:2376 with TLS, client certificates required; their line then says
# "HOST tcp://ADDRESS:2376 ADDRESS CLIENT_CERT_DIR", the directory holding ca.pem,
# cert.pem and key.pem).
set -euo pipefail

say() { printf '\033[1mtest-hosts:\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

NET=10.${PGTOPO_TEST_NET:-250}.0
DATA=${PGTOPO_HOSTS_DIR:-/var/lib/pgtopo-hosts}
RUN=/run/pgtopo-hosts

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, bridges, dockerd)"
[[ $NET =~ ^10\.[0-9]{1,3}\.0$ ]] || die "PGTOPO_TEST_NET must be a number 0-255"
cmd=${1:-} name=${2:-}
# Letters only: interface names are pt<NAME><i>, so "h1"+"1" and "h"+"11" cannot collide,
# and the kernel caps them at 15 characters.
[[ $name =~ ^[a-z]{1,8}$ ]] || die "usage: $0 up NAME N | down NAME [--purge] | cut|restore NAME I (NAME: 1-8 lowercase letters)"
br=pt$name

sock() { echo "unix://$RUN/$1/docker.sock"; }
hdocker() { local h=$1; shift; docker -H "$(sock "$h")" "$@"; }
# Bounded: the client waits forever on an engine that is stopped or hung.
answers() { timeout 10 docker -H "$(sock "$1")" info >/dev/null 2>&1; }
# The hosts of NAME that exist in any form (namespace, run dir or interface).
existing_hosts() {
    { ip netns list | awk '{print $1}' | sed -n "s/^pgtopo-\(${name}[0-9]\+\)\$/\1/p"
      find "$RUN" -maxdepth 1 -regex ".*/${name}[0-9]+" -printf '%f\n' 2>/dev/null
      ip -o link show | awk -F': ' '{print $2}' | sed -n "s/^pt\(${name}[0-9]\+\)\(@.*\)\?\$/\1/p"
    } | sort -u
}
forward_rule() { iptables "$1" FORWARD -i "$br" -o "$br" -j ACCEPT; }
# The pid in a host's pidfile while it is that dockerd, alive: pids get reused, and a
# killed one stays a zombie until this machine's init gets round to reaping it.
dockerd_pid() {
    local pid stat
    pid=$(cat "$RUN/$1/docker.pid" 2>/dev/null) || return 0
    stat=$(cut -d' ' -f2,3 "/proc/$pid/stat" 2>/dev/null) || return 0
    if [[ $stat =~ ^\(dockerd\)\ [^ZX]$ ]]; then echo "$pid"; fi
}

start_engine() { # HOST I
    local h=$1 i=$2 dir=$RUN/$1 pid
    pid=$(dockerd_pid "$h")
    if [ -n "$pid" ] && answers "$h"; then return; fi
    started+=("$h") # up's list: these get emptied once they answer
    if [ -n "$pid" ]; then die "$h: dockerd $pid runs but does not answer; run '$0 down $name'"; fi
    # A pidfile naming any live process makes dockerd refuse to start.
    rm -f "$dir/docker.pid"
    mkdir -p "$dir" "$DATA/$h"
    # nsenter, not `ip netns exec`: that remounts /sys and dockerd then finds no devices
    # cgroup. Its own exec root makes it start its own containerd; the containerd namespace
    # and cgroup parent keep it apart even if a system containerd were shared.
    local tcp=()
    if tls_host "$i"; then
        make_tls "$h" "$NET.$((10 + i))"
        tcp=(-H "tcp://$NET.$((10 + i)):2376" --tlsverify --tlscacert "$DATA/$h/tls/ca.pem"
            --tlscert "$DATA/$h/tls/server-cert.pem" --tlskey "$DATA/$h/tls/server-key.pem")
    fi
    nsenter --net="/var/run/netns/pgtopo-$h" setsid -f dockerd \
        --data-root "$DATA/$h/docker" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
        -H "$(sock "$h")" "${tcp[@]}" --bip "172.31.$((100 + i)).1/24" \
        --containerd-namespace "pgtopo-$h" --containerd-plugins-namespace "pgtopo-$h-plugins" \
        --cgroup-parent "/pgtopo-$h" </dev/null >>"$DATA/$h/dockerd.log" 2>&1
}

tls_host() { [[ " ${PGTOPO_TEST_TLS:-} " == *" $1 "* ]]; }

# A CA, the engine's server certificate (for its address) and a client certificate, made
# once per data root: what a tcp:// engine with --tlsverify needs, and its clients.
make_tls() { # HOST ADDRESS
    local d=$DATA/$1/tls
    [ -s "$d/client/key.pem" ] && return 0
    mkdir -p "$d/client"
    chmod 0700 "$d"
    local req=(openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    "${req[@]}" -x509 -days 30 -subj "/CN=pgtopo test CA $1" -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
    "${req[@]}" -subj "/CN=$2" -keyout "$d/server-key.pem" -out "$d/server.csr" 2>/dev/null
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 30 \
        -extfile <(printf 'subjectAltName = IP:%s\nextendedKeyUsage = serverAuth\n' "$2") -out "$d/server-cert.pem" 2>/dev/null
    "${req[@]}" -subj "/CN=pgtopo test client" -keyout "$d/client/key.pem" -out "$d/client.csr" 2>/dev/null
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 30 \
        -extfile <(printf 'extendedKeyUsage = clientAuth\n') -out "$d/client/cert.pem" 2>/dev/null
    cp "$d/ca.pem" "$d/client/ca.pem"
    rm -f "$d"/*.csr
}

wait_engine() {
    local h=$1 deadline=$((SECONDS + 60))
    until answers "$h"; do
        if [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$DATA/$h/dockerd.log" >&2
            die "$h: dockerd did not answer at $(sock "$h") within 60 s (log: $DATA/$h/dockerd.log)"
        fi
        sleep 0.5
    done
}

# One save per image, loaded into every host that lacks that exact image ID.
copy_images() {
    local img id h need tar=$DATA/.$name-image.tar
    for img in ${PGTOPO_TEST_IMAGES:-}; do
        id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || die "image $img is not in the main engine"
        need=()
        for h in "$@"; do
            [ "$(hdocker "$h" image inspect -f '{{.Id}}' "$img" 2>/dev/null)" = "$id" ] || need+=("$h")
        done
        [ ${#need[@]} -gt 0 ] || continue
        say "copying $img into ${need[*]}"
        docker save -o "$tar" "$img"
        for h in "${need[@]}"; do hdocker "$h" load -q -i "$tar" >&2; done
        rm -f "$tar"
    done
}

up() {
    local n=$1 i h hosts=() started=()
    [[ $n =~ ^[1-9][0-9]?$ ]] || die "N must be 1..99"
    # Two bridges with the same subnet would steal each other's routes.
    if ip -o -4 addr show | awk -v b="$br" '$2 != b' | grep -qF " $NET.1/"; then
        die "$NET.1 is already on another interface: give NAME its own PGTOPO_TEST_NET"
    fi
    ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
    ip addr replace "$NET.1/24" dev "$br"
    ip link set "$br" up
    # The main dockerd sets FORWARD's policy to DROP, which drops bridged traffic between
    # the namespaces once br_netfilter is loaded.
    forward_rule -C 2>/dev/null || forward_rule -I
    for i in $(seq 1 "$n"); do
        h=$name$i hosts+=("$h")
        [ -e "/var/run/netns/pgtopo-$h" ] || ip netns add "pgtopo-$h"
        if ! ip link show "pt$h" >/dev/null 2>&1; then
            ip link add "pt$h" type veth peer name "pt${h}p" netns "pgtopo-$h"
        fi
        ip link set "pt$h" master "$br" up
        ip -n "pgtopo-$h" link set lo up
        ip -n "pgtopo-$h" addr replace "$NET.$((10 + i))/24" dev "pt${h}p"
        ip -n "pgtopo-$h" link set "pt${h}p" up
        ip -n "pgtopo-$h" route replace default via "$NET.1"
        start_engine "$h" "$i"
    done
    for h in "${hosts[@]}"; do wait_engine "$h"; done
    # What a crashed engine left in its data root, which `down` could not empty.
    for h in "${started[@]}"; do empty_engine "$h"; done
    copy_images "${hosts[@]}"
    for i in $(seq 1 "$n"); do
        if tls_host "$i"; then
            echo "$name$i tcp://$NET.$((10 + i)):2376 $NET.$((10 + i)) $DATA/$name$i/tls/client"
        else
            echo "$name$i $(sock "$name$i") $NET.$((10 + i))"
        fi
    done
}

# Tests expect fresh hosts: only images survive into the next `up`.
empty_engine() {
    hdocker "$1" ps -aq | xargs -r docker -H "$(sock "$1")" rm -f -v >/dev/null
    hdocker "$1" volume prune -f >/dev/null
    hdocker "$1" network prune -f >/dev/null
}

# SIGTERM without waiting, so that the engines' few seconds of shutdown overlap.
stop_engine() {
    local h=$1 pid
    if answers "$h"; then empty_engine "$h"; fi
    pid=$(dockerd_pid "$h")
    if [ -n "$pid" ]; then kill "$pid"; fi
}

# Everything of one host but its data root, once its dockerd is gone (killed at DEADLINE).
remove_host() {
    local h=$1 deadline=$2 dir=$RUN/$1 pid
    while pid=$(dockerd_pid "$h") && [ -n "$pid" ]; do
        if [ $SECONDS -ge "$deadline" ]; then say "$h: dockerd $pid did not stop in 20 s, killing it"; kill -9 "$pid" || true; fi
        sleep 0.2
    done
    # After a kill: its containerd and shims (in the host's namespace) and any container
    # processes (in its cgroup parent).
    if [ -e "/var/run/netns/pgtopo-$h" ]; then ip netns pids "pgtopo-$h" | xargs -r kill -9; fi
    cat /sys/fs/cgroup/*/"pgtopo-$h"/*/cgroup.procs 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    sleep 0.2
    find /sys/fs/cgroup/*/"pgtopo-$h" -depth -type d -exec rmdir {} + 2>/dev/null || true
    # Overlay, shm and netns mounts left behind: unmount before anything is deleted.
    awk -v a="$dir/" -v b="$DATA/$h/" 'index($5, a) == 1 || index($5, b) == 1 {print $5}' \
        /proc/self/mountinfo | sort -r | xargs -r umount -l
    if [ -e "/var/run/netns/pgtopo-$h" ]; then ip netns del "pgtopo-$h"; fi
    # The namespace's deletion takes its veth pair with it, later (the kernel tears a
    # namespace down in the background, slower on a busy machine): a link seen here may be
    # gone by the time it is deleted. Only one that is still there is an error.
    ip link del "pt$h" 2>/dev/null || ! ip link show "pt$h" >/dev/null 2>&1 || die "$h: could not remove its link pt$h"
    rm -rf "$dir"
}

down() {
    local h hosts deadline=$((SECONDS + 20))
    hosts=$(existing_hosts)
    for h in $hosts; do stop_engine "$h"; done
    for h in $hosts; do remove_host "$h" "$deadline"; done
    if [ "${1:-}" = --purge ]; then
        find "$DATA" -maxdepth 1 -regex ".*/${name}[0-9]+" -exec rm -rf {} + 2>/dev/null || true
    fi
    while forward_rule -C 2>/dev/null; do forward_rule -D; done
    if ip link show "$br" >/dev/null 2>&1; then ip link del "$br"; fi
    say "hosts of '$name' are down"
}

case $cmd in
    up) up "${3:?N}" ;;
    down) down "${3:-}" ;;
    cut | restore)
        [[ ${3:-} =~ ^[0-9]+$ ]] || die "$cmd NAME I: I must be a host number"
        state=down; [ "$cmd" = restore ] && state=up
        ip link set "pt$name$3" "$state"
        # The engine is reached over a Unix socket on this machine, which a cut link does not
        # stop: moving the socket aside makes it unreachable the way a lost host's is.
        # `restore` puts back whatever was moved aside, --engine or not.
        sock=$RUN/$name$3/docker.sock
        if [ "$cmd" = cut ] && [ "${4:-}" = --engine ]; then mv "$sock" "$sock.cut"; fi
        if [ "$cmd" = restore ] && [ -e "$sock.cut" ]; then mv "$sock.cut" "$sock"; fi ;;
    *) die "unknown command '$cmd' (up, down, cut, restore)" ;;
esac
