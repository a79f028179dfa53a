#!/usr/bin/env bash
# Regenerates every README screenshot in screenshots/ with the app's own --screenshot, under
# a private Xvfb (needs `apt-get install xvfb`, see .ci/run for the run-time libraries).
# Usage: bash scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds only what changed (a no-op when target/release/diffscope is up to date).
cargo build --release
repo=$PWD
app=$repo/target/release/diffscope

# Xvfb puts the pointer at the centre of its screen, and egui_plot draws a crosshair where the
# pointer hovers: a 3000x2000 screen leaves the centre (1500, 1000) outside the 1440x900
# window at (0, 0), so no screenshot shows a stray hover.
source scripts/xvfb.sh
start_xvfb 3000x2000x24

# The ELBO shot waits for its four estimates (the ideal denoiser of 1000 points takes
# most of a minute on two cores).
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
    "reverse-two-moons|--data two-moons --tab reverse --sample"
    "reverse-digits|--data digits --tab reverse --sample"
    "elbo-two-moons|--data two-moons --tab elbo --t 300"
)
for shot in "${shots[@]}"; do
    name=${shot%%|*}
    read -ra args <<<"${shot#*|}"
    (cd /tmp && timeout 400 "$app" "${args[@]}" --screenshot "$repo/screenshots/$name.png" --size 1440x900)
done
