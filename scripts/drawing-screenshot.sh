#!/usr/bin/env bash
# Writes screenshots/drawing.png (README, "Draw your own data"): the window at 1280x720 in
# draw mode, a heart drawn with the brush by xdotool's pointer (one stroke), a gap erased
# with the right button and taken back with Ctrl+Z, t = 100. Needs xvfb, xdotool and
# imagemagick (apt-get install xvfb xdotool imagemagick).
# Usage: bash scripts/drawing-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
repo=$PWD
source scripts/xvfb.sh
# The screen is the window: no window manager, the window at (0, 0).
start_xvfb 1280x720x24
settings=$(mktemp -d)
(cd /tmp && XDG_DATA_HOME=$settings "$repo/target/release/diffscope" --fresh --data two-moons \
    --size 1280x720 --t 100 --draw) &
app=$!
trap 'kill "$app" 2>/dev/null || true; kill "$xvfb_pid" 2>/dev/null || true; rm -rf "$settings"' EXIT
sleep 4
xdotool windowfocus --sync "$(xdotool search --pid "$app" | tail -1)"
# Clear: an empty canvas (the Draw row's second button from the right at this size).
xdotool mousemove 812 127 click 1
sleep 0.5
# The heart x = 16 sin³s, y = 13 cos s − 5 cos 2s − 2 cos 3s − cos 4s, 6.4 px a unit, around
# the canvas's centre.
python3 - <<'PY' | bash
import math
cx, cy, scale = 592, 345, 6.4
def at(s):
    x = 16 * math.sin(s) ** 3
    y = 13 * math.cos(s) - 5 * math.cos(2 * s) - 2 * math.cos(3 * s) - math.cos(4 * s)
    return round(cx + scale * x), round(cy - scale * y)
print("xdotool mousemove %d %d mousedown 1" % at(0))
for k in range(1, 121):
    print("xdotool mousemove %d %d; sleep 0.015" % at(2 * math.pi * k / 120))
print("xdotool mouseup 1; sleep 0.3")
PY
xdotool mousemove 560 420 mousedown 3 sleep 0.05 mousemove 570 425 sleep 0.05 mousemove 580 430 sleep 0.05 mouseup 3
sleep 0.4
xdotool key ctrl+z
# The pointer off the views, so no hover shows.
xdotool mousemove 1270 560
sleep 1
import -window root "$repo/screenshots/drawing.png"
echo "wrote screenshots/drawing.png"
