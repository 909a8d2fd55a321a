#!/usr/bin/env bash
# Referee study: gozero (shipped model, 1000 visits) against GNU Go level 10, judged by GNU Go's dead stones
# (no cleanup), with gozero searching by the strict count (tromp-taylor) and by area with dead stones removed.
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
M=src/gozero/models/9x9.pt
export OMP_NUM_THREADS=1 GOZERO_COMPILE=0
arm=$1; core=$2
if [ "$arm" = area ]; then
  A="gozero:$M@1000"
else
  A="gtp:$PY -m gozero.cli gtp --model $M --visits 1000 --rules tromp-taylor"
fi
taskset -c $core nice -n 19 $PY -m gozero.cli match "$A" gnugo:10 -n 16 --parallel 1 --scoring gnugo-dead \
  --db docs/scoring-referee/$arm.db --sgf-dir docs/scoring-referee/sgf-$arm > docs/scoring-referee/$arm.log 2>&1
