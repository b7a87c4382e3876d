# shellcheck shell=bash
# dom0 rootfs recipe for the testbed: sourced by scripts/testbed, never run directly.
#
# The dom0 is Debian bookworm (minbase) with the Xen 4.17 tools, packed as one zstd newc
# cpio that Linux unpacks as its rootfs. scripts/testbed caches the result keyed by a hash
# of this file and of init-stub, plus the package versions, so any edit here rebuilds it.
# The per-run parts (init, lib.sh, the flight) are NOT in this image: they ride in a second
# cpio appended at run time (see scripts/testbed), so editing them needs no rebuild.

DOM0_SUITE=bookworm
DOM0_MIRROR=http://deb.debian.org/debian

# Packages on top of minbase. xen-utils-4.17 pulls the xen libraries, xenstore-utils and udev;
# bash and perl-base are needed by the vif hotplug scripts; nftables does the --net port
# forward; curl lets flights talk to a web-server guest from dom0.
# wrk loads web-server guests in the bench flight. libvirt's daemon with its libxl driver,
# virsh and xmllint (for virt-xml-validate) let the ops flight start a guest from
# scripts/run's libvirt XML; libvirtd is installed, never started at boot: only that flight
# starts it.
DOM0_PACKAGES=(xen-utils-4.17 iproute2 busybox kmod bash perl-base nftables curl wrk
    libvirt-daemon libvirt-daemon-driver-xen libvirt-clients libxml2-utils)

# Packages unpacked (never installed or configured: no service starts) under
# /opt/ferrun-peer, for flights to copy into a peer guest: nginx, the bench flight's
# second Linux peer. Its libraries are the dom0's own (the same Debian release).
DOM0_UNPACK=(nginx)

# Kernel modules dom0 loads (their dependencies are added from modprobe --show-depends).
# Xen backends and devices, the guest bridge, and for --net the e1000 NIC and nftables NAT.
DOM0_MODULES=(xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback xen-blkback
    bridge loop tun e1000 nf_tables nft_chain_nat nft_nat nft_masq nft_ct
    xen-netfront) # not loaded by dom0: the Linux peer guest of the bench flight takes it

# Paths (relative to the rootfs) deleted after installation: docs, locales, caches, python3
# (only pygrub uses it), udev's hardware database, package manager state (the package list
# is kept in /etc/ferrun-dom0.packages), and libvirt's drivers other than libxl (libvirtd
# loads and starts every driver it finds, which takes seconds under TCG; the QEMU driver
# comes as a dependency of libvirt-daemon).
_dom0_lv=usr/lib/x86_64-linux-gnu/libvirt
DOM0_PRUNE=(
    "$_dom0_lv/connection-driver/libvirt_driver_"{qemu,network,nwfilter,nodedev,interface,secret,storage}.so
    "$_dom0_lv/storage-backend" "$_dom0_lv/storage-file"
    usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/i18n
    usr/share/zoneinfo usr/share/lintian usr/share/bug usr/share/bash-completion
    usr/share/common-licenses usr/share/python3 usr/lib/locale
    usr/lib/python3 usr/lib/python3.11 usr/bin/python3 usr/bin/python3.11
    usr/lib/udev/hwdb.bin usr/lib/udev/hwdb.d etc/udev/hwdb.bin
    usr/lib/x86_64-linux-gnu/gconv
    var/cache/apt var/lib/apt/lists var/cache/debconf var/log/apt var/log/dpkg.log
    var/log/bootstrap.log var/log/alternatives.log var/lib/dpkg
)

# Fails unless ROOT is an absolute path to a directory other than / (every function here
# deletes or moves files under it).
dom0_check_root() {
    case $1 in
        /?*) [ -d "$1" ] && [ "$(cd "$1" && pwd -P)" != / ] && return 0 ;;
    esac
    echo "rootfs.sh: refusing to work on rootfs '$1'" >&2
    return 1
}

# Runs debootstrap for the dom0 into ROOT, keeping the downloaded .debs in DEB_CACHE.
dom0_debootstrap() {
    local root=$1 deb_cache=$2 include
    include=$(IFS=,; echo "${DOM0_PACKAGES[*]}")
    mkdir -p "$deb_cache"
    debootstrap --variant=minbase --include="$include" --cache-dir="$deb_cache" \
        "$DOM0_SUITE" "$root" "$DOM0_MIRROR"
}

# Prints "package version" for each package of ROOT built from the xen source package.
dom0_xen_packages() {
    local root=$1
    # shellcheck disable=SC2016 # dpkg-query format, not shell
    chroot "$root" dpkg-query -W -f '${binary:Package} ${source:Package}\n' |
        awk '$2 == "xen" { sub(/:.*/, "", $1); print $1 }'
}

# Installs the given .deb files into ROOT (used to bring the xen packages to the host's
# candidate version, i.e. the same build as the hypervisor), with services kept stopped.
dom0_install_debs() {
    local root=$1; shift
    local deb names=()
    dom0_check_root "$root" || return
    mkdir -p "$root/tmp/ferrun-debs"
    for deb in "$@"; do
        cp "$deb" "$root/tmp/ferrun-debs/"
        names+=("/tmp/ferrun-debs/${deb##*/}")
    done
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    DEBIAN_FRONTEND=noninteractive chroot "$root" dpkg -i "${names[@]}"
    rm -rf "$root/usr/sbin/policy-rc.d" "$root/tmp/ferrun-debs"
}

# Unpacks the given .deb files into ROOT/opt/ferrun-peer (files only: no maintainer
# scripts run).
dom0_unpack_debs() {
    local root=$1 deb; shift
    dom0_check_root "$root" || return
    mkdir -p "$root/opt/ferrun-peer"
    for deb in "$@"; do
        dpkg-deb -x "$deb" "$root/opt/ferrun-peer" || return
    done
}

# Moves the kernel modules tree KTREE (lib/modules/KVER of the unpacked kernel package) into
# ROOT and keeps only DOM0_MODULES and their dependencies, resolved by kmod in the chroot.
dom0_install_modules() {
    local root=$1 ktree=$2 kver=$3
    local mods keep m
    dom0_check_root "$root" || return
    if [ -z "$kver" ] || [ ! -d "$ktree/kernel" ]; then
        echo "rootfs.sh: no modules tree at '$ktree'" >&2
        return 1
    fi
    mods=$root/usr/lib/modules/$kver
    mkdir -p "$root/usr/lib/modules"
    rm -rf "$mods"
    mv "$ktree" "$mods"
    chroot "$root" depmod "$kver"
    keep=$(mktemp)
    for m in "${DOM0_MODULES[@]}"; do
        chroot "$root" modprobe --set-version="$kver" --show-depends "$m" >"$keep.one" ||
            { rm -f "$keep" "$keep.one"; echo "rootfs.sh: module $m not found in $kver" >&2; return 1; }
        # "insmod /lib/modules/KVER/kernel/....ko [params]" -> "kernel/....ko"; builtins need nothing.
        sed -n "s|^insmod /lib/modules/$kver/\([^ ]*\).*|\1|p" "$keep.one" >>"$keep"
    done
    LC_ALL=C sort -u -o "$keep" "$keep"
    (cd "$mods" && find kernel -name '*.ko*' -type f | LC_ALL=C sort | LC_ALL=C comm -23 - "$keep" |
        xargs -r rm -f)
    rm -f "$keep" "$keep.one"
    find "$mods/kernel" -depth -type d -empty -delete
    rm -rf "$mods/build" "$mods/source"
    chroot "$root" depmod "$kver"
}

# Deletes DOM0_PRUNE from ROOT, after recording the package list in /etc/ferrun-dom0.packages.
dom0_prune() {
    local root=$1 p
    dom0_check_root "$root" || return
    # shellcheck disable=SC2016 # dpkg-query format, not shell
    chroot "$root" dpkg-query -W -f '${binary:Package} ${Version}\n' >"$root/etc/ferrun-dom0.packages"
    for p in "${DOM0_PRUNE[@]}"; do
        rm -rf "${root:?}/$p"
    done
    find "$root/var/log" -type f -delete
    mkdir -p "$root/var/log/xen/console" "$root/var/lib/xen" "$root/run/xen" "$root/run/ferrun"
}

# Installs the /init stub and packs ROOT as a zstd-compressed newc cpio into OUT.
dom0_pack() {
    local root=$1 stub=$2 out=$3
    install -m 755 "$stub" "$root/init"
    (cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --quiet) | zstd -q -T0 -10 -o "$out"
}
