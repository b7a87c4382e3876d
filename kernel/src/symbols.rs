//! Function names for crash reports.
//!
//! `scripts/build` links an image, lists its functions (`nm`), and links it again with
//! that list in the section `.ferrun_symbols` (the app's `main!` places it there; it ends
//! the read-only segment, so code addresses do not move, which the build checks). The
//! list is text, one function per line sorted by address: `ADDRESS NAME` with the address
//! as 16 hex digits and the name demangled without its hash. An image built any other
//! way has an empty list, and reports show bare addresses.
#![forbid(unsafe_code)]

/// The function containing `addr`: its name and `addr`'s offset into it. `None` below
/// the first function or when the table is empty or malformed at that point.
pub fn lookup(table: &[u8], addr: u64) -> Option<(&str, u64)> {
    let mut best: Option<(u64, &[u8])> = None;
    for line in table.split(|&b| b == b'\n') {
        let Some((hex, name)) = line.split_at_checked(16) else {
            continue;
        };
        let Some(start) = core::str::from_utf8(hex)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            continue;
        };
        if start > addr {
            // Sorted: nothing later can contain `addr`.
            break;
        }
        best = Some((start, name.strip_prefix(b" ").unwrap_or(name)));
    }
    let (start, name) = best?;
    let name = core::str::from_utf8(name).ok()?;
    Some((name, addr - start))
}

/// The table linked into this image (empty when it was built without one).
#[cfg(target_os = "none")]
pub fn table() -> &'static [u8] {
    crate::arch::x86_64::symbol_table()
}

/// A foreign program's functions (a C program libc-shim loaded): its address range and a
/// table in the same format, with absolute addresses.
#[cfg(target_os = "none")]
static FOREIGN: spin::Once<(u64, u64, &'static [u8])> = spin::Once::new();

/// Registers the functions of a program loaded at `[start, end)` (once).
#[cfg(target_os = "none")]
pub fn set_foreign(start: u64, end: u64, table: &'static [u8]) {
    FOREIGN.call_once(|| (start, end, table));
}

/// The function containing `addr`, in the image's code or a registered program's.
#[cfg(target_os = "none")]
pub fn find(addr: u64) -> Option<(&'static str, u64)> {
    let (t0, t1) = crate::arch::x86_64::text_bounds();
    if (t0..t1).contains(&addr) {
        return lookup(table(), addr);
    }
    match FOREIGN.get() {
        Some(&(start, end, t)) if (start..end).contains(&addr) => lookup(t, addr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"0000000000002000 _start\n\
0000000000002040 crash::level_one\n\
0000000000002080 crash::level_two\n\
00000000000020c0 <kernel::sched::Builder>::spawn::<closure>\n";

    #[test]
    fn an_address_maps_to_the_function_below_it() {
        assert_eq!(lookup(TABLE, 0x2000), Some(("_start", 0)));
        assert_eq!(lookup(TABLE, 0x2055), Some(("crash::level_one", 0x15)));
        assert_eq!(lookup(TABLE, 0x2080), Some(("crash::level_two", 0)));
        assert_eq!(
            lookup(TABLE, 0x9000),
            Some(("<kernel::sched::Builder>::spawn::<closure>", 0x6f40))
        );
    }

    #[test]
    fn below_the_first_function_or_without_a_table_there_is_no_name() {
        assert_eq!(lookup(TABLE, 0x1fff), None);
        assert_eq!(lookup(b"", 0x2000), None);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let table = b"garbage\n00000000000zz000 bad\n0000000000003000 good\n\xff\xff";
        assert_eq!(lookup(table, 0x3001), Some(("good", 1)));
        let bad_name = b"0000000000003000 \xff\n";
        assert_eq!(lookup(bad_name, 0x3001), None);
    }
}
