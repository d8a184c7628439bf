#!/usr/bin/env bash
# Apache Superset on the local platform: a host process on 127.0.0.1, its metadata in SQLite under
# .platform/, connected to a pipeline's database as the read-only reporting user, with the
# project's dashboards imported as code (dashboards/superset, built by dashboards/generate.py).
#
#   superset.sh install   venv ~/.cache/tweetpipe/superset-<version>/ (pinned requirements) and
#                         Debian's chromium (for dashboards/tests/superset-e2e.sh)
#   superset.sh up        config, metadata migrations, admin user, server; idempotent
#   superset.sh import    the dashboard bundle, with the reporting user's password (see below)
#   superset.sh status    one line
#   superset.sh down      stop the server (state stays; --purge removes it)
#
# Settings (environment):
#   SUPERSET_INSTANCE   name of the state dir .platform/<instance> and of the pid/log (superset)
#   SUPERSET_PORT       port on 127.0.0.1 (8088)
#   import: SUPERSET_MYSQL_HOST (127.0.0.1), SUPERSET_MYSQL_PORT (3306),
#           SUPERSET_MYSQL_DATABASE (tweets_covid19), SUPERSET_MYSQL_USER (dashboards),
#           SUPERSET_MYSQL_PASSWORD_FILE (required: a file holding the reporting user's password),
#           SUPERSET_MYSQL_CA_FILE (optional: verify the server's certificate against this CA).
# The admin password is generated into .platform/<instance>/admin-password and never printed.
set -o errexit -o nounset -o pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

SUPERSET_VERSION=6.1.0
SUPERSET_VENV=$CACHE_DIR/superset-$SUPERSET_VERSION
SUPERSET_REQUIREMENTS=$PLATFORM_DIR/superset/requirements.txt
SUPERSET_INSTANCE=${SUPERSET_INSTANCE:-superset}
SUPERSET_PORT=${SUPERSET_PORT:-8088}
SUPERSET_STATE=$STATE_DIR/$SUPERSET_INSTANCE
SUPERSET_URL=http://127.0.0.1:$SUPERSET_PORT
BUNDLE_DIR=$REPO_ROOT/dashboards/superset

# Superset reads its configuration from the module SUPERSET_CONFIG_PATH names; ours reads the
# state dir (secret key, SQLite file) from TWEETPIPE_SUPERSET_STATE.
superset_env() {
  export SUPERSET_CONFIG_PATH=$PLATFORM_DIR/superset/superset_config.py
  export TWEETPIPE_SUPERSET_STATE=$SUPERSET_STATE
  export FLASK_APP=superset
  export PATH=$SUPERSET_VENV/bin:$PATH
}

install() {
  if [[ -f $SUPERSET_VENV/.complete ]] && cmp -s "$SUPERSET_REQUIREMENTS" "$SUPERSET_VENV/.complete"; then
    log "superset $SUPERSET_VERSION: cached in $SUPERSET_VENV"
  else
    log "superset $SUPERSET_VERSION: installing into $SUPERSET_VENV (pinned: $SUPERSET_REQUIREMENTS)"
    rm -rf "$SUPERSET_VENV"
    python3 -m venv "$SUPERSET_VENV"
    "$SUPERSET_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$SUPERSET_REQUIREMENTS"
    # The marker holds the requirements it was built from: a changed pin rebuilds the venv.
    cp "$SUPERSET_REQUIREMENTS" "$SUPERSET_VENV/.complete"
  fi
  if ! command -v chromium >/dev/null; then
    log "installing Debian's chromium (headless screenshots of the dashboard)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  fi
}

# generate_secret FILE: 48 random bytes, base64, readable by the owner only; kept once made.
generate_secret() {
  local file=$1
  [[ -s $file ]] && return 0
  (umask 077 && openssl rand -base64 48 | tr -d '\n' > "$file")
}

healthy() { curl -fsS --max-time 5 "$SUPERSET_URL/health" >/dev/null 2>&1; }

initialise() {
  log "superset: metadata migrations ($SUPERSET_STATE/superset.db)"
  superset db upgrade >>"$LOG_DIR/$SUPERSET_INSTANCE-setup.log" 2>&1 ||
    die "superset db upgrade failed (log: $LOG_DIR/$SUPERSET_INSTANCE-setup.log)"
  if ! superset fab list-users 2>/dev/null | grep -q 'username:admin '; then
    # The password reaches the CLI's prompt on its standard input, never on a command line.
    local password
    password=$(cat "$SUPERSET_STATE/admin-password")
    printf '%s\n%s\n' "$password" "$password" |
      superset fab create-admin --username admin --firstname Tweetpipe --lastname Admin \
        --email admin@localhost >>"$LOG_DIR/$SUPERSET_INSTANCE-setup.log" 2>&1 ||
      die "superset fab create-admin failed"
  fi
  superset init >>"$LOG_DIR/$SUPERSET_INSTANCE-setup.log" 2>&1 || die "superset init failed"
}

up() {
  [[ -f $SUPERSET_VENV/.complete ]] || install
  superset_env
  mkdir -p "$SUPERSET_STATE"
  chmod 700 "$SUPERSET_STATE"
  generate_secret "$SUPERSET_STATE/secret-key"
  generate_secret "$SUPERSET_STATE/admin-password"
  if daemon_running "$SUPERSET_INSTANCE" && healthy; then
    log "superset: already serving $SUPERSET_URL"
    return 0
  fi
  # Migrations, admin and roles once per Superset version (a minute and more on this machine).
  if [[ $(cat "$SUPERSET_STATE/initialised" 2>/dev/null) != "$SUPERSET_VERSION" ]]; then
    initialise
    echo "$SUPERSET_VERSION" > "$SUPERSET_STATE/initialised"
  fi
  log "superset: starting on $SUPERSET_URL (log: $LOG_DIR/$SUPERSET_INSTANCE.log)"
  # One worker with threads: the dashboard asks for all of its charts at once, and the machine
  # has two cores shared with the platform.
  start_daemon "$SUPERSET_INSTANCE" gunicorn --bind "127.0.0.1:$SUPERSET_PORT" --workers 1 \
    --worker-class gthread --threads 8 --timeout 120 --limit-request-line 0 \
    --limit-request-field_size 0 'superset.app:create_app()'
  wait_for "superset on $SUPERSET_URL" 180 healthy
  log "superset: serving $SUPERSET_URL (user admin, password in $SUPERSET_STATE/admin-password)"
}

import_bundle() {
  superset_env
  healthy || die "superset is not serving $SUPERSET_URL: run $0 up"
  [[ -n ${SUPERSET_MYSQL_PASSWORD_FILE:-} && -s $SUPERSET_MYSQL_PASSWORD_FILE ]] ||
    die "SUPERSET_MYSQL_PASSWORD_FILE must name a file holding the reporting user's password"
  SUPERSET_URL=$SUPERSET_URL SUPERSET_ADMIN_PASSWORD_FILE=$SUPERSET_STATE/admin-password \
    python "$PLATFORM_DIR/superset/import_bundle.py" "$BUNDLE_DIR"
}

status() {
  if daemon_running "$SUPERSET_INSTANCE" && healthy; then
    echo "running $SUPERSET_URL (state $SUPERSET_STATE)"
  elif daemon_running "$SUPERSET_INSTANCE"; then
    echo "running, not healthy"
  else
    echo "down"
  fi
}

down() {
  stop_daemon "$SUPERSET_INSTANCE"
  if [[ ${1:-} == --purge ]]; then
    rm -rf "$SUPERSET_STATE"
  fi
  log "superset ($SUPERSET_INSTANCE) stopped"
}

main() {
  local command=${1:-}
  shift || true
  case $command in
    install) with_build_lock superset install ;;
    up) up ;;
    import) import_bundle ;;
    status) status ;;
    down) down "$@" ;;
    *) die "usage: $0 install|up|import|status|down [--purge]" ;;
  esac
}

main "$@"
