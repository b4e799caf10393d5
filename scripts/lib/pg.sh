# Throwaway PostgreSQL clusters on loopback for tests, benchmarks and the demo.
# Sourced by the scripts in scripts/; every function is safe to call as root or as a normal user.
# shellcheck shell=bash

pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

# apt_install PACKAGE…: Debian's packages, as root or through sudo.
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "seqsync: installing $* from Debian's packages..." >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Installs the PostgreSQL server from Debian's packages when it is missing.
pg_install_if_missing() {
  if pg_bindir >/dev/null && command -v psql >/dev/null; then return 0; fi
  apt_install postgresql postgresql-client
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Debian's package starts a default cluster; we use our own throwaway clusters only.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
      $sudo pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
    done
  fi
  pg_bindir >/dev/null || { echo "seqsync: PostgreSQL install failed" >&2; return 1; }
}

# Runs a command as the owner of the clusters: postgres when we are root (initdb refuses root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port nothing listens on, below the kernel's ephemeral range: a port in that range can be
# taken at any moment by an outgoing connection (the tests make thousands), and the server's
# bind then fails with "Address already in use".
pg_free_port() {
  local port low=32768
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 11000 ] || low=32768
  for _ in $(seq 1 200); do
    port=$(( 10000 + RANDOM % (low - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

# pg_cluster_start ROOT NAME PASSWORD [durable] -> prints the port
# Creates ROOT/NAME, password (scram) auth on loopback, trust on its own Unix socket.
# Test clusters run with fsync off for speed unless "durable" is given (benchmarks).
# PG_BIN and PG_LIB (a build's bin/ and lib/) start another major than Debian's.
pg_cluster_start() {
  local root=$1 name=$2 password=$3 durable=${4:-} bin port dir
  bin=${PG_BIN:-$(pg_bindir)} || return 1
  local run=(env)
  [ -z "${PG_LIB:-}" ] || run+=("LD_LIBRARY_PATH=$PG_LIB")
  dir="$root/$name"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$root" "$dir"
  printf '%s\n' "$password" > "$root/.pw-$name"
  [ "$(id -u)" -eq 0 ] && chown postgres "$root/.pw-$name"
  pg_as_owner "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$root/.pw-$name" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$root/.pw-$name"
  port=$(pg_free_port) || return 1
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir${PG_EXTRA_SOCKET_DIR:+,$PG_EXTRA_SOCKET_DIR}'"
    echo "wal_level = logical"
    echo "max_wal_senders = 40"
    echo "max_replication_slots = 40"
    # Tests and the demo run many subscriptions at once; each needs an apply worker, and a
    # table-sync worker while copying.
    echo "max_logical_replication_workers = 40"
    echo "max_worker_processes = 48"
    if [ "$durable" != durable ]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      # A full test run writes gigabytes of WAL; the default keeps up to 1 GB of it a cluster.
      echo "max_wal_size = 256MB"
      echo "min_wal_size = 32MB"
    fi
  } >> "$dir/data/postgresql.conf"
  # Another cluster (a test's, a demo's) may have taken the port since it was chosen: then
  # choose again.
  local attempt
  for attempt in 1 2 3; do
    pg_as_owner "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1 && break
    if [ "$attempt" -lt 3 ] && grep -q "could not bind\|Address already in use" "$dir/server.log"; then
      port=$(pg_free_port) || return 1
      echo "port = $port" >> "$dir/data/postgresql.conf"
      continue
    fi
    cat "$dir/server.log" >&2
    return 1
  done
  # How to stop it again, whichever build it is.
  printf '%s\n%s\n' "$bin" "${PG_LIB:-}" > "$dir/build"
  echo "$port"
}

pg_cluster_stop() {
  local root=$1 name=$2 bin lib=""
  [ -f "$root/$name/data/postmaster.pid" ] || return 0
  if [ -f "$root/$name/build" ]; then
    { read -r bin; read -r lib; } < "$root/$name/build"
  else
    bin=$(pg_bindir) || return 0
  fi
  local run=(env)
  [ -z "$lib" ] || run+=("LD_LIBRARY_PATH=$lib")
  pg_as_owner "${run[@]}" "$bin/pg_ctl" -D "$root/$name/data" -m immediate -w stop >/dev/null 2>&1 || true
}

# psql on a cluster's Unix socket as the superuser.
pg_psql() {
  local root=$1 name=$2; shift 2
  local port
  port=$(sed -n 's/^port = //p' "$root/$name/data/postgresql.conf" | tail -n 1)
  pg_as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$root/$name" -p "$port" -U postgres "$@"
}

pg_random_password() {
  echo "sq-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
}
