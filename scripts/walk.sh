#!/usr/bin/env bash
# A lecturer's first ten minutes, as the README describes them, driven with real X11 clicks
# and keys (xdotool) on the release binary under a private Xvfb, at 1280x720 and 1440x900:
# a --fresh run, a first saved run, a restart that reads the saved state back, and a
# --fresh run after it. Every step leaves a screenshot in $WALK_OUT (default /tmp/walk)
# named SIZE-RUN-NN-step.png; LOOK at them.
#
# Exits non-zero when the app crashes (exits before Ctrl+Q, or not with 0 after it, or
# prints a panic) or a step's screenshot is missing. What the pictures show is for a
# person to judge; lines starting "note:" report what the script measured (how long
# Ctrl+Q took, whether --fresh wrote the state file).
#
# Needs: apt-get install -y --no-install-recommends xvfb imagemagick xdotool
# Usage: bash scripts/walk.sh [SIZE...]   (default: 1280x720 1440x900)
#        APP=path/to/diffscope to walk another binary (default: builds target/release);
#        ELBO_WAIT=seconds on the ELBO tab before its second screenshot (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
for tool in Xvfb xdotool import; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found: apt-get install -y --no-install-recommends xvfb imagemagick xdotool" >&2
        exit 1
    }
done
if [[ -z ${APP:-} ]]; then
    cargo build --release
    APP=$repo/target/release/diffscope
fi
out=${WALK_OUT:-/tmp/walk}
rm -rf "$out"
mkdir -p "$out"
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1280x720 1440x900)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The window's coordinates (points = pixels at 100 %), the same at both sizes: the top bar
# is laid out from the left (after the Deck button), the left panel is 300 wide by default.
DATA_MENU=(200 16)
T_FIELD=(637 16)
TAB_FORWARD=(351 57)
TAB_REVERSE=(455 57)
TAB_ELBO=(547 57)
TAB_COMPARE=(642 57)
SAMPLE=(341 93)
RESUME=(422 93)
STEP=(493 93)
# Items of the open Data menu (x, then y of each): photos, digits, then the 2D sets, under
# their group headings (all ten in view, issue 12 item 13).
MENU_X=182
MENU_Y=(61 86 110 150 191 215 239 263 287 311)
MENU_NAMES=(astronaut camera cat digits two-moons swiss-roll gaussians checkerboard circles spiral)

# One run of the app: walk_run SIZE RUN ARGS... ; the steps are in the function named by
# $steps. Sets $pid, $window, $shot_n, $prefix.
walk_run() {
    local size=$1 run=$2
    shift 2
    prefix="$out/$size-$run"
    shot_n=0
    (cd /tmp && exec "$APP" --size "$size" "$@") >"$prefix.log" 2>&1 &
    pid=$!
    window=
    for _ in $(seq 300); do
        window=$(xdotool search --pid "$pid" 2>/dev/null | tail -1 || true)
        [[ -n $window ]] && break
        alive
        sleep 0.1
    done
    [[ -n $window ]] || fail "$size $run: no window after 30 s"
    # Without a window manager the keyboard goes nowhere until the window has the focus.
    sleep 2
    xdotool windowfocus "$window" 2>/dev/null || true
    "$steps"
    quit
}

# Fails when the app has exited or panicked.
alive() {
    if grep -q "panicked" "$prefix.log" 2>/dev/null; then
        fail "$prefix: the app panicked: $(grep -m1 -A2 panicked "$prefix.log")"
    fi
    kill -0 "$pid" 2>/dev/null || fail "$prefix: the app exited (crash?): $(tail -3 "$prefix.log")"
}

# shot NAME: waits a moment for the frame, then saves the screen.
shot() {
    sleep "${2:-0.8}"
    alive
    shot_n=$((shot_n + 1))
    local file
    file=$(printf '%s-%02d-%s.png' "$prefix" "$shot_n" "$1")
    import -window root "$file" 2>/dev/null || true
    [[ -s $file ]] || fail "missing screenshot $file"
    echo "  $file"
}

click() {
    xdotool mousemove "$1" "$2" click 1
    sleep 0.4
}

key() {
    xdotool key --delay 120 "$@"
    sleep 0.3
}

quit() {
    alive
    local start end
    start=$(date +%s%N)
    xdotool windowfocus "$window" 2>/dev/null || true
    xdotool key ctrl+q
    for _ in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    end=$(date +%s%N)
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        fail "$prefix: Ctrl+Q did not close the window within 10 s"
    fi
    local status=0
    wait "$pid" || status=$?
    [[ $status -eq 0 ]] || fail "$prefix: the app exited with $status: $(tail -3 "$prefix.log")"
    grep -q "panicked" "$prefix.log" && fail "$prefix: the app panicked: $(grep -m1 -A2 panicked "$prefix.log")"
    echo "note: $prefix: Ctrl+Q closed the window in $(((end - start) / 1000000)) ms"
}

open_data() {
    click "${DATA_MENU[@]}"
    click "$MENU_X" "${MENU_Y[$1]}"
}

# The whole walk (a fresh run, and the first saved run).
full_walk() {
    shot start 3
    # The Data menu: every data set in turn, each on the Forward tab.
    click "${DATA_MENU[@]}"
    shot data-menu
    key Escape
    for i in "${!MENU_NAMES[@]}"; do
        open_data "$i"
        shot "data-${MENU_NAMES[$i]}" 2
    done
    # Two moons for the rest (shipped weights: Reverse and ELBO work at once).
    open_data 4
    shot two-moons 2
    # Scrub t with the keys.
    click 700 300 # the central panel (no widget), so keys go to the app
    key space
    shot playing 2
    key space
    shot paused
    key Right Right Right
    shot right-x3
    key shift+Right
    shot shift-right
    key Left shift+Left
    shot left-shift-left
    key Home
    shot home
    key End
    shot end
    # Tabs back and forth.
    for tab in COMPARE FORWARD ELBO REVERSE FORWARD COMPARE; do
        local var="TAB_$tab[@]"
        click "${!var}"
        shot "tab-${tab,,}" 1.5
    done
    click "${TAB_FORWARD[@]}"
    # The T field, digit by digit: 50, then back to 1000.
    click "${T_FIELD[@]}"
    key ctrl+a
    for digit in 5 0; do
        xdotool type --delay 200 "$digit"
        shot "T-typed-$digit"
    done
    key Return
    shot T-50-enter 1.5
    click "${T_FIELD[@]}"
    key ctrl+a
    for digit in 1 0 0 0; do
        xdotool type --delay 200 "$digit"
        shot "T-typed-1000-$digit" 0.5
    done
    key Return
    shot T-1000-enter 1.5
    # The Reverse tab: Sample, Pause (Space), Step, Resume.
    click "${TAB_REVERSE[@]}"
    click "${SAMPLE[@]}"
    shot sampling 2
    click 700 300
    key space
    shot sample-paused
    click "${STEP[@]}"
    shot stepped
    click "${STEP[@]}"
    shot stepped-twice
    click "${RESUME[@]}"
    shot resumed 3
    # The ELBO tab: at once, and after $ELBO_WAIT seconds (default 90) of estimating.
    click "${TAB_ELBO[@]}"
    shot elbo 2
    for _ in $(seq "$(((${ELBO_WAIT:-90} + 9) / 10))"); do
        alive
        sleep 10
    done
    shot elbo-later 0
    click "${TAB_COMPARE[@]}"
    shot compare 2
    # F3, F11, theme, UI scale.
    click 700 300
    key F3
    shot f3 1.5
    key F3
    key F11
    shot f11 2
    key F11
    shot f11-off 2
    # UI scale 120 % on the ELBO tab (two presses a frame apart: egui counts the presses
    # of one frame once).
    click "${TAB_ELBO[@]}"
    key ctrl+equal
    sleep 1
    key ctrl+equal
    shot elbo-zoom-120 2
    key ctrl+0
    shot zoom-reset 1.5
    # The theme buttons at the bottom of the left panel (on the Forward tab, whose plots
    # panel ends the left panel at a known height).
    click "${TAB_FORWARD[@]}"
    xdotool mousemove 150 300
    for _ in $(seq 30); do xdotool click 5; done
    shot left-panel-bottom
    click 90 "$LIGHT_Y"
    shot light-theme 1
    click "${TAB_ELBO[@]}"
    shot elbo-light 2
}

# A restart: what was saved is read back (the last data set, tab and theme).
restart_walk() {
    shot start 4
    click "${TAB_FORWARD[@]}"
    shot forward 2
}

status=0
for size in "${sizes[@]}"; do
    width=${size%x*}
    height=${size#*x}
    # The light button: from the bottom of the left panel, which ends above the plots.
    LIGHT_Y=$((343 + height - 720))
    (
        # shellcheck source=scripts/xvfb.sh
        source scripts/xvfb.sh
        start_xvfb "${width}x${height}x24"
        home=$out/home-$size
        mkdir -p "$home"
        export XDG_DATA_HOME=$home XDG_CONFIG_HOME=$home
        state=$home/diffscope/app.ron
        echo "== $size: --fresh"
        steps=full_walk walk_run "$size" fresh --fresh
        [[ -e $state ]] && echo "note: $size: --fresh wrote $state"
        echo "== $size: first saved run"
        steps=full_walk walk_run "$size" saved
        [[ -e $state ]] || echo "note: $size: no state saved at $state"
        before=$(md5sum "$state" 2>/dev/null || true)
        echo "== $size: restart (reads the state back)"
        steps=restart_walk walk_run "$size" restart
        echo "== $size: --fresh after a saved run"
        before=$(md5sum "$state" 2>/dev/null || true)
        steps=restart_walk walk_run "$size" fresh-again --fresh
        after=$(md5sum "$state" 2>/dev/null || true)
        [[ $before == "$after" ]] || echo "note: $size: --fresh changed $state"
    ) || status=1
done
[[ $status -eq 0 ]] && echo "walk done: screenshots in $out"
exit "$status"
