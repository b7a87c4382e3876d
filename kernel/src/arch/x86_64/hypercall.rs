//! Hypercalls through the hypercall page (x86_64 PV ABI).
//!
//! Xen fills `hypercall_page` at build time (XEN_ELFNOTE_HYPERCALL_PAGE); entry `n` is at
//! `hypercall_page + n * 32`. Arguments go in RDI, RSI, RDX, R10, R8 and the result comes
//! back in RAX (docs/guest-guide/x86/hypercall-abi.rst). The stubs execute `syscall`, which
//! clobbers RCX and R11, and a debug Xen poisons the argument registers, so every
//! caller-saved register is declared clobbered (`clobber_abi("C")`). The `call` pushes a
//! return address, so the asm must not say `nostack` (xen-sys 0.0.0-pre2 does, and passes
//! a fifth argument in R9: we use neither its wrappers nor its mistakes).

use core::arch::asm;
use xen::XenError;
use xen::abi::xen::hypercall as nr;

unsafe extern "C" {
    /// The hypercall page, defined in `boot.rs`.
    pub(crate) static hypercall_page: [u8; 4096];
}

/// A refusal of hypercall `op` with `args`, naming the function that called the wrapper
/// this is inlined into (the return address of the current frame).
#[inline(always)]
pub(crate) fn refusal(op: u32, args: &[u64], err: XenError) -> xen::multicall::Refusal {
    xen::multicall::Refusal::new(op, args, err, return_address())
}

/// The return address of the current frame (0 without one): where the function this is
/// inlined into was called from.
#[inline(always)]
pub(crate) fn return_address() -> u64 {
    let rbp = super::frame_pointer();
    if rbp == 0 {
        0
    } else {
        super::read_stack_word(rbp + 8)
    }
}

fn entry(op: u32) -> u64 {
    (&raw const hypercall_page) as u64 + u64::from(op) * 32
}

/// A raw hypercall with up to five arguments.
///
/// # Safety
/// - Pointer arguments must be valid for what hypercall `op` reads and writes through them.
/// - The operation must not break an invariant the kernel relies on (e.g. unmapping memory
///   that is in use); the safe wrappers below state which calls are harmless.
pub(crate) unsafe fn hypercall5(op: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    let target = entry(op);
    // SAFETY: `target` is a stub in the hypercall page Xen wrote; the stub preserves the
    // stack and callee-saved registers; the caller vouches for the arguments (see # Safety).
    unsafe {
        asm!(
            "call {target}",
            target = in(reg) target,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rax") ret,
            clobber_abi("C"),
        );
    }
    ret
}

/// A raw hypercall with up to three arguments.
///
/// # Safety
/// As for [`hypercall5`].
pub(crate) unsafe fn hypercall3(op: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: forwarded; the caller upholds hypercall5's contract.
    unsafe { hypercall5(op, a1, a2, a3, 0, 0) }
}

/// `HYPERVISOR_sched_op(SCHEDOP_shutdown, &sched_shutdown)`. Returns only on failure.
pub(crate) fn shutdown(reason: xen::abi::sched::ShutdownReason) -> XenError {
    let arg = xen::abi::sched::SchedShutdown {
        reason: reason as u32,
    };
    // SAFETY: SCHEDOP_shutdown reads one `struct sched_shutdown` through the pointer (a
    // pointer, not the value), which lives on our stack for the whole call.
    let ret = unsafe {
        hypercall3(
            nr::SCHED_OP,
            u64::from(xen::abi::sched::op::SHUTDOWN),
            (&raw const arg) as u64,
            0,
        )
    };
    match XenError::check(ret) {
        Err(e) => e,
        Ok(_) => XenError::Other(0),
    }
}

/// `SCHEDOP_yield`: let another vCPU or domain run.
pub fn sched_yield() {
    // SAFETY: SCHEDOP_yield takes no argument and changes no guest state.
    let _ = unsafe { hypercall3(nr::SCHED_OP, u64::from(xen::abi::sched::op::YIELD), 0, 0) };
}

/// `SCHEDOP_block`: sleep until an event is pending. Xen unmasks event delivery
/// atomically with the check for pending events (sched.h).
pub fn sched_block() {
    // SAFETY: SCHEDOP_block takes no argument; it only clears evtchn_upcall_mask.
    let _ = unsafe { hypercall3(nr::SCHED_OP, u64::from(xen::abi::sched::op::BLOCK), 0, 0) };
}

/// `HYPERVISOR_multicall(entries, count)`: Xen runs the batch and leaves each result in
/// its entry; the return value only says whether the batch ran.
///
/// # Safety
/// Each entry must be a hypercall that is safe to make with its arguments (pointers valid
/// for what it reads and writes, no mapping in use changed): the caller vouches for them.
pub unsafe fn multicall(entries: &mut [xen::multicall::MulticallEntry]) -> Result<(), XenError> {
    // SAFETY: Xen reads and writes `entries.len()` entries of 64 bytes at the pointer; the
    // caller vouches for what each entry does.
    let ret = unsafe {
        hypercall3(
            nr::MULTICALL,
            entries.as_mut_ptr() as u64,
            entries.len() as u64,
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `SCHEDOP_watchdog`: with `id` 0 arms a new domain watchdog of `timeout_s` seconds and
/// returns its id; with an id, kicks it (or stops it, with timeout 0).
pub fn sched_watchdog(id: u32, timeout_s: u32) -> Result<u32, XenError> {
    let mut arg = xen::abi::sched::SchedWatchdog {
        id,
        timeout: timeout_s,
    };
    // SAFETY: SCHEDOP_watchdog reads one `struct sched_watchdog` that lives on our stack;
    // it only arms, kicks or stops this domain's watchdog.
    let ret = unsafe {
        hypercall3(
            nr::SCHED_OP,
            u64::from(xen::abi::sched::op::WATCHDOG),
            (&raw mut arg) as u64,
            0,
        )
    };
    XenError::check(ret).map(|v| u32::try_from(v).unwrap_or(0))
}

/// `HYPERVISOR_xen_version(XENVER_version)`: `(major, minor)`.
pub fn xen_version() -> (u32, u32) {
    // SAFETY: XENVER_version ignores the (null) pointer argument.
    let v = unsafe {
        hypercall3(
            nr::XEN_VERSION,
            u64::from(xen::abi::version::XENVER_VERSION),
            0,
            0,
        )
    };
    let v = u32::try_from(v).unwrap_or(0);
    (v >> 16, v & 0xffff)
}

/// `HYPERVISOR_xen_version(XENVER_extraversion)`, e.g. `".7"`.
pub fn xen_extraversion() -> xen::abi::version::XenExtraversion {
    let mut buf: xen::abi::version::XenExtraversion = [0; 16];
    // SAFETY: XENVER_extraversion writes 16 bytes to the pointer: `buf` is 16 bytes.
    let _ = unsafe {
        hypercall3(
            nr::XEN_VERSION,
            u64::from(xen::abi::version::XENVER_EXTRAVERSION),
            (&raw mut buf) as u64,
            0,
        )
    };
    buf
}

/// `EVTCHNOP_send`: notify the other end of `port`.
pub(crate) fn evtchn_send(port: xen::abi::xen::Port) -> Result<(), XenError> {
    let arg = xen::abi::event_channel::EvtchnSend { port: port.0 };
    // SAFETY: EVTCHNOP_send reads one `struct evtchn_send` that lives on our stack.
    let ret = unsafe {
        hypercall3(
            nr::EVENT_CHANNEL_OP,
            u64::from(xen::abi::event_channel::op::SEND),
            (&raw const arg) as u64,
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_event_channel_op` with a struct argument.
///
/// # Safety
/// `T` must be the argument struct of `cmd` (public/event_channel.h).
pub(crate) unsafe fn event_channel_op<T>(cmd: u32, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: the caller guarantees `T` is what `cmd` reads and writes; `arg` is valid.
    let ret = unsafe {
        hypercall3(
            nr::EVENT_CHANNEL_OP,
            u64::from(cmd),
            (arg as *mut T) as u64,
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_grant_table_op(cmd, arg, 1)`.
///
/// # Safety
/// `T` must be the argument struct of `cmd` (public/grant_table.h), and any guest handle
/// in it must point to memory valid for what Xen writes there.
pub(crate) unsafe fn grant_table_op<T>(cmd: u32, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: the caller guarantees `T` and its handles match `cmd`; `arg` is valid.
    let ret = unsafe {
        hypercall3(
            nr::GRANT_TABLE_OP,
            u64::from(cmd),
            (arg as *mut T) as u64,
            1,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_set_timer_op(deadline)`: raise VIRQ_TIMER at system time `deadline_ns`
/// (0 cancels).
pub fn set_timer_op(deadline_ns: u64) -> Result<(), XenError> {
    // SAFETY: set_timer_op takes a value and only arms this vCPU's timer.
    let ret = unsafe { hypercall3(nr::SET_TIMER_OP, deadline_ns, 0, 0) };
    XenError::check(ret).map(|_| ())
}

/// `VCPUOP_stop_periodic_timer` on vCPU 0: no more 100 Hz ticks (the one-shot timer
/// is all we use).
pub fn stop_periodic_timer() -> Result<(), XenError> {
    // SAFETY: VCPUOP_stop_periodic_timer takes no argument (NULL) and only stops this
    // vCPU's periodic timer.
    let ret = unsafe {
        hypercall3(
            nr::VCPU_OP,
            u64::from(xen::abi::vcpu::op::STOP_PERIODIC_TIMER),
            0,
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_vm_assist(cmd, type)`.
pub(crate) fn vm_assist(cmd: u32, kind: u32) -> Result<(), XenError> {
    // SAFETY: vm_assist takes two values and only toggles an assist for this domain.
    let ret = unsafe { hypercall3(nr::VM_ASSIST, u64::from(cmd), u64::from(kind), 0) };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_vcpu_op(cmd, vcpu, arg)`.
///
/// # Safety
/// `T` must be the argument struct of `cmd` (public/vcpu.h), and any guest address inside
/// it must stay valid for as long as Xen may use it (e.g. a registered runstate area).
pub(crate) unsafe fn vcpu_op<T>(cmd: u32, vcpu: u32, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: the caller guarantees the struct and the addresses it holds.
    let ret = unsafe {
        hypercall3(
            nr::VCPU_OP,
            u64::from(cmd),
            u64::from(vcpu),
            (arg as *mut T) as u64,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_set_segment_base(SEGBASE_FS, base)`: the FS base for TLS.
pub(crate) fn set_fs_base(base: u64) -> Result<(), XenError> {
    // SAFETY: changes only FS.base, which nothing but TLS accesses use.
    let ret = unsafe {
        hypercall3(
            nr::SET_SEGMENT_BASE,
            u64::from(xen::abi::xen::SEGBASE_FS),
            base,
            0,
        )
    };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_set_callbacks`-free check that events can be delivered: any hypercall
/// returns through Xen's exit path, which delivers a pending upcall once unmasked.
pub(crate) fn force_event_check() {
    let _ = xen_version();
}

/// `HYPERVISOR_stack_switch(ss, sp)`: the kernel stack Xen switches to when a trap, event
/// or system call interrupts user mode.
pub(crate) fn stack_switch(ss: u16, sp: u64) -> Result<(), XenError> {
    // SAFETY: takes values; the caller passes the top of a stack reserved for this.
    let ret = unsafe { hypercall3(nr::STACK_SWITCH, u64::from(ss), sp, 0) };
    XenError::check(ret).map(|_| ())
}

/// `HYPERVISOR_mmuext_op(ops, count, NULL, DOMID_SELF)`.
///
/// # Safety
/// The operations must not unpin or replace page tables the kernel is using.
#[inline(never)]
pub(crate) unsafe fn mmuext_op(
    ops: &[xen::abi::xen::MmuextOp],
) -> Result<(), xen::multicall::Refusal> {
    // SAFETY: Xen reads `ops.len()` entries; the caller vouches for what they do.
    let ret = unsafe {
        hypercall5(
            nr::MMUEXT_OP,
            ops.as_ptr() as u64,
            ops.len() as u64,
            0,
            u64::from(xen::abi::xen::DomId::SELF.0),
            0,
        )
    };
    XenError::check(ret).map(|_| ()).map_err(|e| {
        let first = ops
            .first()
            .map_or([0; 3], |o| [o.cmd.into(), o.arg1, o.arg2]);
        refusal(
            nr::MMUEXT_OP,
            &[first[0], first[1], first[2], ops.len() as u64],
            e,
        )
    })
}
