//! The initial stack a static musl program expects at `_start` (host-tested).
//!
//! From the stack pointer up: `argc`, the `argv` pointers and NULL, the `envp` pointers and
//! NULL, the auxiliary vector (key, value pairs ending with `AT_NULL`), then the strings
//! and the 16 `AT_RANDOM` bytes (musl: `crt/crt1.c`, `src/env/__libc_start_main.c`; the
//! System V x86-64 psABI, 3.4.1). The stack pointer is 16-byte aligned.
//!
//! May use: nothing of the kernel (plain layout).

use alloc::vec::Vec;

/// `AT_NULL`.
pub const AT_NULL: u64 = 0;
/// `AT_PHDR`: where the program headers are.
pub const AT_PHDR: u64 = 3;
/// `AT_PHENT`: size of one.
pub const AT_PHENT: u64 = 4;
/// `AT_PHNUM`: how many.
pub const AT_PHNUM: u64 = 5;
/// `AT_PAGESZ`.
pub const AT_PAGESZ: u64 = 6;
/// `AT_BASE`: the interpreter's base (0: none, a static program).
pub const AT_BASE: u64 = 7;
/// `AT_ENTRY`.
pub const AT_ENTRY: u64 = 9;
/// `AT_UID`.
pub const AT_UID: u64 = 11;
/// `AT_EUID`.
pub const AT_EUID: u64 = 12;
/// `AT_GID`.
pub const AT_GID: u64 = 13;
/// `AT_EGID`.
pub const AT_EGID: u64 = 14;
/// `AT_CLKTCK`.
pub const AT_CLKTCK: u64 = 17;
/// `AT_SECURE`.
pub const AT_SECURE: u64 = 23;
/// `AT_RANDOM`: 16 random bytes (stack canary, malloc's secret).
pub const AT_RANDOM: u64 = 25;
/// `AT_EXECFN`: the program's name.
pub const AT_EXECFN: u64 = 31;

/// What goes on the stack besides the strings.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    /// `argv[0..]`.
    pub args: &'a [&'a str],
    /// `envp` entries (`NAME=value`).
    pub env: &'a [&'a str],
    /// Where the program headers are (absolute).
    pub phdr: u64,
    /// How many program headers.
    pub phnum: u64,
    /// The entry point (absolute).
    pub entry: u64,
    /// The `AT_RANDOM` bytes.
    pub random: [u8; 16],
}

/// The stack image for a stack whose top is at `top` (exclusive, 16-byte aligned): the
/// bytes to copy to `top - bytes.len()`, which is the stack pointer to start with.
pub fn build(start: &Start<'_>, top: u64) -> Vec<u8> {
    // Strings and random bytes first (highest addresses), then the pointer block.
    let mut strings: Vec<u8> = Vec::new();
    let mut arg_offsets = Vec::new();
    for a in start.args {
        arg_offsets.push(strings.len());
        strings.extend_from_slice(a.as_bytes());
        strings.push(0);
    }
    let mut env_offsets = Vec::new();
    for e in start.env {
        env_offsets.push(strings.len());
        strings.extend_from_slice(e.as_bytes());
        strings.push(0);
    }
    let random_offset = strings.len();
    strings.extend_from_slice(&start.random);
    while !strings.len().is_multiple_of(16) {
        strings.push(0);
    }
    let strings_at = top - strings.len() as u64;
    let execfn = arg_offsets.first().map_or(0, |&o| strings_at + o as u64);
    let auxv: [(u64, u64); 15] = [
        (AT_PHDR, start.phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, start.phnum),
        (AT_PAGESZ, 4096),
        (AT_BASE, 0),
        (AT_ENTRY, start.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_SECURE, 0),
        (AT_CLKTCK, 100),
        (AT_RANDOM, strings_at + random_offset as u64),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = Vec::new();
    words.push(start.args.len() as u64);
    words.extend(arg_offsets.iter().map(|&o| strings_at + o as u64));
    words.push(0);
    words.extend(env_offsets.iter().map(|&o| strings_at + o as u64));
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    if !words.len().is_multiple_of(2) {
        // A pad word after the auxiliary vector keeps the stack pointer (the address of
        // argc) 16-byte aligned: the strings take whole 16-byte units.
        words.push(0);
    }
    let mut out = Vec::with_capacity(words.len() * 8 + strings.len());
    for w in &words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
mod tests {
    use super::*;

    fn word(img: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(img[i * 8..i * 8 + 8].try_into().unwrap())
    }

    fn cstr_at(img: &[u8], base: u64, addr: u64) -> &str {
        let off = (addr - base) as usize;
        let end = img[off..].iter().position(|&b| b == 0).unwrap();
        core::str::from_utf8(&img[off..off + end]).unwrap()
    }

    #[test]
    fn argc_argv_envp_auxv_in_order_and_aligned() {
        let top = 0x10_0000u64;
        for args in [&["prog"][..], &["prog", "-x", "two words"][..]] {
            let s = Start {
                args,
                env: &["HOME=/", "TERM=xen"],
                phdr: 0x4000_0040,
                phnum: 9,
                entry: 0x4000_1234,
                random: [7; 16],
            };
            let img = build(&s, top);
            let sp = top - img.len() as u64;
            assert_eq!(sp % 16, 0, "stack pointer aligned");
            assert_eq!(
                word(&img, 0),
                args.len() as u64,
                "argc at the stack pointer"
            );
            for (i, a) in args.iter().enumerate() {
                assert_eq!(cstr_at(&img, sp, word(&img, 1 + i)), *a);
            }
            let mut i = 1 + args.len();
            assert_eq!(word(&img, i), 0, "argv NULL");
            i += 1;
            assert_eq!(cstr_at(&img, sp, word(&img, i)), "HOME=/");
            assert_eq!(cstr_at(&img, sp, word(&img, i + 1)), "TERM=xen");
            assert_eq!(word(&img, i + 2), 0, "envp NULL");
            i += 3;
            let mut aux = std::collections::BTreeMap::new();
            loop {
                let (k, v) = (word(&img, i), word(&img, i + 1));
                i += 2;
                if k == AT_NULL {
                    break;
                }
                aux.insert(k, v);
            }
            assert_eq!(aux[&AT_PHDR], 0x4000_0040);
            assert_eq!(aux[&AT_PHNUM], 9);
            assert_eq!(aux[&AT_PHENT], 56);
            assert_eq!(aux[&AT_ENTRY], 0x4000_1234);
            assert_eq!(aux[&AT_BASE], 0, "static: no interpreter");
            assert_eq!(aux[&AT_SECURE], 0);
            let r = (aux[&AT_RANDOM] - sp) as usize;
            assert_eq!(&img[r..r + 16], &[7; 16]);
            assert_eq!(cstr_at(&img, sp, aux[&AT_EXECFN]), "prog");
            assert!((i as u64) * 8 <= img.len() as u64);
        }
    }
}
