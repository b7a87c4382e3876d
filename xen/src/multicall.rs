//! Hypercall names, errno names and multicall batches: what a failure report needs
//! (host-tested).
//!
//! A multicall (`__HYPERVISOR_multicall`) runs a batch of hypercalls in one trip to Xen
//! and leaves each one's result in its entry: the call itself succeeding says nothing
//! about the entries, so every entry is checked and each failed one is reported as
//! `call i/n: op=NAME args=[...] result=-EXXX` (the format of Linux's
//! `xen_mc_flush` report that made seed 001's tmem failure diagnosable).
//!
//! May use: nothing but `core`/`alloc`.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use crate::assert_layout;
use core::fmt;

/// The name of hypercall `op` (`__HYPERVISOR_*`, public/xen.h), if it has one.
pub fn hypercall_name(op: u64) -> Option<&'static str> {
    Some(match op {
        0 => "set_trap_table",
        1 => "mmu_update",
        2 => "set_gdt",
        3 => "stack_switch",
        4 => "set_callbacks",
        5 => "fpu_taskswitch",
        6 => "sched_op_compat",
        7 => "platform_op",
        8 => "set_debugreg",
        9 => "get_debugreg",
        10 => "update_descriptor",
        12 => "memory_op",
        13 => "multicall",
        14 => "update_va_mapping",
        15 => "set_timer_op",
        16 => "event_channel_op_compat",
        17 => "xen_version",
        18 => "console_io",
        19 => "physdev_op_compat",
        20 => "grant_table_op",
        21 => "vm_assist",
        22 => "update_va_mapping_otherdomain",
        23 => "iret",
        24 => "vcpu_op",
        25 => "set_segment_base",
        26 => "mmuext_op",
        27 => "xsm_op",
        28 => "nmi_op",
        29 => "sched_op",
        30 => "callback_op",
        31 => "xenoprof_op",
        32 => "event_channel_op",
        33 => "physdev_op",
        34 => "hvm_op",
        35 => "sysctl",
        36 => "domctl",
        37 => "kexec_op",
        38 => "tmem_op",
        39 => "argo_op",
        40 => "xenpmu_op",
        41 => "dm_op",
        42 => "hypfs_op",
        _ => return None,
    })
}

/// The name of errno `e` as Xen returns it (public/errno.h), if it is a common one.
pub fn errno_name(e: i64) -> Option<&'static str> {
    Some(match e {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        7 => "E2BIG",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        24 => "EMFILE",
        28 => "ENOSPC",
        34 => "ERANGE",
        38 => "ENOSYS",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        _ => return None,
    })
}

/// A hypercall's result for a report: `0`, `-EINVAL`, `-E123` (an unnamed errno), or a
/// positive value as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Result64(pub i64);

impl fmt::Display for Result64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            r if r >= 0 => write!(f, "{r}"),
            r => match r.checked_neg().and_then(errno_name) {
                Some(n) => write!(f, "-{n}"),
                None => write!(f, "-E{}", r.unsigned_abs()),
            },
        }
    }
}

/// Hypercall arguments for a report: `0x1, 0x2` (hex, comma-separated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Args<'a>(pub &'a [u64]);

impl fmt::Display for Args<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{a:#x}")?;
        }
        Ok(())
    }
}

/// C: `struct multicall_entry` (x86_64): the hypercall, its result, its arguments.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MulticallEntry {
    /// Hypercall number.
    pub op: u64,
    /// Its result, written by Xen.
    pub result: i64,
    /// Up to six arguments.
    pub args: [u64; 6],
}
assert_layout!(MulticallEntry, "struct multicall_entry" in "xen/xen.h", size 64, align 8;
    op = "op" 0, result = "result" 8, args = "args" 16);

impl MulticallEntry {
    /// An entry for hypercall `op` with `args` (the rest zero).
    pub fn new(op: u32, args: &[u64]) -> MulticallEntry {
        let mut e = MulticallEntry {
            op: u64::from(op),
            ..MulticallEntry::default()
        };
        for (slot, a) in e.args.iter_mut().zip(args) {
            *slot = *a;
        }
        e
    }
}

/// One failed entry of a batch, for its report line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// 1-based position in the batch.
    pub index: usize,
    /// Entries in the batch.
    pub count: usize,
    /// The entry.
    pub entry: MulticallEntry,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.entry;
        write!(f, "call {}/{}: op=", self.index, self.count)?;
        match hypercall_name(e.op) {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "{}", e.op)?,
        }
        // Trailing zero arguments are left out, as Linux's report does.
        let used = e
            .args
            .iter()
            .rposition(|&a| a != 0)
            .map_or(0, |i| i.saturating_add(1));
        let args = Args(e.args.get(..used).unwrap_or(&[]));
        write!(f, " args=[{args}] result={}", Result64(e.result))
    }
}

/// The failed entries (negative result) of a batch Xen ran.
pub fn failures(entries: &[MulticallEntry]) -> impl Iterator<Item = Failure> + '_ {
    let count = entries.len();
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.result < 0)
        .map(move |(i, e)| Failure {
            index: i.saturating_add(1),
            count,
            entry: *e,
        })
}

/// One hypercall Xen refused: the op, the arguments that say what it was asked (a
/// sub-command, an address, an entry of a batch), the error, and the return address of
/// the function that made it, for a report that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Hypercall number.
    pub op: u32,
    /// Its meaningful arguments; `nargs` of them are used.
    pub args: [u64; 4],
    /// How many of `args` are used.
    pub nargs: usize,
    /// What Xen answered.
    pub err: crate::XenError,
    /// A return address in the function that made the call (0: unknown).
    pub caller: u64,
}

impl Refusal {
    /// A refusal of `op` with (up to four of) `args`.
    pub fn new(op: u32, args: &[u64], err: crate::XenError, caller: u64) -> Refusal {
        let mut r = Refusal {
            op,
            args: [0; 4],
            nargs: args.len().min(4),
            err,
            caller,
        };
        for (slot, a) in r.args.iter_mut().zip(args) {
            *slot = *a;
        }
        r
    }

    /// The arguments used.
    pub fn args(&self) -> &[u64] {
        self.args.get(..self.nargs).unwrap_or(&[])
    }
}

impl From<Refusal> for crate::XenError {
    fn from(r: Refusal) -> crate::XenError {
        r.err
    }
}

/// `op=NAME args=[0x1, 0x2] result=-EXXX`, the caller left to the reporter.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match hypercall_name(u64::from(self.op)) {
            Some(n) => write!(f, "op={n}")?,
            None => write!(f, "op={}", self.op)?,
        }
        let result = Result64(self.err.errno().wrapping_neg());
        write!(f, " args=[{}] result={result}", Args(self.args()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    #[test]
    fn names_and_results_read_like_xens() {
        assert_eq!(hypercall_name(26), Some("mmuext_op"));
        assert_eq!(hypercall_name(14), Some("update_va_mapping"));
        assert_eq!(hypercall_name(11), None);
        assert_eq!(format!("{}", Result64(-22)), "-EINVAL");
        assert_eq!(format!("{}", Result64(-200)), "-E200");
        assert_eq!(format!("{}", Result64(0)), "0");
        assert_eq!(format!("{}", Result64(i64::MIN)), "-E9223372036854775808");
    }

    #[test]
    fn only_failed_entries_are_reported_in_the_seeds_format() {
        let mut batch = [
            MulticallEntry::new(14, &[0x1000, 0x1234_5067, 2]),
            MulticallEntry::new(26, &[0xffff_8000_0000_1000, 1, 0, 0x7ff0]),
        ];
        batch[1].result = -1;
        let lines: Vec<_> = failures(&batch).map(|f| format!("{f}")).collect();
        assert_eq!(
            lines,
            ["call 2/2: op=mmuext_op args=[0xffff800000001000, 0x1, 0x0, 0x7ff0] result=-EPERM"]
        );
        batch[0].result = -22;
        assert_eq!(failures(&batch).count(), 2);
        let first = failures(&batch).next().map(|f| format!("{f}"));
        assert_eq!(
            first.as_deref(),
            Some("call 1/2: op=update_va_mapping args=[0x1000, 0x12345067, 0x2] result=-EINVAL")
        );
        let unknown = [MulticallEntry {
            op: 99,
            result: -5,
            args: [0; 6],
        }];
        assert_eq!(
            failures(&unknown).map(|f| format!("{f}")).next().as_deref(),
            Some("call 1/1: op=99 args=[] result=-EIO")
        );
    }

    #[test]
    fn a_refusal_names_its_op_arguments_and_errno() {
        let r = Refusal::new(
            1,
            &[0x1234_5001, 0x8000_0000_0abc_d067, 3, 512],
            crate::XenError::Inval,
            0,
        );
        assert_eq!(
            format!("{r}"),
            "op=mmu_update args=[0x12345001, 0x800000000abcd067, 0x3, 0x200] result=-EINVAL"
        );
        let r = Refusal::new(99, &[1, 2, 3, 4, 5], crate::XenError::NoSys, 7);
        assert_eq!(r.args(), [1, 2, 3, 4], "at most four kept");
        assert_eq!(
            format!("{r}"),
            "op=99 args=[0x1, 0x2, 0x3, 0x4] result=-ENOSYS"
        );
    }
}
