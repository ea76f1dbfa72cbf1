#!/bin/sh
# Install facepace as an appliance on Raspberry Pi OS, or remove it again.
#
#   sudo systemd/install.sh                 install (or update), then reboot
#   sudo systemd/install.sh --uninstall     remove; keeps the logs (/var/lib/facepace) and /etc/facepace
#   systemd/install.sh --root DIR           the same into DIR (DESTDIR=DIR works too), for tests/images
#   --no-systemctl                          don't call systemctl/udevadm (e.g. in a chroot)
#   --i2c-baudrate HZ                       the I2C bus speed (default 400000, the OLED's fast mode;
#                                           100000 is the Pi's own default)
#   --radio-off / --radio-on                Wi-Fi and Bluetooth off for a device meant to have no
#                                           network (kept for updates), or on again
#
# Idempotent: every step checks first and prints only what it changed. With --root the edits go
# to DIR, users are created with `useradd --root`, units are enabled with `systemctl --root`
# (offline), and nothing touches the running system (no apt, no raspi-config, no reload).
set -eu

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${DESTDIR:-/}
ACTION=install
SYSTEMCTL=yes
PYTHON=${PYTHON:-python3}
# The SSD1306 takes 400 kHz (fast mode): a full frame is ~25 ms on the wire instead of ~95 ms.
I2C_BAUDRATE=400000
RADIO=""   # off: Wi-Fi and Bluetooth disabled at the next boot; on: enabled again
while [ $# -gt 0 ]; do
    case $1 in
        --root) ROOT=${2:?--root needs a folder}; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        # For a device meant to have no network (docs/install.md): kept for later updates until --radio-on.
        --radio-off|--radio-on) RADIO=${1#--radio-} ;;
        --uninstall) ACTION=uninstall ;;
        --no-systemctl) SYSTEMCTL=no ;;
        --i2c-baudrate) I2C_BAUDRATE=${2:?--i2c-baudrate needs a number of Hz}; shift ;;
        --i2c-baudrate=*) I2C_BAUDRATE=${1#--i2c-baudrate=} ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $I2C_BAUDRATE in
    ''|*[!0-9]*) echo "install.sh: --i2c-baudrate must be a number of Hz (e.g. 400000), got '$I2C_BAUDRATE'" >&2; exit 2 ;;
esac
if [ "$I2C_BAUDRATE" -lt 10000 ] || [ "$I2C_BAUDRATE" -gt 1000000 ]; then
    echo "install.sh: --i2c-baudrate must be 10000..1000000 Hz, got $I2C_BAUDRATE" >&2; exit 2
fi
ROOT=${ROOT%/}
LIVE=no; [ -z "$ROOT" ] && LIVE=yes   # installing onto the running system
ROOT_OPT=""; [ "$LIVE" = yes ] || ROOT_OPT="--root=$ROOT"   # for useradd, groupadd, usermod, systemctl

USER_NAME=facepace
GROUPS_NEEDED="gpio i2c dialout"
OPT="$ROOT/opt/facepace"
VENV="$OPT/venv"
MANIFEST="$OPT/install-manifest"   # edits that --uninstall must undo exactly
UNITS="facepace.service facepace-sync.service facepace-gadget.service facepace-export@.service facepace-poweroff.path facepace-poweroff.service"
ENABLE="facepace.service facepace-sync.service facepace-gadget.service facepace-poweroff.path"
MARK_BEGIN="# >>> facepace (added by facepace install.sh; removed by --uninstall)"
MARK_END="# <<< facepace"

say() { echo "facepace-install: $*"; }

# Write standard input to DEST with MODE only when the content differs.
put_text() {
    dest=$1 mode=$2
    mkdir -p "$(dirname "$dest")"
    cat > "$dest.in"
    put "$dest.in" "$dest" "$mode"
    rm -f "$dest.in"
}

# Copy SRC to DEST with MODE only when the content differs.
put() {
    src=$1 dest=$2 mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then return 0; fi
    mkdir -p "$(dirname "$dest")"
    cp "$src" "$dest.new"
    chmod "$mode" "$dest.new"
    mv -f "$dest.new" "$dest"
    say "installed ${dest#"$ROOT"}"
}

remove() {
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then rm -rf "$path"; say "removed ${path#"$ROOT"}"; fi
    done
}

has_group() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }
has_user() { grep -q "^$1:" "$ROOT/etc/passwd" 2>/dev/null; }
in_group() { grep -Eq "^$2:[^:]*:[^:]*:(.*,)?$1(,|\$)" "$ROOT/etc/group" 2>/dev/null; }

boot_dir() {
    for dir in "$ROOT/boot/firmware" "$ROOT/boot"; do
        [ -f "$dir/config.txt" ] && { echo "$dir"; return 0; }
    done
    return 0
}

# Replace FILE by the output of the rest of the command line when it differs; say so.
rewrite() {
    file=$1; shift
    # Checked by hand: set -e does not apply inside a function called from `if` or `||`.
    if ! "$@" < "$file" > "$file.new" || [ ! -s "$file.new" ]; then
        rm -f "$file.new"
        echo "install.sh: could not edit $file; left unchanged" >&2
        exit 1
    fi
    if cmp -s "$file" "$file.new"; then rm -f "$file.new"; return 1; fi
    mv -f "$file.new" "$file"
    say "edited ${file#"$ROOT"}"
}

# Wi-Fi and Bluetooth off (dtoverlay), when asked for once with --radio-off.
radio_lines() {
    grep -qx "radio off" "$MANIFEST" 2>/dev/null || return 0
    echo "# no network: Wi-Fi and Bluetooth off (install.sh --radio-on turns them on again)"
    echo "dtoverlay=disable-wifi"
    echo "dtoverlay=disable-bt"
}

# Remember --radio-off/--radio-on in the manifest, so an update keeps the choice.
set_radio() {
    if [ "$RADIO" = off ] && ! grep -qx "radio off" "$MANIFEST" 2>/dev/null; then
        echo "radio off" >> "$MANIFEST"
        say "Wi-Fi and Bluetooth off from the next boot"
    elif [ "$RADIO" = on ] && grep -qx "radio off" "$MANIFEST" 2>/dev/null; then
        grep -vx "radio off" "$MANIFEST" > "$MANIFEST.new" || true
        mv -f "$MANIFEST.new" "$MANIFEST"
        say "Wi-Fi and Bluetooth on again from the next boot"
    fi
}

without_block() { awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0==b{skip=1} !skip{print} $0==e{skip=0}'; }
with_block() {
    without_block
    printf '%s\n[all]\n' "$MARK_BEGIN"
    radio_lines
    echo "# USB gadget serial port for sync (OTG: the port also works as a host)"
    echo "dtoverlay=dwc2"
    [ "$I2C_BY_CONFIG" = yes ] && echo "dtparam=i2c_arm=on"
    echo "# I2C speed for the OLED (install.sh --i2c-baudrate)"
    echo "dtparam=i2c_arm_baudrate=$I2C_BAUDRATE"
    echo "$MARK_END"
}

create_user() {
    for group in $GROUPS_NEEDED; do
        has_group "$group" || { groupadd --system ${ROOT_OPT:+"$ROOT_OPT"} "$group"; say "created group $group"; }
    done
    if ! has_user "$USER_NAME"; then
        useradd --system ${ROOT_OPT:+"$ROOT_OPT"} --user-group --no-create-home --home-dir /var/lib/facepace \
            --shell /usr/sbin/nologin --groups "$(echo "$GROUPS_NEEDED" | tr ' ' ,)" "$USER_NAME"
        say "created system user $USER_NAME (groups $GROUPS_NEEDED)"
    fi
    for group in $GROUPS_NEEDED; do
        in_group "$USER_NAME" "$group" || { usermod ${ROOT_OPT:+"$ROOT_OPT"} -a -G "$group" "$USER_NAME"; say "added $USER_NAME to $group"; }
    done
}

install_package() {
    if [ "$LIVE" = yes ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt-get update -qq && apt-get install -y python3-venv && say "installed python3-venv"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
        say "created /opt/facepace/venv"
    fi
    # Always reinstall: this is also how an update from a newer checkout is applied.
    "$VENV/bin/pip" install --quiet --upgrade "${SOURCE}[pi]"
    say "installed the facepace package from $SOURCE into /opt/facepace/venv (with the pi extra)"
    # Bytecode for every module now: the service sees /opt read-only (ProtectSystem=strict), so a
    # missing .pyc would be compiled again in memory at every start. Quiet when all are up to date;
    # a file that does not compile (a test for another Python in some package) is never imported.
    if ! "$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >&2; then
        say "warning: some files in /opt/facepace/venv did not compile (see above)"
    fi
}

enable_i2c() {
    I2C_BY_CONFIG=yes
    if [ "$LIVE" = yes ] && command -v raspi-config >/dev/null 2>&1; then
        I2C_BY_CONFIG=no
        # get_i2c prints 0 when I2C is already on.
        if [ "$(raspi-config nonint get_i2c)" != 0 ]; then
            raspi-config nonint do_i2c 0
            echo "raspi-config i2c" >> "$MANIFEST"
            say "enabled I2C with raspi-config"
        fi
    fi
}

edit_boot() {
    boot=$(boot_dir)
    if [ -z "$boot" ]; then
        say "no config.txt under $ROOT/boot/firmware or $ROOT/boot: add dtoverlay=dwc2 and modules-load=dwc2 by hand"
        return 0
    fi
    rewrite "$boot/config.txt" with_block || true
    cmdline="$boot/cmdline.txt"
    [ -f "$cmdline" ] || return 0
    # cmdline.txt is one line; a broken one stops the Pi from booting, so edit only a single token.
    if grep -Eq '(^|[[:space:]])modules-load=([^[:space:]]*,)?dwc2(,|[[:space:]]|$)' "$cmdline"; then
        return 0
    elif grep -Eq '(^|[[:space:]])modules-load=' "$cmdline"; then
        if rewrite "$cmdline" sed '1s/\(modules-load=[^[:space:]]*\)/\1,dwc2/'; then
            echo "cmdline append" >> "$MANIFEST"
        fi
    elif rewrite "$cmdline" sed '1s/[[:space:]]*$/ modules-load=dwc2/'; then
        echo "cmdline token" >> "$MANIFEST"
    fi
}

run_systemctl() {
    [ "$SYSTEMCTL" = yes ] || return 0
    if [ "$LIVE" = yes ]; then
        systemctl daemon-reload
        udevadm control --reload
    fi
    systemctl ${ROOT_OPT:+"$ROOT_OPT"} "$@"
}

do_install() {
    create_user
    mkdir -p "$OPT"
    install_package
    put "$SOURCE/systemd/facepace-gadget.sh" "$OPT/libexec/facepace-gadget.sh" 0755
    put "$SOURCE/systemd/facepace-export.sh" "$OPT/libexec/facepace-export.sh" 0755
    put "$SOURCE/docs/appliance.md" "$OPT/docs/appliance.md" 0644
    for unit in $UNITS; do put "$SOURCE/systemd/$unit" "$ROOT/etc/systemd/system/$unit" 0644; done
    put "$SOURCE/systemd/90-facepace.rules" "$ROOT/etc/udev/rules.d/90-facepace.rules" 0644
    # Loaded early so their device majors ("i2c", "ttyGS") exist when facepace.service starts:
    # systemd resolves DeviceAllow=char-* names from /proc/devices once, at start.
    printf 'i2c-dev\nusb_f_acm\n' | put_text "$ROOT/etc/modules-load.d/facepace.conf" 0644

    # Defaults only for a new device: a person's own settings are never overwritten.
    if [ ! -e "$ROOT/etc/facepace/config.toml" ]; then
        if [ -f "$SOURCE/device/settings/defaults/config.toml" ]; then
            put "$SOURCE/device/settings/defaults/config.toml" "$ROOT/etc/facepace/config.toml" 0644
        else
            say "warning: $SOURCE/device/settings/defaults/config.toml missing; the firmware will use its built-in defaults"
        fi
    fi

    enable_i2c
    set_radio
    edit_boot
    # shellcheck disable=SC2086 # the unit list is split on purpose
    run_systemctl enable $ENABLE
    for unit in facepace.service facepace-sync.service; do
        if [ "$LIVE" = yes ] && [ "$SYSTEMCTL" = yes ] && systemctl is-active --quiet "$unit"; then
            systemctl restart "$unit" && say "restarted $unit"
        fi
    done
    say "done; reboot to start facepace (I2C and the USB gadget need a reboot the first time)"
}

do_uninstall() {
    # shellcheck disable=SC2086 # the unit list is split on purpose
    if [ "$LIVE" = yes ]; then run_systemctl disable --now $ENABLE; else run_systemctl disable $ENABLE; fi
    boot=$(boot_dir)
    if [ -n "$boot" ]; then
        rewrite "$boot/config.txt" without_block || true
        if grep -qx "cmdline token" "$MANIFEST" 2>/dev/null; then
            rewrite "$boot/cmdline.txt" sed '1s/ modules-load=dwc2//' || true
        elif grep -qx "cmdline append" "$MANIFEST" 2>/dev/null; then
            rewrite "$boot/cmdline.txt" sed '1s/\(modules-load=[^[:space:]]*\),dwc2/\1/' || true
        fi
    fi
    if [ "$LIVE" = yes ] && grep -qx "raspi-config i2c" "$MANIFEST" 2>/dev/null; then
        raspi-config nonint do_i2c 1 && say "disabled I2C again with raspi-config"
    fi
    for unit in $UNITS; do remove "$ROOT/etc/systemd/system/$unit"; done
    remove "$ROOT/etc/udev/rules.d/90-facepace.rules" "$ROOT/etc/modules-load.d/facepace.conf" "$OPT"
    if [ "$LIVE" = yes ] && [ "$SYSTEMCTL" = yes ]; then systemctl daemon-reload; udevadm control --reload; fi
    # The user stays: the kept files below belong to it, and a reused uid must not inherit them.
    say "kept /var/lib/facepace (session logs), /etc/facepace (settings) and user $USER_NAME"
}

if [ "$LIVE" = yes ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or use --root DIR" >&2
    exit 1
fi
"do_$ACTION"
