//! `public/grant_table.h`: version 1 grant entries and the table set-up operations.

use crate::assert_layout;

/// `GNTTABOP_setup_table`.
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
/// `GNTTABOP_query_size`.
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
/// Entries at the start of the table the toolstack may use (console, xenstore).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// Version 1 entries per 4 KiB table frame.
pub const ENTRIES_PER_FRAME: usize = 4096 / 8;

/// `GTF_*` flag bits of [`GrantEntryV1::flags`].
pub mod gtf {
    /// The entry grants access to `frame` for `domid`.
    pub const PERMIT_ACCESS: u16 = 1;
    /// Read-only access.
    pub const READONLY: u16 = 1 << 2;
    /// Xen: the grantee has it mapped for reading.
    pub const READING: u16 = 1 << 3;
    /// Xen: the grantee has it mapped for writing.
    pub const WRITING: u16 = 1 << 4;
}

/// One version 1 grant entry.
///
/// C: `struct grant_entry_v1`. The guest writes `domid` and `frame`, then `flags`; Xen
/// sets `GTF_reading`/`GTF_writing` in `flags` while the grantee has the frame mapped.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantEntryV1 {
    /// `GTF_*`.
    pub flags: u16,
    /// The domain given access.
    pub domid: u16,
    /// The granted frame (a GFN; for a PV guest its MFN).
    pub frame: u32,
}

assert_layout!(GrantEntryV1, "struct grant_entry_v1" in "xen/grant_table.h",
    size 8, align 4; flags = "flags" 0, domid = "domid" 2, frame = "frame" 4);

/// C: `struct gnttab_setup_table` (interface version 0x00040300 and later).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GnttabSetupTable {
    /// The domain (`DOMID_SELF`).
    pub dom: u16,
    /// Frames wanted.
    pub nr_frames: u32,
    /// Out: `GNTST_*` (0 is okay).
    pub status: i16,
    /// Guest handle: where Xen writes the `nr_frames` frame numbers (`xen_pfn_t`).
    pub frame_list: u64,
}

assert_layout!(GnttabSetupTable, "struct gnttab_setup_table" in "xen/grant_table.h",
    size 24, align 8; dom = "dom" 0, nr_frames = "nr_frames" 4, status = "status" 8,
    frame_list = "frame_list" 16);

/// C: `struct gnttab_query_size`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GnttabQuerySize {
    /// The domain (`DOMID_SELF`).
    pub dom: u16,
    /// Out: frames in use.
    pub nr_frames: u32,
    /// Out: the most frames the domain may have.
    pub max_nr_frames: u32,
    /// Out: `GNTST_*` (0 is okay).
    pub status: i16,
}

assert_layout!(GnttabQuerySize, "struct gnttab_query_size" in "xen/grant_table.h",
    size 16, align 4; dom = "dom" 0, nr_frames = "nr_frames" 4,
    max_nr_frames = "max_nr_frames" 8, status = "status" 12);
