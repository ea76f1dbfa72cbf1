#!/bin/sh
# Export the session log to the USB drive partition $1 (a kernel name like sda1), from
# facepace-export@.service: mount it, run `facepace export --to MOUNTPOINT` as user facepace,
# flush, unmount, and report to the firmware. The firmware shows "Exported n - safe to remove"
# only from state=done, which is written after the unmount succeeded.
#
# Report: $FACEPACE_RUNTIME_DIR/export-status (default /run/facepace), replaced atomically,
# key=value lines: state=exporting|done|failed, device=, sessions=, error=, time= (epoch seconds).
# `facepace export --porcelain` exits 0 on success and prints key=value lines: sessions=N, folder=.
set -eu

device=${1:?usage: facepace-export.sh DEVICE (e.g. sda1)}
case $device in *[!a-z0-9]*) echo "facepace-export: bad device name: $device" >&2; exit 2 ;; esac

DEV_DIR=${FACEPACE_DEV_DIR:-/dev}
RUN_DIR=${FACEPACE_RUNTIME_DIR:-/run/facepace}
STATE_DIR=${FACEPACE_STATE_DIR:-/var/lib/facepace}
FACEPACE=${FACEPACE_BIN:-/opt/facepace/venv/bin/facepace}
USER_NAME=${FACEPACE_USER:-facepace}
# systemd's RuntimeDirectory=facepace-export/%i: private to this unit, removed when it ends.
MOUNTPOINT=${RUNTIME_DIRECTORY:-/run/facepace-export/$device}

log() { echo "facepace-export: $device: $*"; }

report() {
    state=$1 sessions=${2:-} error=${3:-}
    if [ ! -d "$RUN_DIR" ]; then
        log "firmware not running ($RUN_DIR missing); $state not shown on screen"
        return 0
    fi
    tmp="$RUN_DIR/.export-status.$$"
    printf 'state=%s\ndevice=%s\nsessions=%s\nerror=%s\ntime=%s\n' \
        "$state" "$device" "$sessions" "$error" "$(date +%s)" > "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$RUN_DIR/export-status"
}

mounted=0
# Drive pulled out (BindsTo= stops us with SIGTERM) or any other stop: never leave a mount behind.
on_stop() {
    if [ "$mounted" = 1 ]; then umount -l "$MOUNTPOINT" || true; fi
    report failed "" "drive removed during export"
    exit 1
}
trap on_stop TERM INT HUP

report exporting
mkdir -p "$MOUNTPOINT"
uid=$(id -u "$USER_NAME")
gid=$(id -g "$USER_NAME")
# FAT and exFAT have no owners: uid/gid/umask make the files the facepace user's alone.
if ! mount -o "nosuid,nodev,noexec,noatime,uid=$uid,gid=$gid,umask=0077" "$DEV_DIR/$device" "$MOUNTPOINT"; then
    report failed "" "cannot mount the drive"
    exit 1
fi
mounted=1
log "mounted on $MOUNTPOINT"

status=0
output=$(setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups --reset-env -- \
    env FACEPACE_STATE_DIR="$STATE_DIR" FACEPACE_RUNTIME_DIR="$RUN_DIR" "$FACEPACE" export --porcelain --to "$MOUNTPOINT") || status=$?
printf '%s\n' "$output"
sessions=$(printf '%s\n' "$output" | sed -n 's/^sessions=\([0-9][0-9]*\)$/\1/p' | tail -n 1)

sync -f "$MOUNTPOINT" || sync
if ! umount "$MOUNTPOINT"; then
    report failed "$sessions" "cannot unmount the drive"
    exit 1
fi
mounted=0
log "flushed and unmounted"

if [ "$status" -ne 0 ]; then
    report failed "$sessions" "export failed (exit $status)"
    exit 1
fi
report "done" "$sessions"
log "exported ${sessions:-?} sessions; safe to remove"
