#!/usr/bin/env bash
# Print deploy/nginx.conf.template with its @NAME@ placeholders filled in
# from the environment: a whole nginx.conf for the system's nginx.
#
#   NGINX_UPSTREAMS="10.0.0.11:8000 10.0.0.12:8000" NGINX_SERVER_NAME=api.example.com \
#   TLS_CERT=/etc/letsencrypt/live/api.example.com/fullchain.pem \
#   TLS_KEY=/etc/letsencrypt/live/api.example.com/privkey.pem \
#       deploy/render-nginx.sh > /etc/nginx/nginx.conf
#
# Settings (environment):
#   NGINX_UPSTREAMS     the instances' host:port, separated by spaces (required)
#   TLS_CERT, TLS_KEY   certificate chain and key nginx serves (required)
#   NGINX_LISTEN        address nginx listens on (0.0.0.0)
#   NGINX_HTTPS_PORT    HTTPS port (443)
#   NGINX_HTTP_PORT     plain HTTP port, redirected to HTTPS (80)
#   NGINX_SERVER_NAME   server_name (_: any name)
#   NGINX_LOG_DIR       access.log and error.log (/var/log/nginx)
#   NGINX_TEMP_DIR      nginx's temp folders (/var/lib/nginx)
#   NGINX_USER          user (and group) of the worker processes (www-data)
#   MAX_CONTENT_LENGTH  largest request body, as the app's setting (1048576)
set -euo pipefail

TEMPLATE="$(dirname "$0")/nginx.conf.template"

fail() { echo "render-nginx: $*" >&2; exit 1; }

[[ -n "${NGINX_UPSTREAMS:-}" ]] || fail "NGINX_UPSTREAMS must list the instances (host:port ...)"
[[ -n "${TLS_CERT:-}" && -n "${TLS_KEY:-}" ]] || fail "TLS_CERT and TLS_KEY must be set"

servers=""
host_port='^[][A-Za-z0-9.:-]+:[0-9]+$'
for address in $NGINX_UPSTREAMS; do
    [[ "$address" =~ $host_port ]] \
        || fail "NGINX_UPSTREAMS: $address is not host:port"
    servers+="        server $address max_fails=2 fail_timeout=10s;"$'\n'
done

config="$(cat "$TEMPLATE")"
# A "&" in a value is kept as it is (bash 5.2 would put the match there).
shopt -u patsub_replacement 2>/dev/null || true
for pair in \
    "UPSTREAM_SERVERS=${servers%$'\n'}" \
    "LISTEN=${NGINX_LISTEN:-0.0.0.0}" \
    "HTTPS_PORT=${NGINX_HTTPS_PORT:-443}" \
    "HTTP_PORT=${NGINX_HTTP_PORT:-80}" \
    "SERVER_NAME=${NGINX_SERVER_NAME:-_}" \
    "LOG_DIR=${NGINX_LOG_DIR:-/var/log/nginx}" \
    "TEMP_DIR=${NGINX_TEMP_DIR:-/var/lib/nginx}" \
    "USER=${NGINX_USER:-www-data}" \
    "TLS_CERT=$TLS_CERT" \
    "TLS_KEY=$TLS_KEY" \
    "MAX_BODY=${MAX_CONTENT_LENGTH:-1048576}"; do
    config="${config//@${pair%%=*}@/${pair#*=}}"
done
printf '%s\n' "$config"
