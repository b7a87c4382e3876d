//! Reading a static musl program: the ELF64 header and program headers (host-tested).
//!
//! Programs are static-pie (`ET_DYN` with no `PT_INTERP`): they run at whatever address
//! their pages get, and musl's `rcrt1.o` relocates them itself. A fixed-address
//! executable (`ET_EXEC`, `musl-gcc -static`, linked at 0x400000) would need those very
//! addresses, which in a ferrun guest are the identity map of its own memory; it is
//! refused with a message saying how to build a static-pie. Every field is checked
//! against the file before it is used: a bad program is an error, never a panic.
//!
//! May use: nothing of the kernel (plain parsing).

use core::fmt;

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_DYNAMIC`.
pub const PT_DYNAMIC: u32 = 2;
/// `PT_INTERP`.
pub const PT_INTERP: u32 = 3;
/// `PT_TLS`.
pub const PT_TLS: u32 = 7;
/// `PT_GNU_STACK`.
pub const PT_GNU_STACK: u32 = 0x6474_e551;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Size of one program header (`Elf64_Phdr`).
pub const PHDR_SIZE: usize = 56;

const PAGE: u64 = 4096;

/// Why a program cannot be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than its headers say.
    Truncated,
    /// Not an ELF file (no `\x7fELF`).
    NotElf,
    /// Not 64-bit little-endian x86-64.
    WrongMachine,
    /// `ET_EXEC`: linked at a fixed address.
    FixedAddress,
    /// Neither `ET_EXEC` nor `ET_DYN` (a relocatable object, a core file).
    NotExecutable {
        /// `e_type`.
        e_type: u16,
    },
    /// Asks for a dynamic loader (`PT_INTERP`): not a static program.
    Dynamic,
    /// A segment whose file range lies outside the file, or whose memory size is smaller
    /// than its file size, or whose address overflows.
    BadSegment {
        /// Index of the program header.
        index: usize,
    },
    /// No `PT_LOAD` segment.
    NothingToLoad,
    /// A segment both writable and executable (W^X).
    WritableCode {
        /// Index of the program header.
        index: usize,
    },
    /// Program headers of an unexpected size.
    BadPhdrSize {
        /// `e_phentsize`.
        size: u16,
    },
    /// The entry point is outside every executable segment.
    BadEntry,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Truncated => write!(f, "the file is shorter than its headers say"),
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::WrongMachine => write!(f, "not a 64-bit little-endian x86-64 program"),
            ElfError::FixedAddress => write!(
                f,
                "linked at a fixed address (musl-gcc -static); build a static-pie: \
                 scripts/build DIR does (gcc -static-pie with musl's rcrt1.o)"
            ),
            ElfError::NotExecutable { e_type } => {
                write!(f, "ELF type {e_type} is not an executable")
            }
            ElfError::Dynamic => write!(
                f,
                "asks for a dynamic loader (PT_INTERP); link it static-pie against musl"
            ),
            ElfError::BadSegment { index } => write!(f, "program header {index} is malformed"),
            ElfError::NothingToLoad => write!(f, "no loadable segment"),
            ElfError::WritableCode { index } => {
                write!(f, "segment {index} is writable and executable")
            }
            ElfError::BadPhdrSize { size } => write!(f, "program headers of {size} bytes"),
            ElfError::BadEntry => write!(f, "the entry point is not in an executable segment"),
        }
    }
}

impl core::error::Error for ElfError {}

/// One loadable segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset in the file.
    pub offset: u64,
    /// Address, relative to the load base.
    pub vaddr: u64,
    /// Bytes from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zero).
    pub memsz: u64,
    /// `PF_*`.
    pub flags: u32,
}

/// What loading a program needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Entry point, relative to the load base.
    pub entry: u64,
    /// Where the program headers are in memory, relative to the load base (`AT_PHDR`).
    pub phdr_vaddr: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u16,
    /// The loadable segments.
    pub segments: alloc::vec::Vec<Segment>,
    /// Bytes of address space from base 0 to the end of the last segment, whole pages.
    pub span: u64,
    /// Stack size the program asks for (`PT_GNU_STACK`'s `p_memsz`), if any.
    pub stack_size: Option<u64>,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, ElfError> {
    let s = b.get(off..off + 2).ok_or(ElfError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, ElfError> {
    let s = b.get(off..off + 4).ok_or(ElfError::Truncated)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Ok(u32::from_le_bytes(a))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, ElfError> {
    let s = b.get(off..off + 8).ok_or(ElfError::Truncated)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

/// Reads and checks the headers of `file`.
pub fn parse(file: &[u8]) -> Result<Program, ElfError> {
    if file.len() < 64 {
        return Err(if file.starts_with(b"\x7fELF") || file.len() < 4 {
            ElfError::Truncated
        } else {
            ElfError::NotElf
        });
    }
    if &file[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    // ELFCLASS64, ELFDATA2LSB, EM_X86_64.
    if file[4] != 2 || file[5] != 1 || u16_at(file, 18)? != 62 {
        return Err(ElfError::WrongMachine);
    }
    match u16_at(file, 16)? {
        3 => {}
        2 => return Err(ElfError::FixedAddress),
        e_type => return Err(ElfError::NotExecutable { e_type }),
    }
    let entry = u64_at(file, 24)?;
    let phoff = u64_at(file, 32)?;
    let phentsize = u16_at(file, 54)?;
    let phnum = u16_at(file, 56)?;
    if usize::from(phentsize) != PHDR_SIZE {
        return Err(ElfError::BadPhdrSize { size: phentsize });
    }
    let phoff = usize::try_from(phoff).map_err(|_| ElfError::Truncated)?;
    let table_len = usize::from(phnum) * PHDR_SIZE;
    if phoff
        .checked_add(table_len)
        .is_none_or(|end| end > file.len())
    {
        return Err(ElfError::Truncated);
    }
    let mut segments = alloc::vec::Vec::new();
    let mut stack_size = None;
    let mut phdr_vaddr = None;
    let mut span = 0u64;
    for index in 0..usize::from(phnum) {
        let h = phoff + index * PHDR_SIZE;
        let p_type = u32_at(file, h)?;
        let flags = u32_at(file, h + 4)?;
        let offset = u64_at(file, h + 8)?;
        let vaddr = u64_at(file, h + 16)?;
        let filesz = u64_at(file, h + 32)?;
        let memsz = u64_at(file, h + 40)?;
        match p_type {
            PT_INTERP => return Err(ElfError::Dynamic),
            PT_GNU_STACK if memsz > 0 => stack_size = Some(memsz),
            PT_LOAD => {
                let file_end = offset.checked_add(filesz);
                let mem_end = vaddr.checked_add(memsz);
                let bad = file_end.is_none_or(|e| e > file.len() as u64)
                    || memsz < filesz
                    || mem_end.is_none_or(|e| e > 1 << 40);
                if bad {
                    return Err(ElfError::BadSegment { index });
                }
                if flags & PF_W != 0 && flags & PF_X != 0 {
                    return Err(ElfError::WritableCode { index });
                }
                // The program headers are where the segment holding them maps them.
                let ph = phoff as u64;
                if offset <= ph && ph + table_len as u64 <= offset + filesz {
                    phdr_vaddr = Some(vaddr + (ph - offset));
                }
                span = span.max((vaddr + memsz).div_ceil(PAGE) * PAGE);
                segments.push(Segment {
                    offset,
                    vaddr,
                    filesz,
                    memsz,
                    flags,
                });
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NothingToLoad);
    }
    let in_code = segments
        .iter()
        .any(|s| s.flags & PF_X != 0 && (s.vaddr..s.vaddr + s.memsz).contains(&entry));
    if !in_code {
        return Err(ElfError::BadEntry);
    }
    Ok(Program {
        entry,
        phdr_vaddr: phdr_vaddr.ok_or(ElfError::Truncated)?,
        phnum,
        segments,
        span,
        stack_size,
    })
}

/// The program's functions from its symbol table (`.symtab`, if it was not stripped), as
/// the kernel's crash reports read them: one `ADDRESS NAME` line per function, the
/// address as 16 hex digits (`base` + the symbol's value), sorted by address. Empty when
/// there is no symbol table; anything malformed is skipped, never a panic.
pub fn function_table(file: &[u8], base: u64) -> alloc::vec::Vec<u8> {
    let mut funcs: alloc::vec::Vec<(u64, &str)> = alloc::vec::Vec::new();
    let sections = (|| -> Option<()> {
        let shoff = usize::try_from(u64_at(file, 40).ok()?).ok()?;
        let shentsize = usize::from(u16_at(file, 58).ok()?);
        let shnum = usize::from(u16_at(file, 60).ok()?);
        if shentsize != 64 {
            return None;
        }
        let section = |i: usize| -> Option<(u32, usize, usize, usize)> {
            let h = shoff.checked_add(i.checked_mul(64)?)?;
            let ty = u32_at(file, h + 4).ok()?;
            let off = usize::try_from(u64_at(file, h + 24).ok()?).ok()?;
            let size = usize::try_from(u64_at(file, h + 32).ok()?).ok()?;
            let link = usize::try_from(u32_at(file, h + 40).ok()?).ok()?;
            Some((ty, off, size, link))
        };
        for i in 0..shnum {
            let Some((2, off, size, link)) = section(i) else {
                continue;
            };
            let (_, str_off, str_size, _) = section(link)?;
            let strtab = file.get(str_off..str_off.checked_add(str_size)?)?;
            let syms = file.get(off..off.checked_add(size)?)?;
            for sym in syms.chunks_exact(24) {
                let name_off = usize::try_from(u32_at(sym, 0).ok()?).ok()?;
                let is_func = sym[4] & 0xf == 2;
                let value = u64_at(sym, 8).ok()?;
                if !is_func || value == 0 {
                    continue;
                }
                let Some(rest) = strtab.get(name_off..) else {
                    continue;
                };
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                if let Ok(name) = core::str::from_utf8(&rest[..end])
                    && !name.is_empty()
                {
                    funcs.push((base.wrapping_add(value), name));
                }
            }
        }
        Some(())
    })();
    let _ = sections;
    funcs.sort_unstable();
    funcs.dedup_by_key(|f| f.0);
    let mut out = alloc::vec::Vec::new();
    for (addr, name) in funcs {
        out.extend_from_slice(alloc::format!("{addr:016x} {name}\n").as_bytes());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A minimal static-pie: header, `n` program headers, then code.
    fn image(e_type: u16, segs: &[(u32, u32, u64, u64, u64, u64)], entry: u64) -> Vec<u8> {
        let phnum = segs.len();
        let mut f = std::vec![0u8; 64 + phnum * PHDR_SIZE];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[16..18].copy_from_slice(&e_type.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
        for (i, &(t, fl, off, va, fsz, msz)) in segs.iter().enumerate() {
            let h = 64 + i * PHDR_SIZE;
            f[h..h + 4].copy_from_slice(&t.to_le_bytes());
            f[h + 4..h + 8].copy_from_slice(&fl.to_le_bytes());
            f[h + 8..h + 16].copy_from_slice(&off.to_le_bytes());
            f[h + 16..h + 24].copy_from_slice(&va.to_le_bytes());
            f[h + 32..h + 40].copy_from_slice(&fsz.to_le_bytes());
            f[h + 40..h + 48].copy_from_slice(&msz.to_le_bytes());
        }
        f.resize(0x3000, 0xcc);
        f
    }

    const R: u32 = 4;

    #[test]
    fn a_static_pie_parses() {
        let f = image(
            3,
            &[
                (PT_LOAD, R, 0, 0, 0x1000, 0x1000),
                (PT_LOAD, R | PF_X, 0x1000, 0x1000, 0x1000, 0x1000),
                (PT_LOAD, R | PF_W, 0x2000, 0x2e48, 0x100, 0x3000),
                (PT_GNU_STACK, R | PF_W, 0, 0, 0, 0x20000),
            ],
            0x1010,
        );
        let p = parse(&f).unwrap();
        assert_eq!(p.entry, 0x1010);
        assert_eq!(p.phdr_vaddr, 64);
        assert_eq!(p.phnum, 4);
        assert_eq!(p.segments.len(), 3);
        assert_eq!(p.span, 0x6000, "0x2e48 + 0x3000 rounded up to a page");
        assert_eq!(p.stack_size, Some(0x20000));
    }

    #[test]
    fn functions_come_from_the_symbol_table() {
        // Section headers after the image: [null, .symtab, .strtab].
        let mut f = image(3, &[(PT_LOAD, R | PF_X, 0, 0, 0x1000, 0x1000)], 0x10);
        let strtab = b"\0main\0helper\0data\0".to_vec();
        let mut symtab = std::vec![0u8; 24]; // the null symbol
        for (name, info, value) in [
            (1u32, 0x12u8, 0x1100u64),
            (6, 0x12, 0x1040),
            (13, 0x11, 0x2000),
        ] {
            let mut sym = [0u8; 24];
            sym[0..4].copy_from_slice(&name.to_le_bytes());
            sym[4] = info;
            sym[8..16].copy_from_slice(&value.to_le_bytes());
            symtab.extend_from_slice(&sym);
        }
        let sym_off = f.len();
        f.extend_from_slice(&symtab);
        let str_off = f.len();
        f.extend_from_slice(&strtab);
        let sh_off = f.len();
        let mut sh = std::vec![0u8; 64 * 3];
        let mut put = |i: usize, ty: u32, off: usize, size: usize, link: u32| {
            let h = i * 64;
            sh[h + 4..h + 8].copy_from_slice(&ty.to_le_bytes());
            sh[h + 24..h + 32].copy_from_slice(&(off as u64).to_le_bytes());
            sh[h + 32..h + 40].copy_from_slice(&(size as u64).to_le_bytes());
            sh[h + 40..h + 44].copy_from_slice(&link.to_le_bytes());
        };
        put(1, 2, sym_off, symtab.len(), 2);
        put(2, 3, str_off, strtab.len(), 0);
        f.extend_from_slice(&sh);
        f[40..48].copy_from_slice(&(sh_off as u64).to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&3u16.to_le_bytes());
        let t = function_table(&f, 0x40_0000);
        assert_eq!(
            core::str::from_utf8(&t).unwrap(),
            "0000000000401040 helper\n0000000000401100 main\n",
            "functions only, sorted, at the load base"
        );
        // Without section headers, or cut anywhere: an empty or shorter table, no panic.
        assert!(
            function_table(
                &image(3, &[(PT_LOAD, R | PF_X, 0, 0, 0x1000, 0x1000)], 0x10),
                0
            )
            .is_empty()
        );
        for cut in (0..f.len()).step_by(7) {
            let _ = function_table(&f[..cut], 0);
        }
    }

    #[test]
    fn bad_programs_are_errors() {
        let good = [(PT_LOAD, R | PF_X, 0, 0, 0x1000, 0x1000)];
        assert_eq!(parse(&image(2, &good, 0x10)), Err(ElfError::FixedAddress));
        assert_eq!(
            parse(&image(1, &good, 0x10)),
            Err(ElfError::NotExecutable { e_type: 1 })
        );
        assert_eq!(
            parse(&image(3, &[(PT_INTERP, R, 0, 0, 0, 0), good[0]], 0x10)),
            Err(ElfError::Dynamic)
        );
        assert_eq!(
            parse(&image(
                3,
                &[(PT_LOAD, R | PF_W | PF_X, 0, 0, 0x1000, 0x1000)],
                0x10
            )),
            Err(ElfError::WritableCode { index: 0 })
        );
        assert_eq!(
            parse(&image(
                3,
                &[(PT_LOAD, R | PF_X, 0, 0, 0x10_0000, 0x10_0000)],
                0x10
            )),
            Err(ElfError::BadSegment { index: 0 }),
            "file range past the end"
        );
        assert_eq!(
            parse(&image(3, &[(PT_LOAD, R | PF_X, 0, 0, 0x1000, 0x800)], 0x10)),
            Err(ElfError::BadSegment { index: 0 }),
            "memsz < filesz"
        );
        assert_eq!(
            parse(&image(3, &[(PT_LOAD, R, 0, 0, 0x1000, 0x1000)], 0x10)),
            Err(ElfError::BadEntry)
        );
        assert_eq!(parse(&image(3, &[], 0x10)), Err(ElfError::NothingToLoad));
        assert_eq!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert_eq!(parse(b"\x7fELF\x02"), Err(ElfError::Truncated));
        assert_eq!(parse(&[0u8; 100]), Err(ElfError::NotElf));
        let f = image(3, &good, 0x10);
        for cut in 0..200 {
            assert!(parse(&f[..cut]).is_err(), "cut at {cut}");
        }
    }
}
