//! Random bytes for programs: a ChaCha20 generator seeded from the CPU, reseeded as it
//! goes (host-tested logic; the CPU parts only in the guest).
//!
//! The seed comes from RDSEED if the CPU has it, else RDRAND, as CPUID shows them *through
//! Xen* (leaf 7 EBX bit 18, leaf 1 ECX bit 30; `arch::x86_64::random::xen_cpuid`, Xen's
//! policy for the domain). Each instruction may say it has nothing ready (CF = 0): it is
//! tried again, a bounded number of times ([`RDSEED_TRIES`], [`RDRAND_TRIES`]), then the
//! next source is used. With neither, the seed is gathered from timer jitter: time-stamp
//! counter deltas around a little memory work, as Linux's jitter entropy does, folded
//! together ([`JitterPool`]); the console says so, since that is a weaker source. The
//! first seeding logs which source was used (`[time][INFO kernel::entropy] ChaCha20
//! seeded from RDSEED ...`, a log line, so a C program's own output stays apart).
//!
//! The generator (`chacha20::ChaCha20Rng`) is reseeded every [`RESEED_BYTES`] of output or
//! [`RESEED_NS`] of time, whichever comes first: fresh source bytes xor-ed into 32 bytes of
//! its own output. Seeding happens on first use (the first `getrandom` or a program's
//! `AT_RANDOM`), so images that never ask pay nothing.
//!
//! May use: `arch` (CPUID, RDRAND/RDSEED, TSC), `time` (the reseed interval).
#![forbid(unsafe_code)]

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};

/// Tries of RDSEED per 64-bit value before giving up on it (it may run dry under load).
pub const RDSEED_TRIES: u32 = 128;
/// Tries of RDRAND per 64-bit value (Intel: failing 10 times in a row means a broken CPU).
pub const RDRAND_TRIES: u32 = 10;
/// Output after which the generator is reseeded.
pub const RESEED_BYTES: u64 = 1 << 20;
/// Time after which the generator is reseeded (at its next use).
pub const RESEED_NS: u64 = 60_000_000_000;
/// Timer samples folded into each 64-bit word of a jitter seed.
pub const JITTER_SAMPLES_PER_WORD: u32 = 512;

/// Where a seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The RDSEED instruction (the entropy source itself).
    Rdseed,
    /// The RDRAND instruction (a DRBG the hardware reseeds).
    Rdrand,
    /// Time-stamp counter jitter.
    Jitter,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Source::Rdseed => "RDSEED",
            Source::Rdrand => "RDRAND",
            Source::Jitter => "timer jitter",
        })
    }
}

/// Which instructions CPUID says exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSources {
    /// CPUID.(7,0):EBX bit 18.
    pub rdseed: bool,
    /// CPUID.1:ECX bit 30.
    pub rdrand: bool,
}

impl CpuSources {
    /// From CPUID leaf 0's EAX (the highest leaf), leaf 1's ECX and leaf 7's EBX (only
    /// meaningful when the highest leaf is 7 or more).
    pub fn from_cpuid(max_leaf: u32, leaf1_ecx: u32, leaf7_ebx: u32) -> Self {
        CpuSources {
            rdseed: max_leaf >= 7 && leaf7_ebx & (1 << 18) != 0,
            rdrand: max_leaf >= 1 && leaf1_ecx & (1 << 30) != 0,
        }
    }

    /// The sources to try, best first; jitter is always last.
    pub fn order(&self) -> impl Iterator<Item = Source> {
        [
            self.rdseed.then_some(Source::Rdseed),
            self.rdrand.then_some(Source::Rdrand),
            Some(Source::Jitter),
        ]
        .into_iter()
        .flatten()
    }
}

/// `attempt` tried up to `tries` times: its first value.
pub fn retry(tries: u32, mut attempt: impl FnMut() -> Option<u64>) -> Option<u64> {
    (0..tries).find_map(|_| {
        let v = attempt();
        if v.is_none() {
            core::hint::spin_loop();
        }
        v
    })
}

/// 32 bytes from `word` (one 64-bit value per call, `None` when the source failed).
pub fn seed_from(mut word: impl FnMut() -> Option<u64>) -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_exact_mut(8) {
        chunk.copy_from_slice(&word()?.to_le_bytes());
    }
    Some(seed)
}

/// Folds timer samples into a 64-bit word: each sample is rotated in and multiplied by
/// an odd constant (a bijection), so every bit of every sample reaches the result.
#[derive(Debug, Clone, Copy, Default)]
pub struct JitterPool {
    acc: u64,
}

impl JitterPool {
    /// Adds one sample (a time-stamp counter delta).
    pub fn add(&mut self, sample: u64) {
        self.acc = (self.acc.rotate_left(13) ^ sample).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// The folded word.
    pub fn value(&self) -> u64 {
        self.acc ^ (self.acc >> 29)
    }
}

/// The generator and when it was last seeded.
#[derive(Debug)]
pub struct Generator {
    rng: ChaCha20Rng,
    since_seed: u64,
    seeded_ns: u64,
}

impl Generator {
    /// A generator seeded with `seed` at time `now_ns`.
    pub fn new(seed: [u8; 32], now_ns: u64) -> Self {
        Generator {
            rng: ChaCha20Rng::from_seed(seed),
            since_seed: 0,
            seeded_ns: now_ns,
        }
    }

    /// True when it is due for a reseed at `now_ns`.
    pub fn reseed_due(&self, now_ns: u64) -> bool {
        self.since_seed >= RESEED_BYTES || now_ns.saturating_sub(self.seeded_ns) >= RESEED_NS
    }

    /// Reseeds with `fresh` bytes, xor-ed into 32 bytes of its own output (so a weak
    /// `fresh` never makes it weaker than it was).
    pub fn reseed(&mut self, fresh: [u8; 32], now_ns: u64) {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        for (s, f) in seed.iter_mut().zip(fresh) {
            *s ^= f;
        }
        *self = Generator::new(seed, now_ns);
    }

    /// Fills `buf`.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
        self.since_seed = self.since_seed.saturating_add(buf.len() as u64);
    }
}

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::arch::x86_64::{self as arch, random};

    /// The generator, once seeded, and the source of its first seed.
    static STATE: spin::Mutex<Option<(Generator, Source)>> = spin::Mutex::new(None);

    /// What CPUID says through Xen.
    fn cpu_sources() -> CpuSources {
        let max = random::xen_cpuid(0, 0)[0];
        let leaf1 = if max >= 1 {
            random::xen_cpuid(1, 0)[2]
        } else {
            0
        };
        let leaf7 = if max >= 7 {
            random::xen_cpuid(7, 0)[1]
        } else {
            0
        };
        CpuSources::from_cpuid(max, leaf1, leaf7)
    }

    /// One 64-bit word of timer jitter.
    fn jitter_word() -> u64 {
        let mut pool = JitterPool::default();
        let mut scratch = [0u64; 64];
        for i in 0..JITTER_SAMPLES_PER_WORD {
            let t0 = arch::rdtsc();
            // A little memory work whose path depends on what came before: its time
            // varies with caches, the pipeline and the hypervisor's interruptions.
            for k in 0..8u32 {
                let j = ((pool.value() as usize) ^ (k as usize)) % scratch.len();
                if let Some(s) = scratch.get_mut(j) {
                    *s = s.wrapping_add(t0).rotate_left(k + i % 7);
                }
            }
            pool.add(arch::rdtsc().wrapping_sub(t0));
        }
        pool.value() ^ scratch.iter().fold(0, |a, s| a ^ s)
    }

    /// 32 bytes from `source`, or `None` when its instruction kept failing.
    fn seed(source: Source) -> Option<[u8; 32]> {
        match source {
            Source::Rdseed => seed_from(|| retry(RDSEED_TRIES, random::rdseed_checked)),
            Source::Rdrand => seed_from(|| retry(RDRAND_TRIES, random::rdrand_checked)),
            Source::Jitter => seed_from(|| Some(jitter_word())),
        }
    }

    /// The first source of `cpu` that gives a seed, and the seed.
    fn first_seed(cpu: CpuSources) -> ([u8; 32], Source) {
        for source in cpu.order() {
            match seed(source) {
                Some(s) => return (s, source),
                None => log::warn!(
                    target: "kernel::entropy",
                    "{source} gave no value in {} tries; trying the next source",
                    if source == Source::Rdseed {
                        RDSEED_TRIES
                    } else {
                        RDRAND_TRIES
                    }
                ),
            }
        }
        // Jitter always gives a seed; this is not reached.
        (
            seed_from(|| Some(jitter_word())).unwrap_or_default(),
            Source::Jitter,
        )
    }

    /// Fills `buf` with random bytes (seeding on first use, reseeding when due).
    pub fn fill(buf: &mut [u8]) {
        let mut state = STATE.lock();
        let now = crate::time::now_ns();
        let (generator, source) = state.get_or_insert_with(|| {
            let cpu = cpu_sources();
            let (s, source) = first_seed(cpu);
            let yes = |b: bool| if b { "yes" } else { "no" };
            if source == Source::Jitter {
                log::warn!(
                    target: "kernel::entropy",
                    "no RDSEED or RDRAND (CPUID through Xen: rdseed={} rdrand={}); \
                     ChaCha20 seeded from timer jitter ({} TSC samples), a weaker source",
                    yes(cpu.rdseed),
                    yes(cpu.rdrand),
                    4 * JITTER_SAMPLES_PER_WORD
                );
            } else {
                log::info!(
                    target: "kernel::entropy",
                    "ChaCha20 seeded from {source} (CPUID through Xen: \
                     rdseed={} rdrand={}); reseeded every {} KiB or {} s",
                    yes(cpu.rdseed),
                    yes(cpu.rdrand),
                    RESEED_BYTES / 1024,
                    RESEED_NS / 1_000_000_000
                );
            }
            (Generator::new(s, now), source)
        });
        if generator.reseed_due(now) {
            let fresh = seed(*source).unwrap_or_else(|| first_seed(cpu_sources()).0);
            generator.reseed(fresh, now);
        }
        generator.fill(buf);
    }

    /// The source of the first seed, once seeded.
    pub fn source() -> Option<Source> {
        STATE.lock().as_ref().map(|(_, s)| *s)
    }
}

#[cfg(target_os = "none")]
pub use imp::{fill, source};

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    reason = "test code: a panic is a failed test"
)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_bits_pick_the_sources_best_first() {
        let all = CpuSources::from_cpuid(0xd, 1 << 30, 1 << 18);
        assert_eq!(
            all,
            CpuSources {
                rdseed: true,
                rdrand: true
            }
        );
        assert_eq!(
            all.order().collect::<std::vec::Vec<_>>(),
            [Source::Rdseed, Source::Rdrand, Source::Jitter]
        );
        // Leaf 7 is not there: its EBX means nothing.
        let old = CpuSources::from_cpuid(5, 1 << 30, 1 << 18);
        assert_eq!(
            old,
            CpuSources {
                rdseed: false,
                rdrand: true
            }
        );
        let none = CpuSources::from_cpuid(0xd, !(1 << 30), !(1 << 18));
        assert_eq!(none.order().collect::<std::vec::Vec<_>>(), [Source::Jitter]);
    }

    #[test]
    fn retries_are_bounded_and_stop_at_the_first_value() {
        let mut calls = 0;
        assert_eq!(
            retry(10, || {
                calls += 1;
                None
            }),
            None
        );
        assert_eq!(calls, 10);
        let mut calls = 0;
        assert_eq!(
            retry(10, || {
                calls += 1;
                (calls == 3).then_some(7)
            }),
            Some(7)
        );
        assert_eq!(calls, 3);
        let mut n = 0u64;
        let seed = seed_from(|| {
            n += 1;
            Some(n)
        })
        .unwrap();
        assert_eq!(seed[0], 1);
        assert_eq!(seed[24], 4);
        let mut n = 0;
        assert_eq!(
            seed_from(|| {
                n += 1;
                (n < 3).then_some(1)
            }),
            None
        );
    }

    #[test]
    fn the_jitter_pool_depends_on_every_sample() {
        let fold = |samples: &[u64]| {
            let mut p = JitterPool::default();
            samples.iter().for_each(|&s| p.add(s));
            p.value()
        };
        let base: std::vec::Vec<u64> = (0..64).map(|i| 1000 + i).collect();
        let v = fold(&base);
        for i in 0..base.len() {
            let mut other = base.clone();
            other[i] ^= 1;
            assert_ne!(fold(&other), v, "sample {i}");
        }
    }

    #[test]
    fn different_seeds_give_different_bytes_and_reseeding_changes_the_stream() {
        let mut a = Generator::new([1; 32], 0);
        let mut b = Generator::new([2; 32], 0);
        let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_ne!(x, y);
        let mut same = Generator::new([1; 32], 0);
        let mut z = [0u8; 64];
        same.fill(&mut z);
        assert_eq!(x, z, "a seed determines the stream");
        let mut c = Generator::new([1; 32], 0);
        c.reseed([0; 32], 5);
        let mut w = [0u8; 64];
        c.fill(&mut w);
        assert_ne!(w, x, "even an all-zero reseed moves the stream on");
    }

    #[test]
    fn reseeds_fall_due_by_output_or_by_time() {
        let mut g = Generator::new([3; 32], 1_000);
        assert!(!g.reseed_due(1_000));
        let mut buf = std::vec![0u8; (RESEED_BYTES - 1) as usize];
        g.fill(&mut buf);
        assert!(!g.reseed_due(1_000));
        g.fill(&mut [0u8; 1]);
        assert!(g.reseed_due(1_000));
        g.reseed([9; 32], 2_000);
        assert!(!g.reseed_due(2_000 + RESEED_NS - 1));
        assert!(g.reseed_due(2_000 + RESEED_NS));
    }
}
