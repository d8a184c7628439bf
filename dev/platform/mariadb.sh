#!/usr/bin/env bash
# MariaDB from Debian's packages, with its data directory under the platform state.
# It serves TLS (a server certificate from pki.sh's MariaDB CA) beside plaintext on the same port:
# accounts made `REQUIRE SSL` need it, everything else may still connect in plaintext.
# Usage: mariadb.sh start|stop|restart|status
#        mariadb.sh private DIR PORT [pods]  a server of a test's own in DIR (config,
#                                     certificates, data directory; root without password on
#                                     loopback); `pods`: also on the pod bridge address
#        mariadb.sh run DIR           that server in the foreground (exec)
source "$(dirname "$0")/lib.sh"

DB_DATA=$STATE_DIR/mariadb
SOCKET=$RUN_DIR/mariadb.sock

write_config() {
  mkdir -p "$DB_DATA/tmp" "$RUN_DIR"
  certificates "$MYSQL_TLS_DIR"
  write_file "$DB_DATA/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$DB_DATA/data
# A tmpdir of its own: a starting mariadbd deletes every '#sql*' file in its tmpdir, so servers
# sharing /tmp (this one and the tests' private ones) delete each other's temporary tables.
tmpdir=$DB_DATA/tmp
socket=$SOCKET
pid-file=$RUN_DIR/mariadbd.pid
port=$MYSQL_PORT
# Loopback for tests; the pod bridge for pods.
bind-address=127.0.0.1,$NODE_IP
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=512M
innodb_log_file_size=256M
innodb_flush_log_at_trx_commit=1
max_connections=500
$(tls_settings "$MYSQL_TLS_DIR")
CNF
}

# certificates DIR: the CA, server certificate and key in DIR (pki.sh; made once per DIR). Run
# before the config is written: a failure inside the here-document would go unnoticed.
certificates() { bash "$PLATFORM_DIR/pki.sh" mariadb "$1" || die "creating MariaDB's certificates in $1 failed"; }

# tls_settings DIR: the server certificate, key and CA of DIR, for [mariadbd].
tls_settings() {
  local dir=$1
  printf 'ssl_ca=%s\nssl_cert=%s\nssl_key=%s\n' "$dir/ca.crt" "$dir/server.crt" "$dir/server.key"
}

start() {
  command -v mariadbd >/dev/null || die "mariadbd missing: run dev/platform/install-deps.sh"
  if daemon_running mariadb; then log "mariadb already running"; return 0; fi
  write_config
  if [[ ! -d $DB_DATA/data/mysql ]]; then
    log "initialising MariaDB data directory"
    mariadb-install-db --defaults-file="$DB_DATA/my.cnf" --auth-root-authentication-method=normal \
      --skip-test-db >> "$LOG_DIR/mariadb.log" 2>&1 || die "mariadb-install-db failed (see $LOG_DIR/mariadb.log)"
    local fresh=1
  fi
  log "starting MariaDB"
  start_daemon mariadb mariadbd --defaults-file="$DB_DATA/my.cnf"
  wait_for "MariaDB" 60 mariadb_alive
  if [[ -n ${fresh:-} ]] || ! root_password_set; then
    # Root may log in from anywhere on this machine's own networks (loopback and pod bridge).
    # mariadb-install-db also makes passwordless root@127.0.0.1, root@::1 and root@<hostname>,
    # which would shadow root@% for TCP logins: drop them.
    local extra
    extra=$(mariadb --socket="$SOCKET" -uroot -N -e \
      "SELECT CONCAT('DROP USER ''root''@''', Host, ''';') FROM mysql.global_priv WHERE User='root' AND Host NOT IN ('localhost','%')")
    mariadb --socket="$SOCKET" -uroot <<SQL
$extra
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  fi
}

root_password_set() { mariadb --socket="$SOCKET" -uroot "-p$MYSQL_ROOT_PASSWORD" -e 'SELECT 1' >/dev/null 2>&1; }

# Before the first start sets it, root has no password on the socket.
mariadb_alive() {
  mariadb-admin --socket="$SOCKET" -uroot "-p$MYSQL_ROOT_PASSWORD" ping 2>/dev/null ||
    mariadb-admin --socket="$SOCKET" -uroot ping
}

stop() {
  if daemon_running mariadb; then
    mariadb-admin --socket="$SOCKET" -uroot "-p$MYSQL_ROOT_PASSWORD" shutdown 2>/dev/null || true
  fi
  stop_daemon mariadb
}

# Used by `make chaos` (dev/chaos): a process restart with the same data and addresses.
restart() { stop; start; }

status() {
  if daemon_running mariadb && root_password_set; then echo "up   127.0.0.1:$MYSQL_PORT (pods: $NODE_IP:$MYSQL_PORT)"; else echo "down"; fi
}

# private DIR PORT: a MariaDB of a test's own, with the platform's TLS settings (its own CA in
# DIR/pki), on loopback only; `run DIR` starts it. Made once per DIR. It also listens on
# 127.0.0.2, an address its certificate does not name, for tests of hostname verification; with
# `pods`, on the pod bridge address too (its certificate names it), for pods and the operator.
private() {
  local dir=$1 port=$2 addresses=127.0.0.1,127.0.0.2
  [[ ${3:-} == pods ]] && addresses+=",$NODE_IP"
  command -v mariadbd >/dev/null || die "mariadbd missing: run dev/platform/install-deps.sh"
  mkdir -p "$dir/tmp"
  certificates "$dir/pki"
  write_file "$dir/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$dir/data
# Its own tmpdir (see write_config): another server starting would delete its temporary tables,
# which failed a bootstrap with "Unknown table 'mysql.tmp_proxies_priv'" in CI.
tmpdir=$dir/tmp
socket=$dir/mariadb.sock
pid-file=$dir/mariadbd.pid
port=$port
bind-address=$addresses
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=64M
$(tls_settings "$dir/pki")
CNF
  [[ -d $dir/data/mysql ]] && return 0
  mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
    --skip-test-db >> "$dir/install.log" 2>&1 || die "mariadb-install-db failed (see $dir/install.log)"
}

# run DIR: the server of DIR in the foreground (exec: the caller's child is mariadbd).
run() { exec mariadbd --defaults-file="$1/my.cnf"; }

main() {
  local command=${1:-status}
  case $command in
    start | stop | restart | status) mkdir -p "$LOG_DIR" && "$command" ;;
    private) private "${2:?usage: mariadb.sh private DIR PORT [pods]}" "${3:?PORT}" "${4:-}" ;;
    run) run "${2:?usage: mariadb.sh run DIR}" ;;
    *) die "unknown command $command (start|stop|restart|status|private|run)" ;;
  esac
}

main "$@"
