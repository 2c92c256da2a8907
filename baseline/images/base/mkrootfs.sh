#!/bin/sh
# Build the plancheck base root filesystem (Debian 12 "bookworm", minbase) into
# the directory given as $1.  Called by baseline/images/build.sh; the output is
# tarred, cached in baseline/.cache/ and imported as plancheck/base:<hash>.
# Everything that shapes the rootfs lives in this directory, so editing any
# file here changes the base hash and therefore every service image tag.
set -eu
dir=$1
mirror=${PLANCHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${PLANCHECK_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
here=$(cd "$(dirname "$0")" && pwd)

debootstrap --variant=minbase --components=main bookworm "$dir" "$mirror"

# Full suite set: release, point-release updates, security updates.
cat > "$dir/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SRC

# Never start services from maintainer scripts inside the image.
install -m 0755 "$here/policy-rc.d" "$dir/usr/sbin/policy-rc.d"
install -m 0755 "$here/pc-install" "$dir/usr/local/sbin/pc-install"
# Small images: no recommends, no docs/man pages/locales.
install -m 0644 "$here/apt-plancheck.conf" "$dir/etc/apt/apt.conf.d/90plancheck"
install -m 0644 "$here/dpkg-nodoc.cfg" "$dir/etc/dpkg/dpkg.cfg.d/90plancheck-nodoc"
ln -sf /usr/share/zoneinfo/Etc/UTC "$dir/etc/localtime"
echo Etc/UTC > "$dir/etc/timezone"

# Apply bookworm-updates/security on top of the debootstrapped release and keep
# the package lists in the base: every service image installs from the same,
# consistent snapshot of the index (build.sh falls back to apt-get update if a
# pinned version disappeared from the mirror).
mount -t proc proc "$dir/proc" 2>/dev/null || true
trap 'umount "$dir/proc" 2>/dev/null || true' EXIT
chroot "$dir" /bin/sh -ec '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -y -qq -o Dpkg::Use-Pty=0 dist-upgrade
  # adduser up front, with the system uid/gid range widened to 29999: service
  # images pre-create their daemon users with fixed uids (10001...) so host
  # files can be owned by them, and package maintainer scripts must accept
  # those accounts as system users.
  apt-get -y -qq -o Dpkg::Use-Pty=0 install adduser
  sed -i -e "s/^#\?LAST_SYSTEM_UID=.*/LAST_SYSTEM_UID=29999/" \
         -e "s/^#\?LAST_SYSTEM_GID=.*/LAST_SYSTEM_GID=29999/" \
         -e "s/^#\?FIRST_UID=.*/FIRST_UID=30000/" -e "s/^#\?FIRST_GID=.*/FIRST_GID=30000/" /etc/adduser.conf
  grep -q "^LAST_SYSTEM_UID=29999" /etc/adduser.conf
  apt-get clean
  rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /var/log/*.log /var/cache/debconf/*-old
'
umount "$dir/proc" 2>/dev/null || true
trap - EXIT
# Reproducible-ish identity files.
: > "$dir/etc/machine-id"
rm -f "$dir/etc/hostname" "$dir/etc/resolv.conf"
