//! What Xen hands the guest at boot, copied out of `start_info`.
#![forbid(unsafe_code)]

use xen::abi::xen::{MAX_GUEST_CMDLINE, StartInfo};

/// Boot facts for the kernel and apps.
#[derive(Clone)]
pub struct BootInfo {
    magic: [u8; 32],
    cmdline: [u8; MAX_GUEST_CMDLINE],
    /// Pages given to the domain.
    pub nr_pages: u64,
    /// `SIF_*` flags.
    pub flags: u32,
    /// Virtual address of the P2M list.
    pub mfn_list: u64,
    /// Virtual address of the bootstrap page tables.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Machine frame of the xenstore ring.
    pub store_mfn: u64,
    /// Event channel of the xenstore ring.
    pub store_evtchn: u32,
    /// TSC when `_start` ran.
    pub entry_tsc: u64,
    /// The module Xen loaded with the kernel (xl's `ramdisk =`): its virtual address (or
    /// first frame, with `SIF_MOD_START_PFN`) and length; 0 and 0 without one.
    pub mod_start: u64,
    /// Length of the module in bytes.
    pub mod_len: u64,
}

/// `SIF_MOD_START_PFN`: `mod_start` is a frame number, not an address.
const SIF_MOD_START_PFN: u32 = 1 << 3;

/// The bytes of a NUL-terminated field, as far as they are UTF-8.
fn c_str(bytes: &[u8]) -> &str {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let bytes = bytes.get(..len).unwrap_or_default();
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or("")
        }
    }
}

impl BootInfo {
    /// Copies what we keep from `start_info`.
    pub fn from_start_info(si: &StartInfo, entry_tsc: u64) -> Self {
        BootInfo {
            magic: si.magic,
            cmdline: si.cmd_line,
            nr_pages: si.nr_pages,
            flags: si.flags,
            mfn_list: si.mfn_list,
            pt_base: si.pt_base,
            nr_pt_frames: si.nr_pt_frames,
            store_mfn: si.store_mfn.0,
            store_evtchn: si.store_evtchn.0,
            entry_tsc,
            mod_start: si.mod_start,
            mod_len: si.mod_len,
        }
    }

    /// Where the boot module is, `(virtual address, length)`, if there is one.
    pub fn module(&self) -> Option<(u64, u64)> {
        if self.mod_start == 0 || self.mod_len == 0 {
            return None;
        }
        let va = if self.flags & SIF_MOD_START_PFN != 0 {
            self.mod_start.checked_mul(4096)?
        } else {
            self.mod_start
        };
        Some((va, self.mod_len))
    }

    /// The frames the module occupies, `[first, end)` (its first page to past its last
    /// page), if there is one. They stay reserved for the life of the domain: the frame
    /// allocator never hands them out (see `mm::init`), as `boot_module()` lends the
    /// bytes out for ever.
    pub fn module_frames(&self) -> Option<core::ops::Range<u64>> {
        let (va, len) = self.module()?;
        let end = va.checked_add(len)?.checked_add(4095)? / 4096;
        Some(va / 4096..end)
    }

    /// `start_info.magic`, e.g. `"xen-3.0-x86_64"`.
    pub fn magic(&self) -> &str {
        c_str(&self.magic)
    }

    /// The guest command line (the xl config's `cmdline`/`extra`), up to the first byte
    /// that is not UTF-8.
    pub fn cmdline(&self) -> &str {
        c_str(&self.cmdline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(magic: &[u8], cmdline: &[u8]) -> BootInfo {
        let mut si = StartInfo {
            magic: [0; 32],
            nr_pages: 8192,
            shared_info: 0,
            flags: 0,
            store_mfn: Default::default(),
            store_evtchn: Default::default(),
            console: xen::abi::xen::StartInfoConsole {
                mfn: Default::default(),
                evtchn: Default::default(),
            },
            pt_base: 0,
            nr_pt_frames: 0,
            mfn_list: 0,
            mod_start: 0,
            mod_len: 0,
            cmd_line: [0; MAX_GUEST_CMDLINE],
            first_p2m_pfn: 0,
            nr_p2m_frames: 0,
        };
        si.magic[..magic.len()].copy_from_slice(magic);
        si.cmd_line[..cmdline.len()].copy_from_slice(cmdline);
        BootInfo::from_start_info(&si, 0)
    }

    #[test]
    fn strings_stop_at_nul() {
        let b = info(b"xen-3.0-x86_64", b"a b=c\0junk");
        assert_eq!(b.magic(), "xen-3.0-x86_64");
        assert_eq!(b.cmdline(), "a b=c");
    }

    #[test]
    fn unterminated_and_invalid_utf8_are_cut_not_panicking() {
        let b = info(&[b'x'; 32], b"ok\xffbad");
        assert_eq!(b.magic().len(), 32);
        assert_eq!(b.cmdline(), "ok");
    }

    #[test]
    fn the_module_is_an_address_or_a_frame() {
        let mut b = info(b"xen-3.0-x86_64", b"");
        assert_eq!(b.module(), None);
        b.mod_start = 0x20_0000;
        b.mod_len = 100;
        assert_eq!(b.module(), Some((0x20_0000, 100)));
        b.flags = SIF_MOD_START_PFN;
        b.mod_start = 0x200;
        assert_eq!(b.module(), Some((0x20_0000, 100)));
        b.mod_len = 0;
        assert_eq!(b.module(), None);
    }

    #[test]
    fn the_module_frames_cover_its_first_to_its_last_byte() {
        let mut b = info(b"xen-3.0-x86_64", b"");
        assert_eq!(b.module_frames(), None);
        // Xen's builder places the module page-aligned after the image.
        b.mod_start = 0x9_8000;
        b.mod_len = 2_621_440;
        assert_eq!(b.module_frames(), Some(0x98..0x98 + 640));
        b.mod_len = 2_621_441;
        assert_eq!(b.module_frames(), Some(0x98..0x98 + 641));
        // Not page-aligned (no builder does this): the partial pages are reserved too.
        b.mod_start = 0x9_8010;
        b.mod_len = 4096;
        assert_eq!(b.module_frames(), Some(0x98..0x9a));
        // A frame number (SIF_MOD_START_PFN).
        b.flags = SIF_MOD_START_PFN;
        b.mod_start = 0x400;
        b.mod_len = 1;
        assert_eq!(b.module_frames(), Some(0x400..0x401));
        // Wrapping lengths are no module.
        b.flags = 0;
        b.mod_start = u64::MAX - 10;
        b.mod_len = 100;
        assert_eq!(b.module_frames(), None);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_give_the_longest_utf8_prefix_before_the_first_nul(
            pieces in proptest::collection::vec(
                prop_oneof![
                    // A run of printable ASCII.
                    4 => (0usize..60, any::<u8>()).prop_map(|(len, seed)| {
                        (0..len).map(|k| b' ' + (usize::from(seed) + k) as u8 % 95).collect()
                    }),
                    2 => any::<char>().prop_map(|c| std::string::String::from(c).into_bytes()),
                    1 => Just(std::vec![0u8]),
                    1 => (0x80u8..=0xff).prop_map(|b| std::vec![b]),
                    1 => Just(std::vec![0xe2, 0x82]),
                ],
                0..48,
            ),
        ) {
            let mut bytes = pieces.concat();
            bytes.truncate(MAX_GUEST_CMDLINE);
            let b = info(b"", &bytes);
            let line = b.cmdline();
            let before_nul = bytes.split(|&x| x == 0).next().unwrap_or_default();
            prop_assert!(before_nul.starts_with(line.as_bytes()));
            // Longest: what follows is the end, or not the start of a UTF-8 character.
            let rest = &before_nul[line.len()..];
            prop_assert!(rest.is_empty() || core::str::from_utf8(rest)
                .map_or_else(|e| e.valid_up_to() == 0, |_| false));
        }

        #[test]
        fn a_line_written_reads_back(
            line in any::<std::string::String>()
                .prop_map(|s| s.replace('\0', ""))
                .prop_filter("fits start_info", |s| s.len() <= MAX_GUEST_CMDLINE),
        ) {
            let b = info(b"xen-3.0-x86_64", line.as_bytes());
            prop_assert_eq!(b.cmdline(), line.as_str());
        }
    }
}
