#!/usr/bin/env bash
# Set up, then build this project's site (docs + live playground of the default model) into public/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdocs build "$@"
