# Generated from contract/image.ts by `npm run contract`: do not edit. The contract
# between this image and the pgtopo program (paths, names, exit codes).
# Sourced by the image's scripts and the program's own; once per shell is enough.
[ -z "${PGTOPO_PATH_VOLUME:-}" ] || return 0
readonly PGTOPO_PATH_VOLUME=/var/lib/postgresql/data
readonly PGTOPO_PATH_PGDATA=/var/lib/postgresql/data/pgdata
readonly PGTOPO_PATH_POSTGRES_HOME=/var/lib/postgresql
readonly PGTOPO_PATH_SOCKET_DIR=/var/run/postgresql
readonly PGTOPO_PATH_TLS=/etc/pgtopo/tls
readonly PGTOPO_PATH_TLS_IN_VOLUME=/var/lib/postgresql/data/tls
readonly PGTOPO_PATH_SPOOL=/var/lib/postgresql/data/pgbackrest-spool
readonly PGTOPO_PATH_REPOSITORY=/var/lib/pgbackrest
readonly PGTOPO_PATH_RESTORE_SOURCE=/var/lib/pgbackrest-source
readonly PGTOPO_PATH_REPOSITORY_CA=/etc/pgtopo/repository-ca.crt
readonly PGTOPO_PATH_ETC=/etc/pgtopo
readonly PGTOPO_PATH_WAITING_PID_FILE=/run/pgtopo-waiting.pid
readonly PGTOPO_PATH_STREAMING_STATE=/run/pgtopo-streaming
readonly PGTOPO_DIVERGED_PREFIX=pgdata.diverged-
readonly PGTOPO_STANZA=pgtopo
readonly PGTOPO_SCRIPT_READY=pgtopo-ready
readonly PGTOPO_EXIT_RESTART_NEEDED=3
readonly PGTOPO_EXIT_NO_REWIND_NEEDED=10
readonly PGTOPO_EXIT_PAUSE_TIMED_OUT=4
readonly PGTOPO_EXIT_NOT_READY=5
readonly PGTOPO_CURRENT_TIMELINE_SQL='('\''x'\'' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int'
readonly PGTOPO_BOOTSTRAP_FAILED_MARKER_PREFIX="${TMPDIR:-/tmp}/pgtopo-bootstrap-failed."
readonly PGTOPO_HOME_DOCKER_TLS_DIR=docker-tls
readonly PGTOPO_HOME_GONE_DIR=gone
