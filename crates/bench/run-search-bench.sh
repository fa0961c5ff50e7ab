#!/usr/bin/env bash
# Runs search-bench against a private PostgreSQL cluster: installs PostgreSQL from Debian's
# packages if missing, initdb's a cluster under a temp dir (its own port and unix socket, no TCP
# listener), builds the release binaries, runs the benchmark, then stops the cluster and removes
# it. Extra arguments go to search-bench (e.g. --courses 20000 --secs 5 --explain, or
# --node-bin OTHER/prospectus to measure another build's node).
# Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null \
  || ! compgen -G "/usr/share/postgresql/*/extension/pg_trgm.control" >/dev/null; then
  echo "== installing PostgreSQL (Debian packages)"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql postgresql-contrib
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PORT=${SEARCH_BENCH_PG_PORT:-54329}
WORK=$(mktemp -d /tmp/prospectus-pg.XXXXXX)
if [ "$(id -u)" = 0 ]; then
  chown postgres "$WORK"
  AS=(runuser -u postgres --)
else
  AS=()
fi
cleanup() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
# A fair configuration for a read benchmark of ~1 GB of data and indexes on 2 cores / 24 GB:
# everything fits in shared_buffers; no per-query parallel workers or JIT (2 concurrent clients
# already use both cores, and both only slow down millisecond queries); durability settings only
# speed up the load.
cat >>"$WORK/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$WORK'
shared_buffers = 4GB
effective_cache_size = 12GB
work_mem = 64MB
maintenance_work_mem = 1GB
max_parallel_workers_per_gather = 0
jit = off
random_page_cost = 1.1
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w start >/dev/null
echo "== PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on $WORK (port $PORT)"

# SEARCH_BENCH_BIN: a search-bench already built (e.g. another commit's, to compare); else
# this tree's, built here (--workspace: the same feature unification as every other build).
BENCH=${SEARCH_BENCH_BIN:-}
if [ -z "$BENCH" ]; then
  cargo build --release --workspace --locked --bin prospectus --bin search-bench
  BENCH=./target/release/search-bench
fi
"$BENCH" --pg "host=$WORK port=$PORT user=postgres dbname=postgres" "$@"
