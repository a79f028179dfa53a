#!/usr/bin/env bash
# How long Ctrl+Q takes to end the process (issue 12 item 8): the real window under Xvfb,
# in four states (idle Forward tab; the Markov chain of the photo still building; a 2D
# model training; the ELBO tab estimating), RUNS times each. Prints one line per run and
# the median per state. Needs xvfb and xdotool.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/xvfb.sh
runs=${RUNS:-3}
cargo build --release --quiet
start_xvfb 1280x720x24
states=(
    "idle|6|--fresh"
    "photo-chain-building|1.5|--fresh --t 900"
    "training|6|--fresh --data two-moons --tab reverse --train"
    "elbo-estimating|3|--fresh --tab elbo"
)
for state in "${states[@]}"; do
    IFS='|' read -r name wait args <<<"$state"
    times=()
    for run in $(seq "$runs"); do
        # shellcheck disable=SC2086
        ./target/release/diffscope $args --size 1280x720 >/dev/null 2>&1 &
        pid=$!
        sleep "$wait"
        window=$(xdotool search --onlyvisible --pid "$pid" | tail -1)
        xdotool windowfocus --sync "$window"
        t0=$(date +%s%N)
        xdotool key ctrl+q
        wait "$pid"
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        times+=("$ms")
        echo "$name run $run: $ms ms from Ctrl+Q to exit"
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$name: median $median ms over $runs runs"
done
