//! pvclock: nanoseconds of system time from the TSC and Xen's `vcpu_time_info`.
//!
//! Formula (public/xen.h, `struct vcpu_time_info`):
//! `now = system_time + ((((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul) >> 32)`,
//! where a negative `tsc_shift` shifts right. The product needs 96 bits: a u64 product
//! overflows once the TSC delta grows to a few seconds (`mul` is about 2^30 for a 3 GHz TSC).
//! The record is a seqlock: Xen makes `version` odd while it writes.

use crate::abi::xen::VcpuTimeInfo;
use core::sync::atomic::{AtomicU64, Ordering};

/// Longest timer offset we ask for: Xen treats a `set_timer_op` deadline 2^50 ns or more
/// in the future as a guest bug and fires after 100 ms instead (`do_set_timer_op`), so an
/// idle guest would wake ten times a second. Farther deadlines wait this long, then the
/// caller arms the timer again.
pub const MAX_TIMER_OFFSET_NS: u64 = 1 << 49;

/// The deadline to give `set_timer_op` for `deadline_ns` at system time `now_ns`: 0
/// (cancel) stays 0; one too far away is brought to `now_ns + MAX_TIMER_OFFSET_NS`.
pub fn timer_deadline(now_ns: u64, deadline_ns: u64) -> u64 {
    if deadline_ns == 0 {
        return 0;
    }
    match deadline_ns.checked_sub(now_ns) {
        Some(offset) if offset >= MAX_TIMER_OFFSET_NS => now_ns.saturating_add(MAX_TIMER_OFFSET_NS),
        _ => deadline_ns,
    }
}

/// Scales a TSC delta to nanoseconds: `((delta << shift) * mul) >> 32` with a 128-bit product.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let shifted = if shift >= 0 {
        delta
            .checked_shl(u32::from(shift.unsigned_abs()))
            .unwrap_or(0)
    } else {
        delta
            .checked_shr(u32::from(shift.unsigned_abs()))
            .unwrap_or(0)
    };
    let ns = (u128::from(shifted) * u128::from(mul)) >> 32;
    // (2^64 - 1) * (2^32 - 1) >> 32 < 2^64: the result always fits.
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// System time in ns for a TSC reading, from a consistent snapshot of the record.
///
/// The delta is taken modulo 2^64, as Linux does: a domain's TSC starts near 0 and Xen's
/// first records can carry a `tsc_timestamp` just "below" 0 (seen on the testbed:
/// 18446744072165924966), which a saturating subtraction would freeze the clock on. A
/// TSC genuinely older than the record (only with an unstable TSC) comes out as a
/// negative delta and counts as none.
pub fn system_time(info: &VcpuTimeInfo, tsc: u64) -> u64 {
    let delta = tsc.wrapping_sub(info.tsc_timestamp);
    let delta = if delta > u64::MAX / 2 { 0 } else { delta };
    info.system_time
        .wrapping_add(scale_delta(delta, info.tsc_to_system_mul, info.tsc_shift))
}

/// The TSC frequency in Hz the record describes: `((10^9 << 32) / mul) >> shift`.
pub fn tsc_hz(info: &VcpuTimeInfo) -> u64 {
    if info.tsc_to_system_mul == 0 {
        return 0;
    }
    let hz = (1_000_000_000u128 << 32) / u128::from(info.tsc_to_system_mul);
    let hz = if info.tsc_shift >= 0 {
        hz >> info.tsc_shift.unsigned_abs()
    } else {
        hz << info.tsc_shift.unsigned_abs()
    };
    u64::try_from(hz).unwrap_or(u64::MAX)
}

/// The pvclock record's seqlock: `version` is odd while Xen writes it.
pub fn writing(version: u64) -> bool {
    version & 1 == 1
}

/// Wall clock at system time 0 from shared_info: `wc_sec_hi << 32 | wc_sec` and `wc_nsec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WallClockBase {
    /// Seconds since the Unix epoch (all 64 bits, including `wc_sec_hi`).
    pub sec: u64,
    /// Nanoseconds.
    pub nsec: u32,
}

impl WallClockBase {
    /// Combines the fields of shared_info; `wc_sec_hi` matters after 2106.
    pub fn from_fields(wc_sec: u32, wc_sec_hi: u32, wc_nsec: u32) -> Self {
        WallClockBase {
            sec: (u64::from(wc_sec_hi) << 32) | u64::from(wc_sec),
            nsec: wc_nsec,
        }
    }

    /// Wall-clock nanoseconds since the epoch at the given system time.
    pub fn at(&self, system_time_ns: u64) -> u128 {
        u128::from(self.sec) * 1_000_000_000 + u128::from(self.nsec) + u128::from(system_time_ns)
    }
}

/// Makes a clock monotonic across record updates: never returns less than before.
///
/// Linux keeps the same guard (`pvclock_clocksource_read`, `last_value`) unless Xen marks
/// the TSC stable; we keep it always: it costs one relaxed atomic.
#[derive(Debug, Default)]
pub struct Monotonic {
    last: AtomicU64,
}

impl Monotonic {
    /// A guard that has seen nothing yet.
    pub const fn new() -> Self {
        Monotonic {
            last: AtomicU64::new(0),
        }
    }

    /// `max(now, every value returned before)`.
    pub fn clamp(&self, now: u64) -> u64 {
        let prev = self.last.fetch_max(now, Ordering::Relaxed);
        prev.max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_deadlines_stay_below_xens_huge_timeout() {
        assert_eq!(timer_deadline(5, 0), 0, "cancel stays cancel");
        assert_eq!(timer_deadline(1_000, 2_000), 2_000);
        assert_eq!(
            timer_deadline(1_000, 500),
            500,
            "a past deadline fires at once"
        );
        let now = 1 << 40;
        assert_eq!(
            timer_deadline(now, now + MAX_TIMER_OFFSET_NS - 1),
            now + MAX_TIMER_OFFSET_NS - 1
        );
        assert_eq!(timer_deadline(now, u64::MAX), now + MAX_TIMER_OFFSET_NS);
        assert_eq!(
            timer_deadline(now, now + (1 << 50)),
            now + MAX_TIMER_OFFSET_NS
        );
        assert!(timer_deadline(now, u64::MAX) - now < 1 << 50);
    }

    fn info(tsc_timestamp: u64, system_time: u64, mul: u32, shift: i8) -> VcpuTimeInfo {
        VcpuTimeInfo {
            tsc_timestamp,
            system_time,
            tsc_to_system_mul: mul,
            tsc_shift: shift,
            ..Default::default()
        }
    }

    #[test]
    fn scale_with_mul_of_one_half() {
        // mul = 2^31 is 0.5 ns per (shifted) tick.
        assert_eq!(scale_delta(1000, 1 << 31, 0), 500);
        assert_eq!(scale_delta(1000, 1 << 31, 1), 1000);
    }

    #[test]
    fn negative_shift_shifts_right() {
        assert_eq!(scale_delta(1000, 1 << 31, -1), 250);
        assert_eq!(scale_delta(1000, 1 << 31, -2), 125);
    }

    #[test]
    fn delta_whose_product_overflows_64_bits_is_exact() {
        // A 3 GHz TSC: mul ~ 2^32 / 3 (0.333 ns per tick), shift 0.
        let mul = 1_431_655_765; // floor(2^32 / 3)
        let delta = 3_000_000_000u64 * 3600; // one hour of ticks
        assert!(
            delta.checked_mul(u64::from(mul)).is_none(),
            "the u64 product must overflow"
        );
        let ns = scale_delta(delta, mul, 0);
        let exact = (u128::from(delta) * u128::from(mul)) >> 32;
        assert_eq!(u128::from(ns), exact);
        // One hour, within a ns per 2^32 ticks of rounding.
        assert!(ns.abs_diff(3_600_000_000_000) < 1_000, "{ns}");
    }

    #[test]
    fn shift_beyond_word_width_does_not_panic() {
        assert_eq!(scale_delta(u64::MAX, u32::MAX, 64), 0);
        assert_eq!(scale_delta(u64::MAX, u32::MAX, -64), 0);
        assert_eq!(scale_delta(u64::MAX, u32::MAX, 0), u64::MAX - (1 << 32));
    }

    #[test]
    fn system_time_adds_the_scaled_delta() {
        let i = info(1_000, 5_000_000, 1 << 31, 1);
        assert_eq!(system_time(&i, 1_000), 5_000_000);
        assert_eq!(system_time(&i, 3_000), 5_002_000);
        // A TSC behind the record does not go back in time.
        assert_eq!(system_time(&i, 10), 5_000_000);
    }

    #[test]
    fn a_record_stamped_just_below_tsc_zero_still_advances() {
        // Seen on Xen 4.17: a new domain's TSC is near 0 and its record's tsc_timestamp is
        // a little "before" 0, i.e. wrapped.
        let i = info(
            18_446_744_072_165_924_966,
            47_623_713_005,
            3_512_685_262,
            -1,
        );
        let t1 = system_time(&i, 75_494_251);
        let t2 = system_time(&i, 75_494_251 + 1_000_000);
        assert!(
            t1 > i.system_time,
            "the clock must not freeze at the record's time"
        );
        assert_eq!(t2 - t1, scale_delta(1_000_000, 3_512_685_262, -1));
    }

    #[test]
    fn tsc_frequency_round_trips() {
        // 2 GHz: 0.5 ns per tick, mul = 2^31, shift 0.
        assert_eq!(tsc_hz(&info(0, 0, 1 << 31, 0)), 2_000_000_000);
        assert_eq!(tsc_hz(&info(0, 0, 1 << 31, 1)), 1_000_000_000);
        assert_eq!(tsc_hz(&info(0, 0, 0, 0)), 0);
    }

    #[test]
    fn odd_versions_mean_xen_is_writing() {
        assert!(writing(1) && writing(7));
        assert!(!writing(0) && !writing(6));
    }

    #[test]
    fn wall_clock_uses_the_high_seconds_word() {
        let base = WallClockBase::from_fields(5, 1, 7);
        assert_eq!(base.sec, (1 << 32) + 5);
        assert_eq!(
            base.at(3),
            u128::from((1u64 << 32) + 5) * 1_000_000_000 + 10
        );
    }

    #[test]
    fn monotonic_never_returns_less_than_before() {
        let m = Monotonic::new();
        assert_eq!(m.clamp(10), 10);
        assert_eq!(m.clamp(8), 10);
        assert_eq!(m.clamp(12), 12);
    }
}
