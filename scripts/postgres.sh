# Sourced by scripts: makes sure the local PostgreSQL answers on 127.0.0.1:5432, starting the
# Debian cluster if needed, and fails loudly if it cannot.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  echo "PostgreSQL is not running; starting it"
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "error: no PostgreSQL cluster is installed (scripts/install-deps installs one)" >&2
    return 1
  fi
  if ! pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
    echo "error: PostgreSQL $version/main would not start" >&2
    return 1
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 0.5
  done
  echo "error: PostgreSQL started but does not answer on 127.0.0.1:5432" >&2
  return 1
}
