#!/usr/bin/env bash
# Rehearses the README's test command on a fresh Debian 12 system, so that a
# package installed by hand on this machine cannot be what makes it pass:
#   1. builds a minimal Debian 12 root with debootstrap (--variant=minbase),
#      from the mirrors this machine's apt already uses;
#   2. copies a clean clone of HEAD into it (committed files only);
#   3. runs `bash scripts/setup-debian.sh && bash scripts/test.sh` inside it.
# Run as root:  bash scripts/fresh-check.sh [ROOT]   (default /var/tmp/xfc-fresh)
# ROOT is made anew each run. Expect 20-40 minutes on 2 cores; the log of the
# run inside is ROOT.log.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/xfc-fresh}
log=$root.log
[ "$(id -u)" = 0 ] || { echo "fresh-check: needs root (debootstrap, chroot, mount)" >&2; exit 1; }

# The mirror: the first Debian archive URI of this machine's apt sources.
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || { echo "fresh-check: no Debian mirror found in /etc/apt" >&2; exit 1; }

command -v debootstrap >/dev/null || { apt-get update && apt-get install -y --no-install-recommends debootstrap; }

umount_all() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$root/$m" && umount -l "$root/$m"
    done
    return 0
}
trap umount_all EXIT

umount_all
rm -rf "$root"
echo "== debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
    { tail -n 20 "$root.debootstrap.log"; exit 1; }
cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The network this machine is on may re-sign TLS with a local authority: give
# the root the same trust anchors (ca-certificates, installed by the setup,
# adds them to its bundle) and pip's configuration, or PyPI is unreachable.
if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

echo "== clean clone of HEAD ($(git rev-parse --short HEAD)) into $root/work/main"
mkdir -p "$root/work"
git archive --format=tar --prefix=main/ HEAD | tar -x -C "$root/work"

echo "== the README's test command, inside the fresh root (log: $log)"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin CI=true \
    bash -c 'cd /work/main && bash scripts/setup-debian.sh && bash scripts/test.sh' > "$log" 2>&1
rc=$?
set -e
tail -n 15 "$log"
echo "fresh-check: exit status $rc"
exit $rc
