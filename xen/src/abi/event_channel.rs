//! `public/event_channel.h`: the `EVTCHNOP_*` argument structs (`xen-sys` has them right).

use crate::assert_layout;

/// `EVTCHNOP_*` commands.
pub mod op {
    #![allow(missing_docs, reason = "the names are Xen's EVTCHNOP_* constants")]
    pub const BIND_INTERDOMAIN: u32 = 0;
    pub const BIND_VIRQ: u32 = 1;
    pub const CLOSE: u32 = 3;
    pub const SEND: u32 = 4;
    pub const STATUS: u32 = 5;
    pub const ALLOC_UNBOUND: u32 = 6;
    pub const BIND_IPI: u32 = 7;
    pub const UNMASK: u32 = 9;
}

/// `EVTCHN_2L_NR_CHANNELS` on x86_64: 64 words of 64 bits.
pub const EVTCHN_2L_NR_CHANNELS: u32 = 64 * 64;

/// C: `struct evtchn_alloc_unbound`.
pub type EvtchnAllocUnbound = xen_sys::evtchn_alloc_unbound;
assert_layout!(EvtchnAllocUnbound, "struct evtchn_alloc_unbound" in "xen/event_channel.h",
    size 8, align 4; dom = "dom" 0, remote_dom = "remote_dom" 2, port = "port" 4);

/// C: `struct evtchn_bind_interdomain`.
pub type EvtchnBindInterdomain = xen_sys::evtchn_bind_interdomain;
assert_layout!(EvtchnBindInterdomain, "struct evtchn_bind_interdomain"
    in "xen/event_channel.h", size 12, align 4;
    remote_dom = "remote_dom" 0, remote_port = "remote_port" 4, local_port = "local_port" 8);

/// C: `struct evtchn_bind_virq`.
pub type EvtchnBindVirq = xen_sys::evtchn_bind_virq;
assert_layout!(EvtchnBindVirq, "struct evtchn_bind_virq" in "xen/event_channel.h",
    size 12, align 4; virq = "virq" 0, vcpu = "vcpu" 4, port = "port" 8);

/// C: `struct evtchn_send`.
pub type EvtchnSend = xen_sys::evtchn_send;
assert_layout!(EvtchnSend, "struct evtchn_send" in "xen/event_channel.h", size 4, align 4;
    port = "port" 0);

/// C: `struct evtchn_close`.
pub type EvtchnClose = xen_sys::evtchn_close;
assert_layout!(EvtchnClose, "struct evtchn_close" in "xen/event_channel.h", size 4, align 4;
    port = "port" 0);

/// C: `struct evtchn_unmask`.
pub type EvtchnUnmask = xen_sys::evtchn_unmask;
assert_layout!(EvtchnUnmask, "struct evtchn_unmask" in "xen/event_channel.h", size 4,
    align 4; port = "port" 0);
