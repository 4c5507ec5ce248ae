#!/usr/bin/env bash
# A Hark cluster on one machine, on loopback: two of each service (hark portal, router,
# notifier, ivr), Kamailio as the SIP dispatcher in front of the two IVRs, one PostgreSQL and
# one RabbitMQ (the machine's own, started if they are not running), and an SMTP relay
# (aiosmtpd, writing to a Maildir). docs/OPERATIONS.md describes the same layout on real hosts.
#
#   scripts/cluster.sh start     build (release), migrate, seed demo users, start everything
#                                (again on a running cluster: starts only what is not running)
#   scripts/cluster.sh status    each process's /readyz
#   scripts/cluster.sh stop      SIGTERM everything it started (Kamailio with all its workers),
#                                and wait
#
# Everything lives in $HARK_CLUSTER_DIR (default ./hark-cluster): the shared data folder
# (blobs, spool), keys, logs, pid files, the relay's Maildir. Call it on sip:*102@127.0.0.1:5060
# (through Kamailio), browse http://127.0.0.1:8081 or :8082 (users 101-104, password hark-demo).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${HARK_CLUSTER_DIR:-$PWD/hark-cluster}
HARK=${HARK_BIN:-$PWD/target/release/hark}
DB_NAME=${HARK_CLUSTER_DB:-hark_cluster}
PG_ADMIN=${HARK_CLUSTER_PG:-postgres://postgres@127.0.0.1:5432/postgres}
AMQP=${HARK_CLUSTER_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
SIP_PORT=5060 SMTP_PORT=2525

# name service port ops-port rtp-min rtp-max
PROCS=(
  "portal1 portal 8081 9101"
  "portal2 portal 8082 9102"
  "router1 router - 9103"
  "router2 router - 9104"
  "notifier1 notifier - 9105"
  "notifier2 notifier - 9106"
  "ivr1 ivr 5071 9107 20000 24999"
  "ivr2 ivr 5072 9108 25000 29999"
)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 120); do port_open "$1" && return 0; sleep 0.5; done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

start_backing_services() {
  if ! port_open 5432; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    wait_port 5432
  fi
  if ! port_open 5672; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    wait_port 5672
  fi
  if ! psql "$PG_ADMIN" -qAtc "select 1 from pg_database where datname = '$DB_NAME'" | grep -q 1; then
    psql "$PG_ADMIN" -qc "CREATE DATABASE $DB_NAME"
  fi
}

secret() { # a 64-hex-digit key kept in $DIR, made once
  local f="$DIR/$1"
  [[ -s $f ]] || (umask 077 && openssl rand -hex 32 >"$f")
  cat "$f"
}

common_env() {
  local base=${PG_ADMIN%/*}
  export HARK_DATABASE__URL="$base/$DB_NAME"
  export HARK_BUS__URL="$AMQP"
  export HARK_BLOBS__KEY; HARK_BLOBS__KEY=$(secret blob.key)
  export HARK_LINKS__SECRET; HARK_LINKS__SECRET=$(secret link.key)
  export HARK_LINKS__PUBLIC_URL=http://127.0.0.1:8081
  export HARK_NOTIFIER__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
  export HARK_DATA_DIR="$DIR/data"   # shared by every node: blobs and the IVR spool
  export RUST_LOG=${RUST_LOG:-info,actix_server=warn,lapin=warn}
}

# Kamailio forks its workers, and the workers outlive a killed main process (still holding the
# SIP port): Kamailio runs in a process group of its own (setsid makes its pid the group's id),
# run/kamailio.pid holds that id, and the whole group is ended. (tests/support/kamailio.rs
# does the same.)
is_kamailio() { # $1 a pid: a running Kamailio (not a zombie)?
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $stat != Z* ]] \
    && [[ $(ps -o comm= -p "$1" 2>/dev/null) == kamailio ]]
}

kamailio_pids() { # $1 a process group: the running Kamailio processes in it
  local p
  for p in $(pgrep -x -g "$1" kamailio); do
    if is_kamailio "$p"; then echo "$p"; fi
  done
}

kamailio_recorded() { # print the group in run/kamailio.pid while a Kamailio of it is left
  local pgid
  pgid=$(cat "$DIR/run/kamailio.pid" 2>/dev/null) || return 1
  [[ $pgid =~ ^[1-9][0-9]*$ && -n $(kamailio_pids "$pgid") ]] && echo "$pgid"
}

kamailio_group() { # print that group while its main process runs
  local pgid
  pgid=$(kamailio_recorded) && kill -0 "$pgid" 2>/dev/null && is_kamailio "$pgid" && echo "$pgid"
}

stop_kamailio() { # SIGTERM to the recorded group, SIGKILL after 30 s; wait until it is gone
  local pgid
  if pgid=$(kamailio_recorded); then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 60); do [[ -n $(kamailio_pids "$pgid") ]] || break; sleep 0.5; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 20); do [[ -n $(kamailio_pids "$pgid") ]] || break; sleep 0.5; done
  fi
  rm -f "$DIR/run/kamailio.pid"
}

start_kamailio() {
  local pgid pid modules
  if pgid=$(kamailio_group); then
    echo "kamailio already running"
    return 0
  fi
  stop_kamailio   # workers left by a main process that died, and the stale pid file
  if port_open $SIP_PORT; then
    echo "something else listens on 127.0.0.1:$SIP_PORT; Kamailio not started" >&2
    return 1
  fi
  modules=$(dirname "$(dpkg -L kamailio | grep '/dispatcher.so$' | head -1)")/
  printf '1 sip:127.0.0.1:5071\n1 sip:127.0.0.1:5072\n' >"$DIR/run/dispatcher.list"
  sed -e "s|@LISTEN@|127.0.0.1:$SIP_PORT|" -e "s|@MODULES@|$modules|" \
    -e "s|@LIST@|$DIR/run/dispatcher.list|" -e "s|@RUNDIR@|$DIR/run|" \
    scripts/cluster/kamailio.cfg >"$DIR/run/kamailio.cfg"
  setsid kamailio -f "$DIR/run/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$DIR/run" -w "$DIR/run" \
    </dev/null >>"$DIR/logs/kamailio.log" 2>&1 &
  pid=$!
  # The pid file is written only once this Kamailio listens, so a start that fails (the port
  # taken, a bad configuration) never replaces it.
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    if port_open $SIP_PORT; then
      if [[ $(ps -o pgid= -p "$pid" | tr -d ' ') == "$pid" ]]; then
        echo "$pid" >"$DIR/run/kamailio.pid"
        return 0
      fi
      echo "kamailio is not in a process group of its own" >&2
      break
    fi
    sleep 0.5
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "kamailio did not start; see $DIR/logs/kamailio.log:" >&2
  tail -n 5 "$DIR/logs/kamailio.log" >&2
  return 1
}

start() {
  mkdir -p "$DIR/logs" "$DIR/run" "$DIR/mail/tmp" "$DIR/mail/new" "$DIR/mail/cur"
  [[ -x $HARK ]] || cargo build --release --bin hark
  start_backing_services
  common_env
  "$HARK" migrate --demo

  if ! port_open $SMTP_PORT; then
    /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:$SMTP_PORT -c aiosmtpd.handlers.Mailbox "$DIR/mail" \
      >"$DIR/logs/smtp.log" 2>&1 &
    echo $! >"$DIR/run/smtp.pid"
    wait_port $SMTP_PORT
  fi

  for p in "${PROCS[@]}"; do
    read -r name service port ops rtp_min rtp_max <<<"$p"
    if [[ -f $DIR/run/$name.pid ]] && kill -0 "$(cat "$DIR/run/$name.pid")" 2>/dev/null; then
      echo "$name already running"
      continue
    fi
    (
      export HARK_OPS__LISTEN=127.0.0.1:$ops
      case $service in
        portal) export HARK_PORTAL__LISTEN=127.0.0.1:$port ;;
        ivr)
          export HARK_IVR__SIP_LISTEN=127.0.0.1:$port
          # Every call comes through Kamailio: exempt it from the per-source limits.
          export HARK_IVR__TRUSTED_SOURCES="[\"127.0.0.1:$SIP_PORT\"]"
          export HARK_IVR__RTP_PORT_MIN=$rtp_min HARK_IVR__RTP_PORT_MAX=$rtp_max
          ;;
      esac
      exec "$HARK" "$service" >>"$DIR/logs/$name.log" 2>&1
    ) &
    echo $! >"$DIR/run/$name.pid"
  done
  for p in "${PROCS[@]}"; do
    read -r name _ _ ops _ <<<"$p"
    for _ in $(seq 1 120); do
      curl -fs "http://127.0.0.1:$ops/readyz" >/dev/null && break
      sleep 0.5
    done
    curl -fs "http://127.0.0.1:$ops/readyz" >/dev/null || {
      echo "$name is not ready; see $DIR/logs/$name.log" >&2
      exit 1
    }
  done

  start_kamailio
  status
  cat <<EOF

Hark cluster up. SIP: sip:*102@127.0.0.1:$SIP_PORT (Kamailio → IVRs on 5071 and 5072);
portals http://127.0.0.1:8081 and http://127.0.0.1:8082 (101-104, password hark-demo, PIN 1234);
e-mail in $DIR/mail; logs in $DIR/logs. Stop with: scripts/cluster.sh stop
EOF
}

status() {
  printf '%-10s %-8s %-6s %s\n' PROCESS PID READY 'HEALTH AND METRICS'
  for p in "${PROCS[@]}"; do
    read -r name _ _ ops _ <<<"$p"
    pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || echo -)
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops/readyz" || true)
    printf '%-10s %-8s %-6s http://127.0.0.1:%s/{healthz,readyz,metrics}\n' "$name" "$pid" "$code" "$ops"
  done
  up=up
  pgid=$(kamailio_group) || { pgid=$(cat "$DIR/run/kamailio.pid" 2>/dev/null || echo -); up=down; }
  printf '%-10s %-8s %-6s udp/tcp 127.0.0.1:%s\n' kamailio "$pgid" "$up" $SIP_PORT
}

stop() {
  stop_kamailio   # first: no new calls for the IVRs
  for f in "$DIR"/run/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$DIR"/run/*.pid; do
    [[ -e $f ]] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  echo "stopped"
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
