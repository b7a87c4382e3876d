# shellcheck shell=bash
# Runtime-core flight: the in-guest self tests (threads, memory, time, events, steal).
# 160 MiB: one test holds more threads than the LDT has TLS entries (8192), 12 KiB each.
guest_run selftest ../images/selftest selftest.expect poweroff 'memory = 160'
# A thread that overflows its stack hits the guard page: reported, not silent.
guest_run overflow ../images/overflow overflow.expect crash
# The heap running out of memory is a crash report, not silent corruption.
guest_run oom ../images/oom oom.expect crash
