#!/usr/bin/env bash
# Set up, then run every check CI runs: lint, types, bundle freshness, pytest (with browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "[test] ruff"
ruff check .
ruff format --check .

echo "[test] tsc --strict, prettier, and bundle freshness"
(cd runtime_ts && npm run --silent typecheck && npm run --silent lint && npm run --silent build)
git diff --exit-code --stat -- site/assets benchmarks/gpu/websd-device.mjs || {
  echo "the bundles are stale: run 'cd runtime_ts && npm run build' and commit them" >&2
  exit 1
}

echo "[test] pytest"
python3 -m pytest "$@"
