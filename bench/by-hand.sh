#!/usr/bin/env bash
# The tutorials' way, as a baseline for bench/converge.ts: a primary, a standby and a
# standby of that standby, made with plain docker commands, initdb and pg_basebackup
# -R -C -S (seed 000's steps), in the same node image so that image build is out of the
# comparison. Passwords are generated (or taken from PGTOPO_BENCH_PASSWORD, for a bench
# that logs in as postgres on the published ports); nothing uses trust.
#   bench/by-hand.sh up NAME PORT1 PORT2 PORT3     bench/by-hand.sh down NAME
set -euo pipefail
action=$1
name=$2
image=${PGTOPO_BENCH_IMAGE:-pgtopo/postgres:15}
pgbin=/usr/lib/postgresql/15/bin

if [ "$action" = down ]; then
    docker rm -f "$name-a" "$name-b" "$name-c" >/dev/null 2>&1 || true
    docker volume rm "$name-a" "$name-b" "$name-c" >/dev/null 2>&1 || true
    docker network rm "$name" >/dev/null 2>&1 || true
    exit 0
fi

ports=("$3" "$4" "$5")
password=${PGTOPO_BENCH_PASSWORD:-$(head -c 600 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | head -c 32)}
docker network create "$name" >/dev/null
run_pg() { # container volume port command...
    local c=$1 v=$2 p=$3
    shift 3
    docker run -d --name "$c" --network "$name" --network-alias "$c" -p "127.0.0.1:$p:5432" \
        -v "$v:/var/lib/postgresql/data" -e PGPASSWORD="$password" --user postgres --entrypoint bash "$image" -c "$*" >/dev/null
}
wait_ready() {
    until docker exec "$1" pg_isready -q -h /var/run/postgresql 2>/dev/null; do sleep 0.2; done
}

# primary: initdb, a replication role, pg_hba for the network, start.
docker volume create "$name-a" >/dev/null
run_pg "$name-a" "$name-a" "${ports[0]}" "
  $pgbin/initdb -D /var/lib/postgresql/data/pgdata -k --auth-host=scram-sha-256 --auth-local=peer >/dev/null &&
  echo \"host replication replicator samenet scram-sha-256\" >> /var/lib/postgresql/data/pgdata/pg_hba.conf &&
  echo \"host all all samenet scram-sha-256\" >> /var/lib/postgresql/data/pgdata/pg_hba.conf &&
  exec $pgbin/postgres -D /var/lib/postgresql/data/pgdata -c listen_addresses='*'"
wait_ready "$name-a"
docker exec "$name-a" psql -q -c "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$password'" \
    -c "ALTER ROLE postgres PASSWORD '$password'"

# standby b of a, and standby c of b (the cascade), each cloned with its own slot.
clone_and_start() { # node upstream port
    docker volume create "$name-$1" >/dev/null
    run_pg "$name-$1" "$name-$1" "$3" "
      $pgbin/pg_basebackup -h $name-$2 -U replicator -D /var/lib/postgresql/data/pgdata -X stream -R -C -S slot_$1 &&
      chmod 700 /var/lib/postgresql/data/pgdata &&
      exec $pgbin/postgres -D /var/lib/postgresql/data/pgdata -c listen_addresses='*'"
    wait_ready "$name-$1"
}
clone_and_start b a "${ports[1]}"
clone_and_start c b "${ports[2]}"
# done when c streams from b
until [ "$(docker exec "$name-b" psql -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; do sleep 0.2; done
