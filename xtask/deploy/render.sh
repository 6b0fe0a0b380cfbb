#!/usr/bin/env bash
# Re-render deploy/manifests/ from the Helm chart deploy/helm/lanner (chart defaults
# + deploy/helm/plain-values.yaml). Run it after every chart change; validate.sh fails
# while the two disagree. Installs its Python venv on first use (see lib.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
ensure_venv
exec "$DEPLOY_VENV/bin/python" "$HERE/deploycheck.py" write-plain
