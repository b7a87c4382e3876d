//! Steal time from the vCPU runstate area.
//!
//! Xen keeps a `vcpu_runstate_info` per vCPU up to date at an address the guest registers
//! (`VCPUOP_register_runstate_memory_area`). With `VMASST_TYPE_runstate_update_flag`
//! enabled, Xen sets `XEN_RUNSTATE_UPDATE` (bit 63 of `state_entry_time`) while it writes;
//! a reader retries while that bit is set or `state_entry_time` changed (Linux
//! `xen_get_runstate_snapshot_cpu_delta`). Steal time is what the vCPU wanted to run but
//! could not: `time[RUNSTATE_runnable] + time[RUNSTATE_offline]` (Linux `xen_steal_clock`).
//! `time[]` only advances on state changes, so the time in the current state up to now is
//! added explicitly.

use crate::abi::vcpu::{VcpuRunstateInfo, XEN_RUNSTATE_UPDATE, runstate};

/// The runstate area's update flag: set in `state_entry_time` while Xen writes the area.
pub fn writing(state_entry_time: u64) -> bool {
    state_entry_time & XEN_RUNSTATE_UPDATE != 0
}

/// Nanoseconds a vCPU spent in each runstate, up to a given system time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunstateTimes {
    /// On a physical CPU.
    pub running: u64,
    /// Ready to run, waiting for a physical CPU (stolen).
    pub runnable: u64,
    /// Blocked on events (idle).
    pub blocked: u64,
    /// Offline (stolen).
    pub offline: u64,
}

impl RunstateTimes {
    /// The times in `info` brought forward to `now`: the current state gets
    /// `now - state_entry_time` added (nothing if `now` is earlier).
    pub fn at(info: &VcpuRunstateInfo, now: u64) -> Self {
        let [running, runnable, blocked, offline] = info.time;
        let mut t = RunstateTimes {
            running,
            runnable,
            blocked,
            offline,
        };
        let entry = info.state_entry_time & !XEN_RUNSTATE_UPDATE;
        let extra = now.saturating_sub(entry);
        match u32::try_from(info.state).ok() {
            Some(runstate::RUNNING) => t.running = t.running.saturating_add(extra),
            Some(runstate::RUNNABLE) => t.runnable = t.runnable.saturating_add(extra),
            Some(runstate::BLOCKED) => t.blocked = t.blocked.saturating_add(extra),
            Some(runstate::OFFLINE) => t.offline = t.offline.saturating_add(extra),
            // An unknown state adds nothing rather than guessing.
            _ => {}
        }
        t
    }

    /// The time spent in each state since `base` was taken (each saturating at 0, so a
    /// base from a later reading gives zeros, never a wrap).
    pub fn since(&self, base: &RunstateTimes) -> Self {
        RunstateTimes {
            running: self.running.saturating_sub(base.running),
            runnable: self.runnable.saturating_sub(base.runnable),
            blocked: self.blocked.saturating_sub(base.blocked),
            offline: self.offline.saturating_sub(base.offline),
        }
    }

    /// Stolen time: runnable + offline.
    pub fn steal(&self) -> u64 {
        self.runnable.saturating_add(self.offline)
    }

    /// All four states together (equals the vCPU's lifetime).
    pub fn total(&self) -> u64 {
        self.running
            .saturating_add(self.runnable)
            .saturating_add(self.blocked)
            .saturating_add(self.offline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_since_a_base_subtract_per_state_and_never_wrap() {
        let base = RunstateTimes {
            running: 10,
            runnable: 5,
            blocked: 100,
            offline: 2_000,
        };
        let now = RunstateTimes {
            running: 30,
            runnable: 9,
            blocked: 150,
            offline: 4_000,
        };
        let d = now.since(&base);
        assert_eq!(
            (d.running, d.runnable, d.blocked, d.offline),
            (20, 4, 50, 2_000)
        );
        assert_eq!(d.steal(), 2_004);
        assert_eq!(base.since(&now), RunstateTimes::default());
    }

    fn rec(state: u32, entry: u64, time: [u64; 4]) -> VcpuRunstateInfo {
        VcpuRunstateInfo {
            state: state as i32,
            state_entry_time: entry,
            time,
        }
    }

    #[test]
    fn the_update_flag_means_xen_is_writing() {
        assert!(writing(XEN_RUNSTATE_UPDATE | 10));
        assert!(!writing(10));
    }

    #[test]
    fn steal_is_runnable_plus_offline() {
        let t = RunstateTimes::at(&rec(runstate::RUNNING, 100, [50, 30, 15, 5]), 100);
        assert_eq!(t.steal(), 35);
        assert_eq!(t.total(), 100);
    }

    #[test]
    fn the_current_state_is_brought_forward_to_now() {
        let t = RunstateTimes::at(&rec(runstate::RUNNING, 100, [50, 30, 15, 5]), 160);
        assert_eq!(t.running, 110);
        assert_eq!(t.steal(), 35);
        let t = RunstateTimes::at(&rec(runstate::RUNNABLE, 100, [50, 30, 15, 5]), 160);
        assert_eq!(t.steal(), 95);
        assert_eq!(t.total(), 160);
    }

    #[test]
    fn update_bit_is_masked_and_clock_behind_entry_adds_nothing() {
        let info = rec(runstate::RUNNING, XEN_RUNSTATE_UPDATE | 100, [1, 2, 3, 4]);
        assert_eq!(RunstateTimes::at(&info, 150).running, 51);
        assert_eq!(RunstateTimes::at(&info, 90).running, 1);
    }

    #[test]
    fn unknown_state_adds_nothing() {
        let info = VcpuRunstateInfo {
            state: 9,
            state_entry_time: 0,
            time: [1, 2, 3, 4],
        };
        assert_eq!(RunstateTimes::at(&info, 1_000).total(), 10);
        let info = VcpuRunstateInfo {
            state: -1,
            state_entry_time: 0,
            time: [1, 2, 3, 4],
        };
        assert_eq!(RunstateTimes::at(&info, 1_000).total(), 10);
    }
}
