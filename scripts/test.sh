#!/usr/bin/env bash
# Run every Hark test on real parts. Installs what the tests need when it is missing
# (Debian packages, the wasm32-wasip2 Rust target), starts PostgreSQL and RabbitMQ when they
# are not running, then checks formatting and lints and runs the whole test suite.
# Safe to run twice; needs root for apt-get (or everything already installed).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------
# build: pkg-config libssl-dev libpq-dev; servers: postgresql rabbitmq-server;
# test peers: python3-aiosmtpd (SMTP server), chromium and chromium-driver (browser tests),
# sip-tester baresip linphone-cli (SIP clients), tshark (captures), openssl (test certificates),
# kamailio (the SIP dispatcher in front of IVR nodes in the cluster tests), sipvicious (svcrack,
# the password cracker the registrar must lock out), curl and jq (the provisioning script in
# docs/OPERATIONS.md, run by tests/api.rs), npm (fetches axe-core,
# the accessibility audit the browser tests run in each page; only when no npm is installed, as a
# Node.js from elsewhere brings its own).
packages=(pkg-config libssl-dev libpq-dev postgresql rabbitmq-server python3-aiosmtpd chromium
  chromium-driver sip-tester baresip linphone-cli tshark openssl kamailio sipvicious curl jq)
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- axe-core for the accessibility audit (pinned in tests/axe/package-lock.json) ------
if [[ ! -f tests/axe/node_modules/axe-core/axe.min.js ]]; then
  say "installing axe-core"
  npm ci --prefix tests/axe --no-audit --no-fund --silent
fi

# --- Rust target for Wasm plugins ------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  say "adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

# --- PostgreSQL ----------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 120); do port_open "$1" && return 0; sleep 0.5; done
  echo "nothing is listening on 127.0.0.1:$1 after 60 s" >&2
  return 1
}
if ! port_open 5432; then
  say "starting PostgreSQL"
  cluster=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
  wait_port 5432
fi
export HARK_TEST_PG_URL="${HARK_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! psql "$HARK_TEST_PG_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  # A stock install asks for a password over TCP: give the postgres role a known one (test
  # machines only) and use it.
  say "setting a password for the postgres role"
  su postgres -c "psql -qc \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null
  export HARK_TEST_PG_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  psql "$HARK_TEST_PG_URL" -qAtc 'select 1' >/dev/null
fi

# --- RabbitMQ ------------------------------------------------------------------------
if ! port_open 5672; then
  say "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672
fi
export HARK_TEST_AMQP_URL="${HARK_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

# --- Checks and tests ----------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
say "cargo test"
cargo test --workspace --no-fail-fast
