#!/usr/bin/env bash
# Measures the window's frame times while the `t` slider is dragged back and forth, as a
# lecturer scrubs: runs the real app under a private Xvfb, drags the slider handle with
# xdotool for SECONDS, quits with Ctrl+Q, and prints the app's frame-time summary
# (--frame-stats): eframe's frame CPU time and the app's own share, p50 · p99 · max.
# Needs xvfb and xdotool (apt-get install xvfb xdotool).
# Usage: bash scripts/scrub-bench.sh [SECONDS] [app arguments, e.g. --data two-moons]
# Presentation mode at 1920×1080, 150 % (its slider sits at the bottom of the window):
#   SIZE=1920x1080 SLIDER="170 1700 1040" bash scripts/scrub-bench.sh 15 --zoom 1.5 --present
# SIZE is the window (--size), SLIDER the slider's left end, right end and height in
# pixels (measure them on a --screenshot of the same options).
# APP=path/to/diffscope measures another binary (default: builds target/release).
# PRESENTER=1 opens the presenter view's audience window (1280×720) beside the window: the
# slider is dragged in the main window and both windows draw every frame.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
shift || true
command -v xdotool >/dev/null || { echo "error: xdotool not found: apt-get install xdotool" >&2; exit 1; }
if [[ -z ${APP:-} ]]; then
    cargo build --release
    APP=$PWD/target/release/diffscope
fi
app=$APP

source scripts/xvfb.sh
size=${SIZE:-1440x900}
# At 1440x900 the slider runs from x ≈ 760 to x ≈ 1185 at y = 17 (between Play and the
# presenter view's toggle).
read -r left right y <<<"${SLIDER:-760 1185 17}"
presenter=()
if [[ ${PRESENTER:-0} == 1 ]]; then
    presenter=(--presenter)
    start_xvfb 3400x1200x24
else
    start_xvfb 2000x1200x24
fi

out=$(mktemp)
(cd /tmp && "$app" --fresh --frame-stats --size "$size" "${presenter[@]}" "$@" >"$out" 2>&1) &
app_pid=$!
sleep 4
window=$(xdotool search --sync --name '^diffscope$' | head -1)
if ((${#presenter[@]})); then
    audience=$(xdotool search --sync --name 'audience' | head -1)
    xdotool windowmove "$audience" $((${size%x*} + 20)) 0
    xdotool windowraise "$window"
    sleep 1
fi
# t = 250 of 1000 sits a quarter along the slider.
x=$((left + (right - left) / 4))
xdotool mousemove "$x" "$y" mousedown 1
end=$((SECONDS + seconds))
dx=9
while ((SECONDS < end)); do
    x=$((x + dx))
    if ((x > right - 10 || x < left + 7)); then dx=$((-dx)); fi
    xdotool mousemove "$x" "$y"
    sleep 0.016
done
xdotool mouseup 1
sleep 0.5
xdotool windowfocus --sync "$window" key ctrl+q
wait "$app_pid"
cat "$out"
rm -f "$out"
