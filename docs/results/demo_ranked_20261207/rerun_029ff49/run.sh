#!/bin/bash
# cold then warm `radgen demo` from a clone of main, each under the CPU lock
cd /work/demo-clone
export RADGEN_CACHE_DIR=/tmp/demo3/cache XDG_CACHE_HOME=/tmp/demo3/xdg OMP_NUM_THREADS=2
rm -rf /tmp/demo3/cache /tmp/demo3/xdg /tmp/demo3/cold /tmp/demo3/warm
echo "cold start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" > /tmp/demo3/command.txt
flock /tmp/radgen-cpu.lock /usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo3/cold > /tmp/demo3/cold.out 2> /tmp/demo3/cold.err
echo "cold exit $? $(date -u +%FT%TZ)" >> /tmp/demo3/command.txt
echo "warm start $(date -u +%FT%TZ)" >> /tmp/demo3/command.txt
flock /tmp/radgen-cpu.lock /usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo3/warm > /tmp/demo3/warm.out 2> /tmp/demo3/warm.err
echo "warm exit $? $(date -u +%FT%TZ)" >> /tmp/demo3/command.txt
