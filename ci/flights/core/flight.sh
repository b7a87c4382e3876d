# shellcheck shell=bash
# Runtime-core flight: the in-guest self tests (threads, memory, time, events, steal).
guest_run selftest ../images/selftest selftest.expect poweroff 'memory = 64'
