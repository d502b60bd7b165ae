#!/bin/bash
cd /work/demo-clone
export RADGEN_CACHE_DIR=/tmp/demo-run/cache XDG_CACHE_HOME=/tmp/demo-run/xdg OMP_NUM_THREADS=2
rm -rf /tmp/demo-run/cache /tmp/demo-run/xdg /tmp/demo-run/cold /tmp/demo-run/warm
echo "cold start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" > /tmp/demo-run/command.txt
/usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo-run/cold > /tmp/demo-run/cold.out 2> /tmp/demo-run/cold.err
echo "cold exit $? $(date -u +%FT%TZ)" >> /tmp/demo-run/command.txt
/usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo-run/warm > /tmp/demo-run/warm.out 2> /tmp/demo-run/warm.err
echo "warm exit $? $(date -u +%FT%TZ)" >> /tmp/demo-run/command.txt
