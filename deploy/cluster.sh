#!/usr/bin/env bash
# Three gunicorn instances behind nginx on this machine, and the mail sender
# (`flask mail send`) as a process of its own: `cluster.sh start|stop|status`.
#
# start is idempotent: it migrates the schema, then starts whichever of the
# three instances and nginx is not already running. stop ends all of them
# with SIGTERM (in-flight requests finish), waits, and kills what remains of
# each process group, so nothing is left behind.
#
# Settings (environment):
#   CLUSTER_PORT        HTTPS port of nginx on 127.0.0.1 (8443)
#   CLUSTER_HTTP_PORT   plain HTTP port that redirects to HTTPS (8080)
#   CLUSTER_APP_PORTS   the instances' three ports ("8001 8002 8003")
#   CLUSTER_STATE_DIR   pid files, logs, generated secret and certificate, Prometheus and
#                       logrotate configs (instance/cluster)
#   DATABASE_URL, REDIS_URL, SECRET_KEY, TLS_CERT, TLS_KEY, WEB_CONCURRENCY (2 per instance),
#   MAX_CONTENT_LENGTH, GUNICORN_GRACEFUL_TIMEOUT, and every other app setting.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/.venv/bin}"
STATE="${CLUSTER_STATE_DIR:-$ROOT/instance/cluster}"
HTTPS_PORT="${CLUSTER_PORT:-8443}"
HTTP_PORT="${CLUSTER_HTTP_PORT:-8080}"
read -r -a APP_PORTS <<< "${CLUSTER_APP_PORTS:-8001 8002 8003}"
GRACEFUL="${GUNICORN_GRACEFUL_TIMEOUT:-30}"

say() { echo "cluster: $*" >&2; }
fail() { say "$*"; exit 1; }

# The pid in $1 when that process is alive: a killed one that its parent
# has not reaped yet (a zombie) is not, though kill -0 still finds it.
running_pid() {
    local pid state
    [[ -f "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
    [[ "$state" != Z* ]] && echo "$pid"
}

# Whether anything but zombies is left of the session led by pid $1
# (pgrep would count zombies not yet reaped as alive).
# shellcheck disable=SC2009
group_alive() { ps -s "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_tools() {
    command -v nginx >/dev/null \
        || fail "nginx is not installed; install it first: apt-get install -y nginx"
    command -v openssl >/dev/null \
        || fail "openssl is not installed; install it first: apt-get install -y openssl"
    command -v curl >/dev/null \
        || fail "curl is not installed; install it first: apt-get install -y curl"
    [[ -x "$BIN/gunicorn" ]] || fail "$BIN/gunicorn not found; run make install first"
    [[ ${#APP_PORTS[@]} -eq 3 ]] || fail "CLUSTER_APP_PORTS must list three ports"
}

secret_key() {
    if [[ -n "${SECRET_KEY:-}" ]]; then
        return
    fi
    if [[ ! -s "$STATE/secret_key" ]]; then
        (umask 077 && openssl rand -hex 32 > "$STATE/secret_key")
        say "generated a SECRET_KEY for this local cluster in $STATE/secret_key"
    fi
    SECRET_KEY="$(cat "$STATE/secret_key")"
    export SECRET_KEY
}

certificate() {
    if [[ -n "${TLS_CERT:-}" || -n "${TLS_KEY:-}" ]]; then
        [[ -r "${TLS_CERT:-}" && -r "${TLS_KEY:-}" ]] \
            || fail "TLS_CERT and TLS_KEY must both name readable files"
        return
    fi
    TLS_CERT="$STATE/tls/cert.pem"
    TLS_KEY="$STATE/tls/key.pem"
    if [[ ! -s "$TLS_CERT" || ! -s "$TLS_KEY" ]]; then
        mkdir -p "$STATE/tls"
        (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
            -nodes -days 30 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null)
        say "generated a self-signed certificate for localhost: $TLS_CERT"
    fi
}

# Write the configuration for this cluster to $1: the template real servers
# use, on 127.0.0.1, with logs and temp folders in the state directory.
render_nginx_config() {
    mkdir -p "$STATE/nginx/temp"
    NGINX_LISTEN=127.0.0.1 NGINX_HTTPS_PORT="$HTTPS_PORT" NGINX_HTTP_PORT="$HTTP_PORT" \
        NGINX_SERVER_NAME=_ NGINX_UPSTREAMS="${APP_PORTS[*]/#/127.0.0.1:}" \
        NGINX_LOG_DIR="$STATE/nginx" NGINX_TEMP_DIR="$STATE/nginx/temp" NGINX_USER="nobody nogroup" \
        TLS_CERT="$TLS_CERT" TLS_KEY="$TLS_KEY" deploy/render-nginx.sh > "$1"
}

# The Prometheus config of these instances, CLUSTER_STATE_DIR/prometheus.yml:
# deploy/prometheus/cluster.yml with their ports and the absolute path of the
# alert rules.
write_prometheus_config() {
    local targets
    targets="$(printf '"127.0.0.1:%s", ' "${APP_PORTS[@]}")"
    sed -e "s|^\(      - targets: \).*|\1[${targets%, }]|" \
        -e "s|^  - alerts.yml$|  - $ROOT/deploy/prometheus/alerts.yml|" \
        deploy/prometheus/cluster.yml > "$STATE/prometheus.yml"
}

# logrotate's config for the logs of this cluster, CLUSTER_STATE_DIR/logrotate.conf.
write_logrotate_config() {
    sed -e "s|@STATE@|$STATE|g" deploy/logrotate.conf.template > "$STATE/logrotate.conf"
}

# Poll $1 (a URL) until it answers 200, while pid $2 lives; curl -k because
# this only asks our own nginx whether it is up, not who it is.
wait_healthy() {
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -ksf -o /dev/null --max-time 2 "$1" && return 0
        sleep 0.2
    done
    return 1
}

start_instance() {
    local n="$1" port="$2" pid
    if pid="$(running_pid "$STATE/instance-$n.pid")"; then
        say "instance $n already running (pid $pid, port $port)"
        return
    fi
    # A dead instance's pid file is stale; gunicorn would take the pid of a
    # killed master not yet reaped for a live one and refuse to start.
    rm -f "$STATE/instance-$n.pid"
    # setsid: each instance leads its own process group, which stop and the
    # tests signal as a whole (master and workers). Metrics files are per
    # instance: /metrics of one instance adds up its own workers only.
    HOST=127.0.0.1 PORT="$port" \
        PROMETHEUS_MULTIPROC_DIR="$STATE/metrics-$n" \
        setsid --fork "$BIN/python" -m serving --config deploy/gunicorn.prod.py \
        --pid "$STATE/instance-$n.pid" --control-socket "$STATE/instance-$n.ctl" wsgi:app \
        >>"$STATE/instance-$n.log" 2>&1 </dev/null
}

wait_instance() {
    local n="$1" port="$2" pid=""
    for _ in $(seq 50); do
        pid="$(running_pid "$STATE/instance-$n.pid")" && break
        sleep 0.1
    done
    if [[ -z "$pid" ]] || ! wait_healthy "http://127.0.0.1:$port/health" "$pid"; then
        tail -n 20 "$STATE/instance-$n.log" >&2 || true
        return 1
    fi
    say "instance $n up on 127.0.0.1:$port (pid $pid)"
}

# The mail sender, as in production: the instances run none (APP_ENV=production
# turns MAIL_SENDER_IN_WORKERS off). In the background without job control,
# setsid makes this very process lead its own group, so $! is its pid.
start_mail_sender() {
    local pid
    if pid="$(running_pid "$STATE/mail-sender.pid")"; then
        say "mail sender already running (pid $pid)"
        return
    fi
    setsid "$BIN/flask" mail send >>"$STATE/mail-sender.log" 2>&1 </dev/null &
    echo $! >"$STATE/mail-sender.pid"
    say "mail sender up (pid $!)"
}

start_nginx() {
    local pid
    # What only this local run needs is given on the command line: the master
    # stays in the foreground (this script owns it), and it has its own
    # prefix, error log and pid file in the state directory, not the system's.
    local args=(-p "$STATE/nginx/" -c "$STATE/nginx/nginx.conf" -e "$STATE/nginx/error.log"
        -g "daemon off; pid $STATE/nginx/nginx.pid;")
    if pid="$(running_pid "$STATE/nginx/nginx.pid")"; then
        # A reload closes every idle client connection: only when needed.
        render_nginx_config "$STATE/nginx/nginx.conf.new"
        if cmp -s "$STATE/nginx/nginx.conf.new" "$STATE/nginx/nginx.conf"; then
            rm "$STATE/nginx/nginx.conf.new"
            say "nginx already running (pid $pid)"
            return
        fi
        mv "$STATE/nginx/nginx.conf.new" "$STATE/nginx/nginx.conf"
        nginx "${args[@]}" -s reload
        say "nginx already running (pid $pid); configuration reloaded"
        return
    fi
    render_nginx_config "$STATE/nginx/nginx.conf"
    if ! nginx "${args[@]}" -t -q; then
        say "nginx refused the configuration in $STATE/nginx/nginx.conf"
        return 1
    fi
    setsid --fork nginx "${args[@]}" >>"$STATE/nginx/stdout.log" 2>&1 </dev/null
    for _ in $(seq 50); do
        pid="$(running_pid "$STATE/nginx/nginx.pid")" && break
        sleep 0.1
    done
    if [[ -z "$pid" ]] || ! wait_healthy "https://127.0.0.1:$HTTPS_PORT/health" "$pid"; then
        tail -n 20 "$STATE/nginx/error.log" >&2 || true
        return 1
    fi
    say "nginx up: https://127.0.0.1:$HTTPS_PORT (http://127.0.0.1:$HTTP_PORT redirects)"
}

# The settings the instances and nginx are started with.
settings() {
    printf '%s\n' "CLUSTER_PORT=$HTTPS_PORT" "CLUSTER_HTTP_PORT=$HTTP_PORT" \
        "CLUSTER_APP_PORTS=${APP_PORTS[*]}" "DATABASE_URL=${DATABASE_URL:-}" \
        "REDIS_URL=${REDIS_URL:-}" "WEB_CONCURRENCY=$WEB_CONCURRENCY"
}

anything_running() {
    local name
    for name in instance-1 instance-2 instance-3 mail-sender nginx/nginx; do
        running_pid "$STATE/$name.pid" >/dev/null && return 0
    done
    return 1
}

# A running cluster keeps the settings it was started with: starting it again
# with others would leave nginx and the instances disagreeing. Names only in
# the message: a URL may hold a password.
check_settings() {
    local changed
    if anything_running && [[ -f "$STATE/settings" ]]; then
        changed="$(settings | { grep -vxFf "$STATE/settings" || true; } | cut -d= -f1 | tr '\n' ' ')"
        [[ -z "$changed" ]] || fail "the running cluster was started with other settings" \
            "(${changed% }); run make cluster-stop first, then start it again"
    fi
    (umask 077 && settings >"$STATE/settings")
}

# The value of setting $1 the running cluster was started with (else the current one).
started_with() {
    local line
    line="$(grep -m1 "^$1=" "$STATE/settings" 2>/dev/null)" || line="$1=$2"
    echo "${line#*=}"
}

# Before starting anything: every port of a part not yet running must be free.
check_ports() {
    local ports=()
    for n in 1 2 3; do
        running_pid "$STATE/instance-$n.pid" >/dev/null || ports+=("${APP_PORTS[n - 1]}")
    done
    running_pid "$STATE/nginx/nginx.pid" >/dev/null || ports+=("$HTTPS_PORT" "$HTTP_PORT")
    for port in "${ports[@]}"; do
        port_in_use "$port" && fail "port $port is taken by another program"
    done
    return 0
}

start() {
    require_tools
    mkdir -p "$STATE"
    STATE="$(cd "$STATE" && pwd)"
    [[ -n "${DATABASE_URL:-}" ]] \
        || say "DATABASE_URL is not set: the instances share the SQLite file in instance/"
    if [[ -z "${REDIS_URL:-}" ]]; then
        # Production refuses per-process limits unless told; this local
        # cluster says so and opts in (set REDIS_URL to share them).
        say "REDIS_URL is not set: each instance keeps its own rate-limit counters"
        export RATELIMIT_PER_PROCESS_OK="${RATELIMIT_PER_PROCESS_OK:-true}"
    fi
    export APP_ENV=production TRUSTED_PROXIES=1 FLASK_APP=app
    export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
    check_settings
    check_ports
    secret_key
    certificate
    write_prometheus_config
    write_logrotate_config
    say "migrating the schema"
    "$BIN/flask" db upgrade >>"$STATE/migrate.log" 2>&1 \
        || { tail -n 20 "$STATE/migrate.log" >&2; fail "flask db upgrade failed"; }
    for n in 1 2 3; do
        start_instance "$n" "${APP_PORTS[n - 1]}"
    done
    for n in 1 2 3; do
        wait_instance "$n" "${APP_PORTS[n - 1]}" || { stop; fail "instance $n did not start"; }
    done
    start_nginx || { stop; fail "nginx did not start"; }
    start_mail_sender
}

# SIGTERM the group leader in $1 (a pid file), give it $2 seconds, then kill the group.
stop_group() {
    local pidfile="$1" patience="$2" name="$3" pid deadline
    pid="$(running_pid "$pidfile")" || { rm -f "$pidfile"; return 0; }
    kill -"${4:-TERM}" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + patience))
    while group_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if group_alive "$pid"; then
        say "$name did not stop within ${patience}s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    say "$name stopped"
}

stop() {
    [[ -d "$STATE" ]] || { say "nothing to stop"; return 0; }
    STATE="$(cd "$STATE" && pwd)"
    # nginx first (QUIT: finish open requests, accept no more), then the
    # instances in parallel, each given gunicorn's graceful timeout, and the
    # mail sender, which finishes the mail in hand (MAIL_TIMEOUT per SMTP step).
    stop_group "$STATE/nginx/nginx.pid" 15 nginx QUIT
    local waits=()
    stop_group "$STATE/mail-sender.pid" $((${MAIL_TIMEOUT:-10} * 3 + 5)) "mail sender" &
    waits+=($!)
    for n in 1 2 3; do
        stop_group "$STATE/instance-$n.pid" $((GRACEFUL + 5)) "instance $n" &
        waits+=($!)
    done
    wait "${waits[@]}"
}

status() {
    local pid code=0 n name url ports
    read -r -a ports <<< "$(started_with CLUSTER_APP_PORTS "${APP_PORTS[*]}")"
    for n in 1 2 3 nginx mail; do
        if [[ "$n" == nginx ]]; then
            name=nginx/nginx url="https://127.0.0.1:$(started_with CLUSTER_PORT "$HTTPS_PORT")"
        elif [[ "$n" == mail ]]; then
            name=mail-sender url=""
        else
            name="instance-$n" url="http://127.0.0.1:${ports[n - 1]}"
        fi
        if pid="$(running_pid "$STATE/$name.pid")"; then
            echo "${name%/nginx}: running (pid $pid)${url:+ $url}"
        else
            echo "${name%/nginx}: stopped"
            code=3
        fi
    done
    return "$code"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) fail "usage: $0 start|stop|status" ;;
esac
