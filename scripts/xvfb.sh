# Sourced by the scripts here: start_xvfb SCREEN starts a private Xvfb (e.g. SCREEN =
# 3000x2000x24) on the first free display from 140, stops it when the script exits, and
# exports DISPLAY (and unsets WAYLAND_DISPLAY, so the app uses it).
start_xvfb() {
    command -v Xvfb >/dev/null || { echo "error: Xvfb not found: apt-get install xvfb" >&2; exit 1; }
    local display=140
    # A free display number: neither its socket nor its lock file exists.
    while [[ -e /tmp/.X11-unix/X$display || -e /tmp/.X$display-lock ]]; do
        display=$((display + 1))
    done
    Xvfb ":$display" -screen 0 "$1" -nolisten tcp -noreset >/dev/null 2>&1 &
    xvfb_pid=$!
    trap 'kill "$xvfb_pid" 2>/dev/null || true; wait "$xvfb_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        [[ -S /tmp/.X11-unix/X$display ]] && break
        kill -0 "$xvfb_pid" 2>/dev/null || { echo "error: Xvfb :$display did not start" >&2; exit 1; }
        sleep 0.1
    done
    [[ -S /tmp/.X11-unix/X$display ]] || { echo "error: Xvfb :$display did not start" >&2; exit 1; }
    export DISPLAY=":$display"
    unset WAYLAND_DISPLAY
}
