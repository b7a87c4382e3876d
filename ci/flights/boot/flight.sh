# shellcheck shell=bash
# Boot flight: hello boots via xl create, prints its banner and powers off; crash faults
# three calls deep and must end with reason crash and the trap report on its console.
# Runs in dom0 (lib.sh functions); images are in ../images.

guest_run hello ../images/hello hello.expect poweroff 'cmdline = "ferrun-boot-test x=1"'
guest_run crash ../images/crash crash.expect crash
# W^X at run time: a store into code and a call into stack data both fault.
guest_run wx-write ../images/wx wx-write.expect crash 'cmdline = "write-code"'
guest_run wx-exec ../images/wx wx-exec.expect crash 'cmdline = "run-data"'
