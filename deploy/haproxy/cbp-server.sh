#!/usr/bin/env bash
# Take one gunicorn instance out of HAProxy's rotation and put it back, through the runtime API
# (haproxy.cfg's admin socket), so that a restart fails no request (docs/operations.md,
# "Application deployment"; drilled by tests/drills/test_rolling_restart.py).
#
#   cbp-server.sh drain BACKEND/SERVER            stop sending it new requests, wait until the
#                                                 ones in flight are answered, then maintenance
#   cbp-server.sh ready BACKEND/SERVER HOST:PORT  wait until the instance's own /ready is 200,
#                                                 put it back, wait until HAProxy sees it UP
#   cbp-server.sh show                            each server's state and sessions in flight
#
# Between the two: stop the instance with SIGTERM (gunicorn answers what it holds and exits)
# and start the new one. Needs socat. CBP_HAPROXY_SOCKET names the socket (default
# /run/haproxy/cbp-admin.sock); CBP_SERVER_TIMEOUT bounds each wait (default 60 s).
set -euo pipefail

SOCKET=${CBP_HAPROXY_SOCKET:-/run/haproxy/cbp-admin.sock}
TIMEOUT=${CBP_SERVER_TIMEOUT:-60}

api() { echo "$*" | socat -t 5 stdio "UNIX-CONNECT:${SOCKET}"; }

# "<sessions in flight> <status>" of BACKEND/SERVER, from `show stat` (CSV: 5 scur, 18 status).
server_stat() {
  local backend=${1%%/*} server=${1#*/}
  api "show stat" | awk -F, -v b="$backend" -v s="$server" '$1 == b && $2 == s { print $5, $18 }'
}

wait_for() { # wait_for DESCRIPTION COMMAND...: retry COMMAND every 0.2 s up to TIMEOUT seconds
  local what=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "cbp-server: gave up after ${TIMEOUT} s waiting for ${what}" >&2
      return 1
    fi
    sleep 0.2
  done
}

idle() { [ "$(server_stat "$1" | cut -d' ' -f1)" = "0" ]; }
up() { server_stat "$1" | grep -q ' UP'; }

ready_200() { # the instance's own /ready, over bash's /dev/tcp (no curl needed)
  local host=${1%:*} port=${1##*:} line
  exec 3<>"/dev/tcp/${host}/${port}" 2>/dev/null || return 1
  printf 'GET /ready HTTP/1.0\r\nHost: %s\r\n\r\n' "${CBP_HEALTH_HOST:-localhost}" >&3
  IFS= read -r -t 2 line <&3 || line=""
  exec 3<&-
  [[ $line == "HTTP/1."?" 200"* ]]
}

case "${1:-}" in
  drain)
    server=${2:?usage: cbp-server.sh drain BACKEND/SERVER}
    [ -n "$(server_stat "$server")" ] || { echo "cbp-server: no server $server" >&2; exit 1; }
    api "set server $server state drain" >/dev/null
    wait_for "$server to finish its requests" idle "$server"
    api "set server $server state maint" >/dev/null
    echo "$server: drained, in maintenance"
    ;;
  ready)
    server=${2:?usage: cbp-server.sh ready BACKEND/SERVER HOST:PORT}
    address=${3:?usage: cbp-server.sh ready BACKEND/SERVER HOST:PORT}
    wait_for "$address/ready to answer 200" ready_200 "$address"
    api "set server $server state ready" >/dev/null
    wait_for "HAProxy to see $server UP" up "$server"
    echo "$server: ready, UP"
    ;;
  show)
    api "show stat" | awk -F, 'NR > 1 && $2 != "FRONTEND" && $2 != "BACKEND" { print $1 "/" $2, "status=" $18, "in_flight=" $5 }'
    ;;
  *)
    echo "usage: cbp-server.sh drain|ready|show ..." >&2
    exit 2
    ;;
esac
