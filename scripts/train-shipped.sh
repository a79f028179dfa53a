#!/usr/bin/env bash
# Reproduces the shipped weights in assets/weights/ (README, "Shipped weights").
# Each file records this command and its seed in its safetensors metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/diffscope
mkdir -p assets/weights
# The labelled sets train class-conditional models (classifier-free guidance); the
# swiss roll and the checkerboard have no labels.
for set in two-moons 8gaussians circles spiral; do
    "$bin" train --dataset "$set" --conditional --seed 1 --out "assets/weights/$set.safetensors"
done
for set in swiss-roll checkerboard; do
    "$bin" train --dataset "$set" --seed 1 --out "assets/weights/$set.safetensors"
done
# Flow matching (the straight path's velocity) beside diffusion: the same network and
# defaults, unconditional, one thread (bit for bit reproducible).
for set in two-moons swiss-roll 8gaussians checkerboard circles spiral; do
    "$bin" train --dataset "$set" --objective flow-matching --seed 1 --threads 1 \
        --out "assets/weights/fm-$set.safetensors"
done
"$bin" train --digits --conditional --seed 1 --threads 1 --iters 40000 --ema 0.9995 --out assets/weights/digits.safetensors
# The 28×28 glyph digits U-Net: 16,000 batches of 64 on 60,000 rendered glyphs, then three
# continuations (--init) of 16,000 batches on 120,000 glyphs each at a falling peak learning
# rate (BENCHMARKS.md has the sample quality after each; ≈ 2.4 h on one core in all).
g=$(mktemp -d)
"$bin" train --glyphs --conditional --seed 1 --threads 1 --batch 64 --iters 16000 --ema 0.9995 \
    --out "$g/1.safetensors"
"$bin" train --glyphs --conditional --seed 2 --glyph-count 120000 --threads 1 --batch 64 --iters 16000 \
    --ema 0.9995 --lr 5e-4 --init "$g/1.safetensors" --out "$g/2.safetensors"
"$bin" train --glyphs --conditional --seed 3 --glyph-count 120000 --threads 1 --batch 64 --iters 16000 \
    --ema 0.9995 --lr 3e-4 --init "$g/2.safetensors" --out "$g/3.safetensors"
"$bin" train --glyphs --conditional --seed 5 --glyph-count 120000 --threads 1 --batch 64 --iters 16000 \
    --ema 0.9995 --lr 2e-4 --init "$g/3.safetensors" --out assets/weights/glyphs.safetensors
rm -r "$g"
# The single-image models of the built-in photos ("learn this photo"): 8000 batches of 8
# crops each (≈ 20–25 min on one core; BENCHMARKS.md has their sample quality).
for photo in astronaut camera cat; do
    "$bin" train --image "$photo" --seed 1 --threads 1 --iters 8000 --batch 8 --lr 1e-3 --width 32 \
        --out "assets/weights/photo-$photo.safetensors"
done
# The latent-variable models of the VAE → VDM tab (README, "Shipped weights"), each on
# one thread (bit for bit reproducible).
"$bin" vae train --model vae --iterations 20000 --threads 1 --out assets/weights/vae-two-moons.safetensors
"$bin" vae train --model mhvae --levels 4 --iterations 8000 --threads 1 --out assets/weights/mhvae-two-moons.safetensors
"$bin" vae train --model mhvae --levels 4 --fixed-encoders --to-noise --iterations 8000 --threads 1 \
    --out assets/weights/mhvae-vdm-two-moons.safetensors
