# What every script under tools/demo/ and tools/bench/ needs, sourced by
# each: which backend dtvm runs here, waiting for a line with a deadline,
# the background processes and scratch files a script leaves behind killed
# and removed when it exits (however it exits), and an option's value in a
# list of dtvm options. It sits beside the two folders that source it.
# Usage: source "$(dirname "$0")/../lib.sh"

TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)  # this folder: the scripts call each other through it

# detect_backend BUILD_DIR: sets BACKEND (kvm or process) and BACKEND_WHY,
# dtvm's own answer: a real KVM guest where /dev/kvm works, else worker
# threads over userfaultfd-tracked memory (the process backend).
detect_backend() {
    local choice
    choice=$("$1/dtvm" --print-backend)
    BACKEND=${choice%%:*}
    BACKEND_WHY=${choice#*: }
}

# wait_for_line FILE REGEX SECONDS: returns 0 as soon as a line of FILE
# matches REGEX (grep -E; '' matches anything written at all), 1 if none
# did within SECONDS.
wait_for_line() {
    local file=$1 regex=$2 deadline=$((SECONDS + $3))
    until grep -qE -- "$regex" "$file" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# start_bg COMMAND...: runs COMMAND in the background ($! is its pid, as
# after &) and kills it when the script exits, if it still runs.
BG_PIDS=()
start_bg() {
    "$@" &
    BG_PIDS+=($!)
}

# stop PID...: kills the processes and waits for them, quietly: they may
# have ended already.
stop() {
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# stop_all: stop every process start_bg started.
stop_all() {
    stop "${BG_PIDS[@]}"
    BG_PIDS=()
}

# remove_on_exit PATH...: removed when the script exits.
EXIT_REMOVALS=()
remove_on_exit() {
    EXIT_REMOVALS+=("$@")
}

# scratch_dir: a new private directory (0700), removed on exit.
scratch_dir() {
    SCRATCH=$(mktemp -d)
    remove_on_exit "$SCRATCH"
}

on_exit() {
    stop_all
    rm -rf "${EXIT_REMOVALS[@]}"
}
trap on_exit EXIT

# option NAME ARG...: prints the value that follows NAME in ARG... (dtvm
# options such as --mem 256M); nothing when NAME is not there.
option() {
    local name=$1
    shift
    while [ $# -ge 2 ]; do
        if [ "$1" = "$name" ]; then
            printf '%s\n' "$2"
            return
        fi
        shift
    done
}

# start_incoming BUILD_DIR LOG dtvm-options...: a migration destination
# listening on any free port of 127.0.0.1; sets INCOMING_PID and
# INCOMING_PORT, and exits the script (its log on stderr) if it does not
# listen within 10 s.
start_incoming() {
    local build=$1 log=$2
    shift 2
    start_bg "$build/dtvm" --incoming tcp://127.0.0.1:0 "$@" > "$log" 2>&1
    INCOMING_PID=$!
    if ! wait_for_line "$log" '127\.0\.0\.1:[0-9]+' 10; then
        cat "$log" >&2
        exit 1
    fi
    INCOMING_PORT=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 | cut -d: -f2)
}
