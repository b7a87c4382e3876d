//! `#[repr(C)]` mirrors of the Xen public headers, each with its layout checked.
//!
//! Every struct is checked at compile time ([`assert_layout!`]) for size, alignment and the
//! offset of every field, and implements [`AbiLayout`] so that the host test can print the
//! same figures and compare them with `offsetof`/`sizeof` computed by a C compiler from
//! `/usr/include/xen` (Debian `libxen-dev`, Xen 4.17, the testbed's version).
//!
//! Where `xen-sys` has a type with the right layout we re-export it and check it the same
//! way; where it is wrong or missing (its `vcpu_time_info` lacks `flags`, it has no
//! `vcpu_runstate_info` or `xencons_interface`) the type is ours.

pub mod console;
pub mod event_channel;
pub mod grant_table;
pub mod netif;
pub mod sched;
pub mod vcpu;
pub mod version;
pub mod xen;
pub mod xenstore;

/// The layout of one ABI struct, as checked at compile time.
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    /// The C type, as written in a C program (`struct start_info`).
    pub c_type: &'static str,
    /// The header that declares it, relative to `/usr/include` (`xen/xen.h`).
    pub header: &'static str,
    /// `sizeof`.
    pub size: usize,
    /// `_Alignof`.
    pub align: usize,
    /// `(C member designator, offsetof)` for every checked field.
    pub fields: &'static [(&'static str, usize)],
}

/// Implemented by every ABI struct: its checked layout.
pub trait AbiLayout {
    /// The layout asserted at compile time next to the definition.
    const LAYOUT: StructLayout;
}

/// Asserts a struct's size, alignment and field offsets at compile time and records them
/// in an [`AbiLayout`] impl.
///
/// Fields are given as `rust.path = "c.path" offset`; `rust.path` may be nested
/// (`console.mfn`), `c.path` is the C member designator for `offsetof`.
#[macro_export]
macro_rules! assert_layout {
    ($t:ty, $c:literal in $h:literal, size $s:expr, align $a:expr;
     $($($f:ident).+ = $cf:literal $o:expr),* $(,)?) => {
        const _: () = {
            assert!(core::mem::size_of::<$t>() == $s);
            assert!(core::mem::align_of::<$t>() == $a);
            $( assert!(core::mem::offset_of!($t, $($f).+) == $o); )*
        };
        impl $crate::abi::AbiLayout for $t {
            const LAYOUT: $crate::abi::StructLayout = $crate::abi::StructLayout {
                c_type: $c,
                header: $h,
                size: $s,
                align: $a,
                fields: &[$(($cf, $o)),*],
            };
        }
    };
}

/// Every checked ABI struct, for the comparison with libxen-dev.
pub fn all_layouts() -> &'static [StructLayout] {
    use self::{
        console::*, event_channel::*, grant_table::*, netif::*, sched::*, vcpu::*, xen::*,
        xenstore::*,
    };
    &[
        StartInfo::LAYOUT,
        SharedInfo::LAYOUT,
        VcpuInfo::LAYOUT,
        VcpuTimeInfo::LAYOUT,
        ArchVcpuInfo::LAYOUT,
        ArchSharedInfo::LAYOUT,
        TrapInfo::LAYOUT,
        MmuUpdate::LAYOUT,
        MmuextOp::LAYOUT,
        CallbackRegister::LAYOUT,
        VcpuSetSingleshotTimer::LAYOUT,
        VcpuRunstateInfo::LAYOUT,
        VcpuRegisterRunstateMemoryArea::LAYOUT,
        XenconsInterface::LAYOUT,
        XsdSockmsg::LAYOUT,
        GrantEntryV1::LAYOUT,
        GnttabSetupTable::LAYOUT,
        GnttabQuerySize::LAYOUT,
        NetifTxRequest::LAYOUT,
        NetifTxResponse::LAYOUT,
        NetifRxRequest::LAYOUT,
        NetifRxResponse::LAYOUT,
        NetifTxSringDecl::LAYOUT,
        NetifRxSringDecl::LAYOUT,
        NetifExtraInfo::LAYOUT,
        XenstoreDomainInterface::LAYOUT,
        SchedShutdown::LAYOUT,
        SchedPoll::LAYOUT,
        SchedWatchdog::LAYOUT,
        crate::multicall::MulticallEntry::LAYOUT,
        EvtchnAllocUnbound::LAYOUT,
        EvtchnBindInterdomain::LAYOUT,
        EvtchnBindVirq::LAYOUT,
        EvtchnSend::LAYOUT,
        EvtchnClose::LAYOUT,
        EvtchnUnmask::LAYOUT,
    ]
}
