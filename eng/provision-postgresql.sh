#!/usr/bin/env bash
# Makes sure a local PostgreSQL server runs for the PostgreSQL deduplication store's tests and benchmark, and
# prints the connection string to use. Idempotent: installs Debian's PostgreSQL only when missing, creates and
# starts its cluster only when needed, creates the role and database only once.
#
# When RELIABLEKAFKA_POSTGRESQL is set already (a server of your own), nothing is installed: it is printed back.
set -euo pipefail

readonly ROLE="reliablekafka"
readonly PASSWORD="reliablekafka"
readonly DATABASE="reliablekafka"

log() { printf 'provision-postgresql: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [[ -n "${RELIABLEKAFKA_POSTGRESQL:-}" ]]; then
  printf '%s\n' "${RELIABLEKAFKA_POSTGRESQL}"
  exit 0
fi

as_root() {
  if [[ "$(id -u)" == "0" ]]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    die "installing PostgreSQL needs root (or sudo): $*"; fi
}

as_postgres() {
  if [[ "$(id -u)" == "0" ]]; then runuser -u postgres -- "$@"; else sudo -u postgres -- "$@"; fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL from the Debian repositories (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q postgresql >&2 || { as_root apt-get update -q >&2 && as_root apt-get install -y -q postgresql >&2; } \
    || die "apt-get install postgresql failed."
fi

# The first cluster listed (Debian creates <version>/main on install).
cluster="$(pg_lsclusters --no-header 2>/dev/null | head -n 1 || true)"
if [[ -z "${cluster}" ]]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  log "creating cluster ${version}/main"
  as_root pg_createcluster "${version}" main >&2
  cluster="$(pg_lsclusters --no-header | head -n 1)"
fi
read -r version name port status _ <<<"${cluster}"
if [[ "${status}" != online* ]]; then
  log "starting cluster ${version}/${name}"
  as_root pg_ctlcluster "${version}" "${name}" start >&2
fi

for _ in $(seq 1 50); do
  if as_postgres psql -p "${port}" -tAc "SELECT 1" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
as_postgres psql -p "${port}" -tAc "SELECT 1" >/dev/null || die "PostgreSQL ${version}/${name} on port ${port} does not answer."

if [[ "$(as_postgres psql -p "${port}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '${ROLE}'")" != "1" ]]; then
  log "creating role ${ROLE}"
  as_postgres psql -p "${port}" -q -c "CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'" >&2
fi
if [[ "$(as_postgres psql -p "${port}" -tAc "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'")" != "1" ]]; then
  log "creating database ${DATABASE}"
  as_postgres psql -p "${port}" -q -c "CREATE DATABASE ${DATABASE} OWNER ${ROLE}" >&2
fi

printf 'Host=127.0.0.1;Port=%s;Username=%s;Password=%s;Database=%s\n' "${port}" "${ROLE}" "${PASSWORD}" "${DATABASE}"
