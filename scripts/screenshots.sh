#!/usr/bin/env bash
# Regenerates every README screenshot in screenshots/ with the app's own --screenshot, under
# a private Xvfb (needs `apt-get install xvfb`, see .ci/run for the run-time libraries).
# Usage: bash scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v Xvfb >/dev/null || { echo "error: Xvfb not found: apt-get install xvfb" >&2; exit 1; }

# Builds only what changed (a no-op when target/release/diffscope is up to date).
cargo build --release
repo=$PWD
app=$repo/target/release/diffscope

# A free display number: neither its socket nor its lock file exists.
display=140
while [[ -e /tmp/.X11-unix/X$display || -e /tmp/.X$display-lock ]]; do
    display=$((display + 1))
done
# Xvfb puts the pointer at the centre of its screen, and egui_plot draws a crosshair where the
# pointer hovers: a 3000x2000 screen leaves the centre (1500, 1000) outside the 1440x900
# window at (0, 0), so no screenshot shows a stray hover.
Xvfb ":$display" -screen 0 3000x2000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    [[ -S /tmp/.X11-unix/X$display ]] && break
    kill -0 "$xvfb_pid" 2>/dev/null || { echo "error: Xvfb :$display did not start" >&2; exit 1; }
    sleep 0.1
done
[[ -S /tmp/.X11-unix/X$display ]] || { echo "error: Xvfb :$display did not start" >&2; exit 1; }

mkdir -p screenshots
# NAME, then the app's arguments. --screenshot implies --fresh: default settings, none saved.
# The app runs in /tmp: the window shows its working directory (the export folder), and a
# neutral one keeps the pictures the same on every machine.
shots=(
    "forward-astronaut|--t 250"
    "forward-two-moons|--data two-moons --t 300"
    "compare-astronaut|--tab compare --t 250"
    "compare-two-moons|--data two-moons --tab compare"
    "forward-camera|--data camera --t 350"
)
for shot in "${shots[@]}"; do
    name=${shot%%|*}
    read -ra args <<<"${shot#*|}"
    (cd /tmp && timeout 90 env -u WAYLAND_DISPLAY DISPLAY=":$display" \
        "$app" "${args[@]}" --screenshot "$repo/screenshots/$name.png" --size 1440x900)
done
