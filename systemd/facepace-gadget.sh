#!/bin/sh
# Set up the USB gadget: one CDC ACM serial function (the host sees /dev/ttyACM*, we see /dev/ttyGS0),
# product "facepace", serial number = the device id. Run by facepace-gadget.service at boot and when
# a UDC appears. Idempotent: an attribute is written only when it differs, and the UDC is bound once;
# if something must change while bound, the gadget is unbound, changed and bound again.
# Harmless without a gadget-capable port (Pi 3, or no dtoverlay=dwc2): logs and exits 0.
#
# The roots are overridable so tests can run this against a fake tree in a temporary folder.
set -eu

CONFIGFS=${FACEPACE_CONFIGFS:-/sys/kernel/config}
SYSFS=${FACEPACE_SYSFS:-/sys}
PROCFS=${FACEPACE_PROCFS:-/proc}
STATE_DIR=${FACEPACE_STATE_DIR:-/var/lib/facepace}
GADGET="$CONFIGFS/usb_gadget/facepace"

log() { echo "facepace-gadget: $*"; }

# The first UDC (USB device controller) name, empty when there is none.
udc_name() {
    for path in "$SYSFS"/class/udc/*; do
        [ -e "$path" ] && { basename "$path"; return 0; }
    done
    return 0
}

# Same id the firmware reports over the sync protocol; the Pi's serial until the app has written one.
device_id() {
    id=""
    [ -r "$STATE_DIR/device-id" ] && id=$(head -n 1 "$STATE_DIR/device-id")
    [ -z "$id" ] && [ -r "$SYSFS/firmware/devicetree/base/serial-number" ] &&
        id=$(tr -d '\000' < "$SYSFS/firmware/devicetree/base/serial-number")
    [ -z "$id" ] && id=$(sed -n 's/^Serial[[:space:]]*:[[:space:]]*//p' "$PROCFS/cpuinfo" 2>/dev/null | head -n 1)
    # USB string descriptors: keep it printable and short.
    printf '%s' "${id:-unknown}" | tr -cd 'A-Za-z0-9._-' | cut -c1-64
}

changed=0
# Write VALUE to FILE unless it already holds it (configfs reads values back with a newline).
set_attr() {
    file=$1 value=$2
    if [ ! -e "$file" ] || [ "$(cat "$file")" != "$value" ]; then
        unbind_if_bound
        echo "$value" > "$file"
        changed=1
    fi
}

unbound=0
# Most gadget attributes cannot change while bound (EBUSY), so unbind once before the first change.
unbind_if_bound() {
    if [ "$unbound" = 0 ] && [ -n "$(cat "$GADGET/UDC" 2>/dev/null || true)" ]; then
        log "unbinding to apply changes"
        echo "" > "$GADGET/UDC"
        unbound=1
    fi
}

udc=$(udc_name)
if [ -z "$udc" ]; then
    log "no USB device controller in $SYSFS/class/udc (needs dtoverlay=dwc2 and an OTG port); nothing to do"
    exit 0
fi

if [ ! -d "$CONFIGFS/usb_gadget" ]; then
    modprobe libcomposite || true
fi
if [ ! -d "$CONFIGFS/usb_gadget" ]; then
    log "configfs usb_gadget not available (libcomposite missing?); nothing to do"
    exit 0
fi

mkdir -p "$GADGET"
set_attr "$GADGET/idVendor" 0x1d6b   # Linux Foundation
set_attr "$GADGET/idProduct" 0x0104  # Multifunction Composite Gadget
set_attr "$GADGET/bcdDevice" 0x0100
set_attr "$GADGET/bcdUSB" 0x0200
mkdir -p "$GADGET/strings/0x409"
set_attr "$GADGET/strings/0x409/manufacturer" "facepace"
set_attr "$GADGET/strings/0x409/product" "facepace"
set_attr "$GADGET/strings/0x409/serialnumber" "$(device_id)"
mkdir -p "$GADGET/configs/c.1/strings/0x409"
set_attr "$GADGET/configs/c.1/strings/0x409/configuration" "CDC ACM serial"
set_attr "$GADGET/configs/c.1/MaxPower" 250
if [ ! -d "$GADGET/functions/acm.usb0" ]; then
    unbind_if_bound
    mkdir -p "$GADGET/functions/acm.usb0"
    changed=1
fi
if [ ! -e "$GADGET/configs/c.1/acm.usb0" ]; then
    unbind_if_bound
    ln -s "$GADGET/functions/acm.usb0" "$GADGET/configs/c.1/acm.usb0"
    changed=1
fi

if [ -z "$(cat "$GADGET/UDC" 2>/dev/null || true)" ]; then
    echo "$udc" > "$GADGET/UDC"
    log "bound to $udc (serial number $(device_id))"
elif [ "$changed" = 0 ]; then
    log "already set up and bound; unchanged"
fi
