#!/usr/bin/env bash
# Measures the window's frame times while the `t` slider is dragged back and forth, as a
# lecturer scrubs: runs the real app under a private Xvfb, drags the slider handle with
# xdotool for SECONDS, quits with Ctrl+Q, and prints the app's frame-time summary
# (--frame-stats): eframe's frame CPU time and the app's own share, p50 · p99 · max.
# Needs xvfb and xdotool (apt-get install xvfb xdotool).
# Usage: bash scripts/scrub-bench.sh [SECONDS] [app arguments, e.g. --data two-moons]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
command -v xdotool >/dev/null || { echo "error: xdotool not found: apt-get install xdotool" >&2; exit 1; }
cargo build --release
app=$PWD/target/release/diffscope

source scripts/xvfb.sh
start_xvfb 1600x1000x24

out=$(mktemp)
(cd /tmp && "$app" --fresh --frame-stats --size 1440x900 "$@" >"$out" 2>&1) &
app_pid=$!
sleep 4
window=$(xdotool search --sync --name '^diffscope$' | head -1)
# At 1440x900 the slider runs from x ≈ 683 to x ≈ 1330 at y = 17; t = 250 sits near x = 845.
xdotool mousemove 845 17 mousedown 1
end=$((SECONDS + seconds))
x=845
dx=9
while ((SECONDS < end)); do
    x=$((x + dx))
    if ((x > 1320 || x < 690)); then dx=$((-dx)); fi
    xdotool mousemove "$x" 17
    sleep 0.016
done
xdotool mouseup 1
sleep 0.5
xdotool windowfocus --sync "$window" key ctrl+q
wait "$app_pid"
cat "$out"
rm -f "$out"
