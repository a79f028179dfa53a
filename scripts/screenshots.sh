#!/usr/bin/env bash
# Regenerates every README screenshot in screenshots/ with the app's own --screenshot, under
# a private Xvfb (needs `apt-get install xvfb`, see .ci/run for the run-time libraries).
# Usage: bash scripts/screenshots.sh
# (screenshots/drawing.png needs a pointer that draws: scripts/drawing-screenshot.sh.)
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
    # The 28×28 glyph digits' chain paused mid-way, at both projector sizes.
    "reverse-glyphs-1280x720|--data glyphs --tab reverse --sample --pause-at 400 --size 1280x720"
    "reverse-glyphs-1920x1080-150|--data glyphs --tab reverse --sample --pause-at 400 --size 1920x1080 --zoom 1.5"
    "reverse-photo-cat-1280x720|--data cat --tab reverse --canvas wide --sample --pause-at 400 --size 1280x720"
    "reverse-photo-cat-1920x1080-150|--data cat --tab reverse --canvas wide --sample --pause-at 400 --size 1920x1080 --zoom 1.5"
    "reverse-photo-cat-wide|--data cat --tab reverse --canvas wide --sample --size 1280x720"
    "elbo-two-moons|--data two-moons --tab elbo --t 300"
    # Issue 18: the density view (its 100 × 100 grid takes about 75 s here), and
    # the probability-flow ODE with DDPM's chain from the same x_T beside it.
    "density|--data two-moons --tab elbo --density --size 1280x720"
    "ode-paths|--data two-moons --tab reverse --sample --sampler ode --size 1280x720"
    # Flow matching (the shipped fm-two-moons, Euler) paused at t = 400 beside the diffusion
    # model's ODE, and the quality-vs-steps chart (about a minute).
    "flow-matching|--data two-moons --tab reverse --sample --sampler euler --pause-at 400 --size 1280x720"
    "quality|--data two-moons --tab reverse --quality --size 1280x720"
    # The VAE → VDM tab: the lecture's first chapter (the VAE, shipped weights), the
    # hierarchical VAE (chapter 5) and all three switches on (chapter 9), at 1280x720.
    "vae-two-moons|--deck lecture --chapter 1"
    "mhvae-two-moons|--deck lecture --chapter 5 --size 1280x720"
    "mhvae-vdm|--deck lecture --chapter 9 --size 1280x720"
    "vae-present-1920x1080-150|--deck lecture --chapter 1 --size 1920x1080 --zoom 1.5 --present"
    # The Markov chain tab: the lecture's third chapter (a slow-mixing chain at n = 10).
    "markov-chain|--deck lecture --chapter 3"
    # The same tab on the digits: D3PM (absorbing) at t = 300, the fourth chapter.
    "markov-d3pm|--deck lecture --chapter 4"
    # Three chapters of the built-in lecture deck at a projector's 1280x720 (the names are
    # of their slides, from before the VAE's and the Markov chain's chapters came first).
    "lecture-1-vdm|--deck lecture --chapter 10 --size 1280x720"
    "lecture-5-reverse|--deck lecture --chapter 14 --size 1280x720"
    "lecture-7-elbo|--deck lecture --chapter 16 --size 1280x720"
    # A projector: 1280x720 at 100 %, 1920x1080 at 150 % (the same 1280x720 points), and
    # presentation mode (F5).
    "projector-1280x720|--t 250 --size 1280x720"
    "projector-1920x1080-150|--t 250 --size 1920x1080 --zoom 1.5"
    "present-1280x720|--t 250 --size 1280x720 --present"
    # Classifier-free guidance (assets/decks/guidance.toml): the digits model guided to a
    # seven at w = 0 and w = 3, and the guided score field of the 8 gaussians, presenting.
    "guided-digits-w0|--deck $repo/assets/decks/guidance.toml --chapter 2 --size 1280x720"
    "guided-digits-w3|--deck $repo/assets/decks/guidance.toml --chapter 3 --size 1280x720"
    "guided-field-present-1280x720|--deck $repo/assets/decks/guidance.toml --chapter 4 --size 1280x720 --present"
)
for shot in "${shots[@]}"; do
    name=${shot%%|*}
    read -ra args <<<"${shot#*|}"
    # 1440x900 unless the shot names its own size.
    [[ " ${args[*]} " == *" --size "* ]] || args+=(--size 1440x900)
    (cd /tmp && timeout 400 "$app" "${args[@]}" --screenshot "$repo/screenshots/$name.png")
done
