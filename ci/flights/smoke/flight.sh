#!/bin/bash
# Smoke flight: checks dom0's Xen toolstack and guest bridge, without starting a guest.
#
# Run with: scripts/testbed run ci/flights/smoke (lib.sh is sourced by dom0's init).

info=$(xl info 2>&1)
major=$(awk -F': *' '$1 ~ /^xen_major/ {print $2}' <<<"$info")
minor=$(awk -F': *' '$1 ~ /^xen_minor/ {print $2}' <<<"$info")
extra=$(awk -F': *' '$1 ~ /^xen_extra/ {print $2}' <<<"$info")
cpus=$(awk -F': *' '$1 ~ /^nr_cpus/ {print $2}' <<<"$info")
if [ "$major" = 4 ] && [ "$minor" = 17 ]; then
    step dom0-xl-info dom0 pass "Xen $major.$minor$extra, $cpus pCPUs"
else
    step dom0-xl-info dom0 fail "want Xen 4.17, xl info says xen_major '$major' xen_minor '$minor':" \
        "$(head -3 <<<"$info" | tr '\n' ' ')"
fi

addr=$(ip -4 -o addr show dev xenbr0 2>&1)
if [[ $addr == *" inet 10.0.0.1/24 "* ]]; then
    step dom0-bridge xenbr0 pass "10.0.0.1/24"
else
    step dom0-bridge xenbr0 fail "xenbr0 lacks 10.0.0.1/24: ${addr:-no IPv4 address}"
fi
