//! `public/vcpu.h`: the runstate area (steal time) and the `VCPUOP_*` numbers.

use crate::assert_layout;

/// `VCPUOP_*` commands.
pub mod op {
    /// `VCPUOP_get_runstate_info`: one-shot copy of the runstate.
    pub const GET_RUNSTATE_INFO: u32 = 4;
    /// `VCPUOP_register_runstate_memory_area`: Xen keeps a copy at a guest VA up to date.
    pub const REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
    /// `VCPUOP_set_singleshot_timer`.
    pub const SET_SINGLESHOT_TIMER: u32 = 8;
    /// `VCPUOP_stop_periodic_timer`.
    pub const STOP_PERIODIC_TIMER: u32 = 7;
}

/// `RUNSTATE_*`: what a vCPU is doing.
pub mod runstate {
    /// Running on a physical CPU.
    pub const RUNNING: u32 = 0;
    /// Ready to run, but no physical CPU for it: stolen time.
    pub const RUNNABLE: u32 = 1;
    /// Blocked, waiting for an event (idle).
    pub const BLOCKED: u32 = 2;
    /// Offline or preempted by the toolstack: stolen time too.
    pub const OFFLINE: u32 = 3;
}

/// `XEN_RUNSTATE_UPDATE`: bit 63 of `state_entry_time`, set while Xen writes the area
/// (only after `VMASST_TYPE_runstate_update_flag` is enabled).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// Where a vCPU's time went.
///
/// C: `struct vcpu_runstate_info` (public/vcpu.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuRunstateInfo {
    /// `RUNSTATE_*` the vCPU is in.
    pub state: i32,
    /// System time when `state` was entered (bit 63: update in progress).
    pub state_entry_time: u64,
    /// Nanoseconds spent in each state, up to `state_entry_time`.
    pub time: [u64; 4],
}

assert_layout!(VcpuRunstateInfo, "struct vcpu_runstate_info" in "xen/vcpu.h", size 48,
    align 8; state = "state" 0, state_entry_time = "state_entry_time" 8, time = "time" 16);

/// Argument of `VCPUOP_register_runstate_memory_area`: the guest VA of the area.
///
/// C: `struct vcpu_register_runstate_memory_area` (public/vcpu.h); `addr` is a union
/// of a guest handle and a `uint64_t p`, both 8 bytes on x86_64.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// Guest virtual address of a [`VcpuRunstateInfo`].
    pub addr: u64,
}

assert_layout!(VcpuRegisterRunstateMemoryArea,
    "struct vcpu_register_runstate_memory_area" in "xen/vcpu.h", size 8, align 8;
    addr = "addr.p" 0);

/// Argument of `VCPUOP_set_singleshot_timer`.
///
/// C: `struct vcpu_set_singleshot_timer` (public/vcpu.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct VcpuSetSingleshotTimer {
    /// Absolute system time (ns) of the deadline.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
}

assert_layout!(VcpuSetSingleshotTimer, "struct vcpu_set_singleshot_timer" in "xen/vcpu.h",
    size 16, align 8; timeout_abs_ns = "timeout_abs_ns" 0, flags = "flags" 8);
