#!/usr/bin/env bash
# Run the pgx + mctx peer benchmark (../shared/peers/mctx_selfplay_bench.py) in a venv of its
# own, so that JAX never enters gozero's environment. Creates the venv on first use.
#
#   bench/peer/run_peer.sh search --policy gumbel --batch 64 --sims 16 --header
#   bench/peer/run_peer.sh net --batches 64,128,256
#
# PEER_VENV (default /tmp/peer-venv) is where the venv lives; PEER_DIR (default ../shared/peers
# next to the repository) is where the peer scripts are. Versions the figures were measured
# with: jax 0.10.2, pgx 2.6.0, mctx 0.0.71, dm-haiku 0.0.17.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${PEER_VENV:-/tmp/peer-venv}"
peers="${PEER_DIR:-$repo/../shared/peers}"
script="$peers/mctx_selfplay_bench.py"
if [[ ! -f "$script" ]]; then
    echo "peer script not found: $script (set PEER_DIR)" >&2
    exit 2
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import jax, pgx, mctx, haiku" 2>/dev/null; then
    echo "creating the peer venv in $venv (jax pgx mctx dm-haiku optax)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q jax pgx mctx dm-haiku optax >&2
fi
exec "$venv/bin/python" "$script" "$@"
