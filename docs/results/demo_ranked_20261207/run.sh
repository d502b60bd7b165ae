#!/bin/bash
# cold then warm `radgen demo` from a clone of main, each under the CPU lock
cd /work/demo-clone
export RADGEN_CACHE_DIR=/tmp/demo2/cache XDG_CACHE_HOME=/tmp/demo2/xdg OMP_NUM_THREADS=2
rm -rf /tmp/demo2/cache /tmp/demo2/xdg /tmp/demo2/cold /tmp/demo2/warm
echo "cold start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD)" > /tmp/demo2/command.txt
flock /tmp/radgen-cpu.lock /usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo2/cold > /tmp/demo2/cold.out 2> /tmp/demo2/cold.err
echo "cold exit $? $(date -u +%FT%TZ)" >> /tmp/demo2/command.txt
echo "warm start $(date -u +%FT%TZ)" >> /tmp/demo2/command.txt
flock /tmp/radgen-cpu.lock /usr/bin/time -v .venv/bin/radgen demo --no-progress --output-dir /tmp/demo2/warm > /tmp/demo2/warm.out 2> /tmp/demo2/warm.err
echo "warm exit $? $(date -u +%FT%TZ)" >> /tmp/demo2/command.txt
