# Generated from contract/image.ts by `npm run contract`: do not edit. The contract
# between the router image and the pgtopo program (paths, ports, names, exit codes).
[ -z "${ROUTER_RUNTIME_DIR:-}" ] || return 0
readonly ROUTER_RUNTIME_DIR=/run/pgtopo-router
readonly ROUTER_TARGETS_FILE=/var/lib/pgtopo-router/targets
readonly ROUTER_TLS_VOLUME=/etc/pgtopo/tls
declare -rA ROUTER_PORT=([rw]=6432 [ro]=6433)
readonly ROUTER_AUTH_USER=pgtopo_router
readonly ROUTER_AUTH_DBNAME=postgres
readonly ROUTER_EXIT_PAUSE_TIMED_OUT=4
