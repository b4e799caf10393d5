# The cluster tests/connecting.rs judges seqsync's connections on, beside psql's: TLS with
# certificates made here by openssl, client-certificate-only and peer-only roles, and a socket
# in the distribution's default directory. Sourced by scripts/test after lib/pg.sh.
# shellcheck shell=bash

# conninfo_certs DIR: a CA, a server certificate for "localhost" only, client certificates for
# role certuser (one plain key, one encrypted with the passphrase "key-pass"), and a client
# certificate from another CA.
conninfo_certs() {
  local dir=$1 ssl=(openssl req -new -nodes -newkey rsa:2048 -subj)
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -nodes -newkey rsa:2048 -days 30 -subj "/CN=seqsync test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -x509 -nodes -newkey rsa:2048 -days 30 -subj "/CN=another CA" \
      -keyout other-ca.key -out other-ca.crt 2>/dev/null
    "${ssl[@]}" "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.crt 2>/dev/null
    "${ssl[@]}" "/CN=certuser" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -out client.crt 2>/dev/null
    openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:key-pass -in client.key \
      -out client-encrypted.key
    "${ssl[@]}" "/CN=certuser" -keyout wrong.key -out wrong.csr 2>/dev/null
    openssl x509 -req -in wrong.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial \
      -days 30 -out wrong.crt 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 600 ./*.key
  )
}

# conninfo_cluster_start ROOT PASSWORD -> prints the port
conninfo_cluster_start() {
  local root=$1 password=$2 port dir certs
  dir="$root/conninfo"
  # The default socket directory of Debian's (and Red Hat's) libpq: "no host" arrives there.
  if [ ! -d /var/run/postgresql ]; then
    if [ "$(id -u)" -eq 0 ]; then
      install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    else
      sudo install -d -o "$(id -un)" -m 2775 /var/run/postgresql
    fi
  fi
  port=$(PG_EXTRA_SOCKET_DIR=/var/run/postgresql pg_cluster_start "$root" conninfo "$password") || return 1
  certs="$dir/certs"
  conninfo_certs "$certs"
  # The server's copies, readable by the cluster's owner only.
  mkdir -p "$dir/server-tls"
  cp "$certs/server.crt" "$certs/server.key" "$certs/ca.crt" "$dir/server-tls/"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$dir/server-tls"; fi
  chmod 700 "$dir/server-tls"
  chmod 600 "$dir/server-tls/server.key"
  {
    echo "ssl = on"
    echo "ssl_cert_file = '$dir/server-tls/server.crt'"
    echo "ssl_key_file = '$dir/server-tls/server.key'"
    echo "ssl_ca_file = '$dir/server-tls/ca.crt'"
  } >> "$dir/data/postgresql.conf"
  local hba="$dir/data/pg_hba.conf" me
  me=$(id -un)
  {
    echo "local all $me peer"
    echo "hostssl all certuser 127.0.0.1/32 cert"
    echo "host all certuser 127.0.0.1/32 reject"
    cat "$hba"
  } > "$hba.new"
  mv "$hba.new" "$hba"
  [ "$(id -u)" -eq 0 ] && chown postgres "$hba"
  pg_psql "$root" conninfo -d postgres >/dev/null <<SQL
SELECT pg_reload_conf();
CREATE ROLE dba LOGIN PASSWORD '$password';
CREATE ROLE certuser LOGIN;
CREATE DATABASE db_a OWNER dba;
CREATE DATABASE db_b OWNER dba;
CREATE DATABASE dba OWNER dba;
CREATE DATABASE certdb OWNER certuser;
-- The peer role and its database, unless this user is one the cluster has already.
SELECT format('CREATE ROLE %I LOGIN', '$me') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$me')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$me', '$me') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$me')
\gexec
SQL
  echo "$port"
}
