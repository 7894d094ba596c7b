# Sourced by scripts/test: starts a throwaway PostgreSQL server on 127.0.0.1 for the audit
# store's tests (tests/audit_history.rs), installing Debian's postgresql package when its
# initdb and pg_ctl are missing (and openssl, for the server's test certificate). The server runs from a temporary data folder as a user that is
# not root (nobody, when the script runs as root), and is stopped and deleted when the calling
# script exits.

# The folder of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin.
postgres_bindir() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
  fi
}

postgres_install() {
  if ! command -v apt-get >/dev/null; then
    echo "error: the audit store's tests need PostgreSQL's initdb and pg_ctl; install PostgreSQL" >&2
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing postgresql and openssl with apt-get" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql openssl >/dev/null
}

# Runs a command as the server's user: nobody when we are root (PostgreSQL refuses root).
postgres_as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

postgres_stop() {
  if [ -n "${POSTGRES_DATA:-}" ] && [ -f "$POSTGRES_DATA/postmaster.pid" ]; then
    postgres_as "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${POSTGRES_DIR:-}" ]; then rm -rf "$POSTGRES_DIR"; fi
}

# A private CA and a certificate it signs for `localhost`, so that the tests can check that TLS
# is verified.
postgres_certificates() {
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=portcullis-test-ca \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
  openssl x509 -req -days 2 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key"
}

# Starts the server on a free port of 127.0.0.1 with a superuser `portcullis` (a random
# password, SCRAM authentication), TLS from a private CA, and a database `portcullis`, and
# exports for the tests PORTCULLIS_TEST_POSTGRES_URL (plain TCP), PORTCULLIS_TEST_POSTGRES_TLS_URL
# (`localhost`, sslmode=require) and PORTCULLIS_TEST_POSTGRES_CA (the CA's PEM file).
postgres_start() {
  POSTGRES_BIN=$(postgres_bindir)
  if [ -z "$POSTGRES_BIN" ] || ! command -v openssl >/dev/null; then
    postgres_install
    POSTGRES_BIN=$(postgres_bindir)
  fi
  if [ -z "$POSTGRES_BIN" ]; then
    echo "error: installed postgresql, but found no initdb and pg_ctl" >&2
    exit 1
  fi
  POSTGRES_DIR=$(mktemp -d)
  POSTGRES_DATA="$POSTGRES_DIR/data"
  local previous=""
  eval "previous=$(trap -p EXIT | sed -E 's/^trap -- (.*) EXIT$/\1/')"
  trap "${previous:+$previous; }postgres_stop" EXIT
  local password
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$POSTGRES_DIR/password"
  postgres_certificates "$POSTGRES_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown -R nobody "$POSTGRES_DIR"; fi
  postgres_as "$POSTGRES_BIN/initdb" -D "$POSTGRES_DATA" -U portcullis --auth=scram-sha-256 \
    --pwfile="$POSTGRES_DIR/password" --encoding=UTF8 --no-sync >"$POSTGRES_DIR/initdb.log" 2>&1 || {
    cat "$POSTGRES_DIR/initdb.log" >&2
    echo "error: initdb failed (log above)" >&2
    exit 1
  }
  local options="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$POSTGRES_DIR"
  options+=" -c max_connections=200 -c fsync=off -c ssl=on"
  options+=" -c ssl_cert_file=$POSTGRES_DIR/server.crt -c ssl_key_file=$POSTGRES_DIR/server.key"
  local port tries=0
  while :; do
    port=$((20000 + RANDOM % 40000))
    if postgres_as "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DATA" -l "$POSTGRES_DIR/server.log" -w -t 60 \
        -o "$options -p $port" start >/dev/null; then
      break
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ]; then
      cat "$POSTGRES_DIR/server.log" >&2
      echo "error: PostgreSQL did not start (log above)" >&2
      exit 1
    fi
  done
  PGPASSWORD="$password" PGSSLMODE=disable "$POSTGRES_BIN/createdb" -h 127.0.0.1 -p "$port" -U portcullis portcullis
  export PORTCULLIS_TEST_POSTGRES_URL="postgres://portcullis:$password@127.0.0.1:$port/portcullis?sslmode=disable"
  export PORTCULLIS_TEST_POSTGRES_TLS_URL="postgres://portcullis:$password@localhost:$port/portcullis?sslmode=require"
  export PORTCULLIS_TEST_POSTGRES_CA="$POSTGRES_DIR/ca.crt"
}
