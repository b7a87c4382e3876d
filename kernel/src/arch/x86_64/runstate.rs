//! The vCPU runstate area Xen keeps up to date for steal time.

use super::hypercall::{vcpu_op, vm_assist};
use core::cell::UnsafeCell;
use xen::XenError;
use xen::abi::vcpu::{VcpuRegisterRunstateMemoryArea, VcpuRunstateInfo, op};
use xen::abi::xen::vmasst;
use xen::shared::Shared;

/// 64-byte aligned so the 48-byte area never straddles a page.
#[repr(C, align(64))]
struct Area(UnsafeCell<VcpuRunstateInfo>);

// SAFETY: the area is only reached through `Shared` (volatile reads) after registration;
// Xen is its only writer.
unsafe impl Sync for Area {}

static AREA: Area = Area(UnsafeCell::new(VcpuRunstateInfo {
    state: 0,
    state_entry_time: 0,
    time: [0; 4],
}));
static REGISTERED: spin::Once<Shared<VcpuRunstateInfo>> = spin::Once::new();

/// Enables `XEN_RUNSTATE_UPDATE` and registers the area for vCPU 0.
pub(crate) fn register() -> Result<(), XenError> {
    vm_assist(vmasst::CMD_ENABLE, vmasst::TYPE_RUNSTATE_UPDATE_FLAG)?;
    let mut arg = VcpuRegisterRunstateMemoryArea {
        addr: AREA.0.get() as u64,
    };
    // SAFETY: the argument struct matches VCPUOP_register_runstate_memory_area and the
    // address is a static that stays mapped for the life of the domain.
    unsafe { vcpu_op(op::REGISTER_RUNSTATE_MEMORY_AREA, 0, &mut arg)? };
    // SAFETY: a static, aligned, valid for ever; from now on only read through Shared.
    REGISTERED.call_once(|| unsafe { Shared::new(AREA.0.get()) });
    Ok(())
}

/// The registered area, if registration succeeded.
pub(crate) fn area() -> Option<Shared<VcpuRunstateInfo>> {
    REGISTERED.get().copied()
}
