//! How a thread's TLS block is made current: an LDT segment or `set_segment_base`.
//!
//! The x86-64 TLS ABI reaches a thread's TLS block through the FS base. Setting it with
//! `HYPERVISOR_set_segment_base` on every switch costs a hypercall, and from PV user mode
//! a hypercall is a round trip through the kernel: it made up ~85% of a context switch on
//! the testbed. Loading FS with a selector instead sets the base from the descriptor with
//! one unprivileged `mov`: each thread whose TLS block lies below 4 GiB (a descriptor holds
//! a 32-bit base) gets an LDT data segment for it when it is created, and the switch loads
//! its selector. Other threads fall back to the hypercall.

/// Entries in the LDT (its architectural maximum, 16 pages).
pub const LDT_ENTRIES: usize = 8192;

/// The descriptor of a flat, writable, DPL 3 data segment whose base is `base`.
///
/// Returns `None` when the base does not fit in a descriptor's 32 bits.
pub fn data_descriptor(base: u64) -> Option<u64> {
    let base = u32::try_from(base).ok()?;
    let base = u64::from(base);
    let limit: u64 = 0xF_FFFF; // with G = 1: 4 GiB
    let access: u64 = 0xF3; // P = 1, DPL = 3, S = 1, type = data, read/write, accessed
    let flags: u64 = 0xC; // G = 1 (4 KiB granularity), D/B = 1
    Some(
        (limit & 0xFFFF)
            | ((base & 0xFF_FFFF) << 16)
            | (access << 40)
            | (((limit >> 16) & 0xF) << 48)
            | (flags << 52)
            | (((base >> 24) & 0xFF) << 56),
    )
}

/// The selector of LDT entry `index`, with RPL 3 (a PV kernel runs in ring 3).
pub fn ldt_selector(index: usize) -> Option<u16> {
    if index >= LDT_ENTRIES {
        return None;
    }
    u16::try_from(index).ok().map(|i| (i << 3) | 0b100 | 0b11)
}

/// Which LDT entries are in use.
#[derive(Debug)]
pub struct LdtSlots {
    used: [u64; LDT_ENTRIES / 64],
}

impl LdtSlots {
    /// All entries free.
    pub const fn new() -> Self {
        LdtSlots {
            used: [0; LDT_ENTRIES / 64],
        }
    }

    /// Takes the lowest free entry.
    pub fn take(&mut self) -> Option<usize> {
        let (w, word) = self
            .used
            .iter_mut()
            .enumerate()
            .find(|(_, w)| **w != u64::MAX)?;
        let bit = (!*word).trailing_zeros() as usize;
        *word |= 1 << bit;
        Some(w * 64 + bit)
    }

    /// Gives an entry back.
    pub fn give(&mut self, index: usize) {
        if let Some(w) = self.used.get_mut(index / 64) {
            *w &= !(1 << (index % 64));
        }
    }
}

impl Default for LdtSlots {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the base of a segment descriptor (Intel SDM vol. 3, 3.4.5).
    fn base_of(d: u64) -> u64 {
        ((d >> 16) & 0xFF_FFFF) | (((d >> 56) & 0xFF) << 24)
    }

    #[test]
    fn descriptor_holds_the_base_and_a_flat_ring3_data_segment() {
        let d = data_descriptor(0x1234_5678).unwrap();
        assert_eq!(base_of(d), 0x1234_5678);
        assert_eq!((d >> 40) & 0xFF, 0xF3, "present, DPL 3, data RW accessed");
        assert_eq!(d & 0xFFFF, 0xFFFF);
        assert_eq!((d >> 48) & 0xF, 0xF, "limit 0xFFFFF");
        assert_eq!((d >> 52) & 0xF, 0xC, "G = 1, D/B = 1, L = 0");
        assert_eq!(data_descriptor(0x1_0000_0000), None, "bases need 32 bits");
    }

    #[test]
    fn selectors_name_the_ldt_with_rpl_3() {
        assert_eq!(ldt_selector(0), Some(0x7));
        assert_eq!(ldt_selector(1), Some(0xf));
        assert_eq!(ldt_selector(LDT_ENTRIES - 1), Some(0xffff));
        assert_eq!(ldt_selector(LDT_ENTRIES), None);
    }

    #[test]
    fn slots_are_reused_lowest_first_and_run_out() {
        let mut s = LdtSlots::new();
        assert_eq!(s.take(), Some(0));
        assert_eq!(s.take(), Some(1));
        s.give(0);
        assert_eq!(s.take(), Some(0));
        let mut n = 2;
        while s.take().is_some() {
            n += 1;
        }
        assert_eq!(n, LDT_ENTRIES);
    }
}
