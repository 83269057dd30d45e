#!/usr/bin/env bash
# First boot of a read-only-root image: make the rest of the SD card the gateway's state
# partition (ext4, label DGSTATE), move what the package put in /var/lib/door-gateway
# onto it, and turn the read-only root on from the next boot. Runs while the root is
# still writable; any failure stops here and the gateway does not start (the door stays
# locked), with the reason on the console.
set -euo pipefail

label=DGSTATE
state=/var/lib/door-gateway
root_part=$(findmnt -n -o SOURCE /)
disk=/dev/$(lsblk -n -o PKNAME "$root_part")
echo "door-gateway: creating the state partition $label on $disk"

# The root partition has a fixed size in the image: the free space after it becomes the
# new last partition (MBR, Linux type).
echo ',,L' | sfdisk --append --no-reread --no-tell-kernel "$disk"
partx --add --nr 3: "$disk" || partx --update "$disk"
udevadm settle
part=$(lsblk -l -n -p -o NAME,TYPE "$disk" | awk '$2 == "part" { last = $1 } END { print last }')
if [ -z "$part" ] || [ "$part" = "$root_part" ]; then
  echo "door-gateway: no new partition on $disk (no free space after the root?)" >&2
  exit 1
fi
mkfs.ext4 -q -L "$label" "$part"

staging=$(mktemp -d)
mount "$part" "$staging"
cp -a "$state/." "$staging/"
chown --reference="$state" "$staging"
chmod --reference="$state" "$staging"
umount "$staging"
rmdir "$staging"
udevadm settle

if [ -f /etc/overlayroot.local.conf.pending ]; then
  mv /etc/overlayroot.local.conf.pending /etc/overlayroot.local.conf
fi
echo "door-gateway: state partition ready; the root file system is read-only from the next boot"
