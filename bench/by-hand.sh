#!/usr/bin/env bash
# The tutorials' way, as a baseline for bench/converge.ts: a primary, a standby and a
# standby of that standby, made with plain docker commands, initdb and pg_basebackup
# -R -C -S (seed 000's steps), in the same node image so that image build is out of the
# comparison. Passwords are generated (or taken from PGTOPO_BENCH_PASSWORD, for a bench
# that logs in as postgres on the published ports); nothing uses trust.
#   bench/by-hand.sh up NAME PORT1 PORT2 PORT3     all of it, one step after the other
#   bench/by-hand.sh down NAME
# The same steps one at a time (bench/floor runs each as a Pulumi Command):
#   bench/by-hand.sh primary NAME PORT             network, volume, initdb, start, roles
#   bench/by-hand.sh standby NAME NODE UPSTREAM PORT
#   bench/by-hand.sh streaming NAME NODE           until NODE has one streaming standby
set -euo pipefail
action=$1
name=$2
image=${PGTOPO_BENCH_IMAGE:-pgtopo/postgres:15}
pgbin=/usr/lib/postgresql/15/bin
# One password per cluster, kept beside it while it exists: the standby steps need it.
pwfile=/tmp/pgtopo-by-hand-$name.password

down() {
    docker rm -f "$name-a" "$name-b" "$name-c" >/dev/null 2>&1 || true
    docker volume rm "$name-a" "$name-b" "$name-c" >/dev/null 2>&1 || true
    docker network rm "$name" >/dev/null 2>&1 || true
    rm -f "$pwfile"
}

run_pg() { # container volume port command...
    local c=$1 v=$2 p=$3
    shift 3
    docker run -d --name "$c" --network "$name" --network-alias "$c" -p "127.0.0.1:$p:5432" \
        -v "$v:/var/lib/postgresql/data" -e PGPASSWORD="$(cat "$pwfile")" --user postgres --entrypoint bash "$image" -c "$*" >/dev/null
}
wait_ready() {
    until docker exec "$1" pg_isready -q -h /var/run/postgresql 2>/dev/null; do sleep 0.2; done
}

# primary: initdb, a replication role, pg_hba for the network, start.
primary() { # port
    (umask 077 && printf '%s' "${PGTOPO_BENCH_PASSWORD:-$(head -c 600 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 32)}" >"$pwfile")
    docker network create "$name" >/dev/null
    docker volume create "$name-a" >/dev/null
    run_pg "$name-a" "$name-a" "$1" "
      $pgbin/initdb -D /var/lib/postgresql/data/pgdata -k --auth-host=scram-sha-256 --auth-local=peer >/dev/null &&
      echo \"host replication replicator samenet scram-sha-256\" >> /var/lib/postgresql/data/pgdata/pg_hba.conf &&
      echo \"host all all samenet scram-sha-256\" >> /var/lib/postgresql/data/pgdata/pg_hba.conf &&
      exec $pgbin/postgres -D /var/lib/postgresql/data/pgdata -c listen_addresses='*'"
    wait_ready "$name-a"
    docker exec "$name-a" psql -q -c "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$(cat "$pwfile")'" \
        -c "ALTER ROLE postgres PASSWORD '$(cat "$pwfile")'"
}

# a standby of its upstream, cloned with its own slot.
standby() { # node upstream port
    docker volume create "$name-$1" >/dev/null
    run_pg "$name-$1" "$name-$1" "$3" "
      $pgbin/pg_basebackup -h $name-$2 -U replicator -D /var/lib/postgresql/data/pgdata -X stream -R -C -S slot_$1 &&
      chmod 700 /var/lib/postgresql/data/pgdata &&
      exec $pgbin/postgres -D /var/lib/postgresql/data/pgdata -c listen_addresses='*'"
    wait_ready "$name-$1"
}

streaming() { # node: until it has one streaming standby
    until [ "$(docker exec "$name-$1" psql -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; do sleep 0.2; done
}

case "$action" in
down) down ;;
primary) primary "$3" ;;
standby) standby "$3" "$4" "$5" ;;
streaming) streaming "$3" ;;
up)
    primary "$3"
    standby b a "$4"
    standby c b "$5"
    streaming b # done when c streams from b
    ;;
*) echo "usage: by-hand.sh up|down|primary|standby|streaming NAME ..." >&2 && exit 2 ;;
esac
