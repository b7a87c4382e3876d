//! Starting a program: load its segments into fresh pages, make its code executable (and
//! nothing else), give it a thread with a large stack that keeps its whole FPU state,
//! write its first stack there and jump to its entry point in PV user mode.

use crate::elf::{self, ElfError, PF_W, PF_X};
use crate::initstack::{self, Start};
use alloc::vec::Vec;
use core::fmt;
use kernel::sched;

/// Where the program is: `[start, end)`.
pub(crate) static PROGRAM: spin::Once<(u64, u64)> = spin::Once::new();

/// Stack of the program's first thread when it asks for none (`PT_GNU_STACK`), in pages.
const DEFAULT_STACK_PAGES: usize = 256;
/// Room left between the Rust frames and the program's first stack.
const STACK_GAP: u64 = 4096;

/// Why a program could not be started.
#[derive(Debug)]
pub enum ExecError {
    /// The file is not a program we can run.
    Elf(ElfError),
    /// A code page would also hold writable data (W^X).
    SharedPage {
        /// The page's offset in the program.
        page: u64,
    },
    /// No memory for it (pages wanted).
    NoMemory {
        /// Pages.
        pages: usize,
    },
    /// Its code could not be made executable.
    Protect,
    /// No thread for it.
    Thread,
    /// The file tree could not be set up.
    Tree(crate::fs::TreeError),
    /// The program's path names nothing runnable in the tree.
    NotFound {
        /// The path.
        path: alloc::string::String,
        /// Why.
        why: crate::errno::Errno,
    },
}

/// The program to run.
#[derive(Debug, Clone, Copy)]
pub enum Program<'a> {
    /// A static-pie in memory (built into the image, or the domain's ramdisk).
    Elf(&'a [u8]),
    /// A static-pie at this path of the file tree.
    Path(&'a str),
}

/// The program's arguments (`/proc/self/cmdline`).
static ARGS: spin::Once<Vec<alloc::string::String>> = spin::Once::new();

/// The program's arguments, `argv[0]` first.
pub(crate) fn args() -> &'static [alloc::string::String] {
    ARGS.get().map_or(&[], Vec::as_slice)
}

/// Reads the file at `path` of the tree.
fn read_program(path: &str) -> Result<Vec<u8>, ExecError> {
    let fail = |why: crate::errno::Errno| ExecError::NotFound {
        path: alloc::string::String::from(path),
        why,
    };
    let mut v = crate::fs::vfs_lock();
    let root = v.root();
    let node = v
        .resolve(root, path.as_bytes(), true)
        .map_err(|e| fail(e.into()))?;
    let st = v.stat(node).map_err(|e| fail(e.into()))?;
    if st.kind != vfs::FileType::Regular {
        return Err(fail(crate::errno::Errno::EACCES));
    }
    let len = usize::try_from(st.size).map_err(|_| fail(crate::errno::Errno::EFBIG))?;
    let mut buf = crate::user::buffer(len).map_err(|_| ExecError::NoMemory {
        pages: len.div_ceil(4096),
    })?;
    let mut at = 0;
    while at < len {
        let n = v
            .read(node, at as u64, buf.get_mut(at..).unwrap_or_default())
            .map_err(|e| fail(e.into()))?;
        if n == 0 {
            break;
        }
        at += n;
    }
    buf.truncate(at);
    Ok(buf)
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Elf(e) => write!(f, "{e}"),
            ExecError::SharedPage { page } => write!(
                f,
                "page {page:#x} holds both code and writable data (link with -z separate-code)"
            ),
            ExecError::NoMemory { pages } => write!(f, "no memory for {pages} pages"),
            ExecError::Protect => write!(f, "its code could not be made executable"),
            ExecError::Thread => write!(f, "no thread for it"),
            ExecError::Tree(e) => write!(f, "the file tree: {e}"),
            ExecError::NotFound { path, why } => write!(f, "{path}: {why}"),
        }
    }
}

/// Pages (offsets from the base, page numbers) a segment covers.
fn pages_of(s: &elf::Segment) -> core::ops::Range<u64> {
    (s.vaddr / 4096)..(s.vaddr + s.memsz).div_ceil(4096)
}

/// Loads `file` into fresh memory: its base address and what the headers said.
fn load(file: &[u8]) -> Result<(u64, elf::Program), ExecError> {
    let prog = elf::parse(file).map_err(ExecError::Elf)?;
    for code in prog.segments.iter().filter(|s| s.flags & PF_X != 0) {
        for data in prog.segments.iter().filter(|s| s.flags & PF_W != 0) {
            let (c, d) = (pages_of(code), pages_of(data));
            if c.start < d.end && d.start < c.end {
                return Err(ExecError::SharedPage {
                    page: c.start.max(d.start) * 4096,
                });
            }
        }
    }
    let pages = usize::try_from(prog.span / 4096).unwrap_or(usize::MAX);
    let base = kernel::mm::alloc_pages(pages).map_err(|_| ExecError::NoMemory { pages })?;
    for s in &prog.segments {
        let from = usize::try_from(s.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(s.filesz).unwrap_or(usize::MAX);
        // parse() checked the file range; the pages are zeroed, so the rest of memsz is.
        let data = file.get(from..from.saturating_add(len)).unwrap_or_default();
        crate::user::write(base + s.vaddr, data).map_err(|_| ExecError::NoMemory { pages })?;
    }
    PROGRAM.call_once(|| (base, base + prog.span));
    // Its function names, for crash reports in its code.
    let table = alloc::vec::Vec::leak(elf::function_table(file, base));
    kernel::symbols::set_foreign(base, base + prog.span, table);
    for s in prog.segments.iter().filter(|s| s.flags & PF_X != 0) {
        let r = pages_of(s);
        kernel::mm::make_code(base + r.start * 4096, (r.end - r.start) as usize)
            .map_err(|_| ExecError::Protect)?;
    }
    Ok((base, prog))
}

/// Sets up the file tree `tree`, then starts `program` (a static-pie musl program) with
/// `args` (`args[0]` is its name) in a new thread named after it, and ends the calling
/// thread: the program ends the domain (`exit`), so this returns only an error.
pub fn run(program: Program<'_>, args: &[&str], tree: &crate::fs::TreeConfig<'_>) -> ExecError {
    kernel::syscall::set_handler(crate::sys::handle);
    if let Err(e) = crate::fs::init(tree) {
        return ExecError::Tree(e);
    }
    crate::fd::init_console();
    ARGS.call_once(|| {
        args.iter()
            .map(|a| alloc::string::String::from(*a))
            .collect()
    });
    let mut owned_file = Vec::new();
    let file = match program {
        Program::Elf(f) => f,
        Program::Path(p) => match read_program(p) {
            Ok(f) => {
                owned_file = f;
                owned_file.as_slice()
            }
            Err(e) => return e,
        },
    };
    let (base, prog) = match load(file) {
        Ok(l) => l,
        Err(e) => return e,
    };
    // The copy read from the tree is not needed once its segments are loaded.
    drop(owned_file);
    let stack_pages = prog
        .stack_size
        .map_or(DEFAULT_STACK_PAGES, |s| {
            usize::try_from(s.div_ceil(4096)).unwrap_or(0)
        })
        .max(DEFAULT_STACK_PAGES);
    crate::process::set_stack_size(stack_pages as u64 * 4096);
    let name = args.first().copied().unwrap_or("program");
    let owned: Vec<alloc::string::String> = args
        .iter()
        .map(|a| alloc::string::String::from(*a))
        .collect();
    let started = sched::Builder::new(name)
        .stack_pages(stack_pages)
        .spawn(move || start(base, &prog, &owned));
    match started {
        // The program ends the domain (exit_group, or its last thread's exit); this thread
        // has nothing more to do.
        Ok(_) => sched::exit(),
        Err(_) => ExecError::Thread,
    }
}

/// The program's first thread: its stack, its FPU state, its entry.
fn start(base: u64, prog: &elf::Program, args: &[alloc::string::String]) -> ! {
    sched::keep_fpu_state();
    crate::sig::init(crate::thread::tid());
    let argv: Vec<&str> = args.iter().map(alloc::string::String::as_str).collect();
    let start = Start {
        args: &argv,
        env: &[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/",
            "TERM=vt100",
        ],
        phdr: base + prog.phdr_vaddr,
        phnum: u64::from(prog.phnum),
        entry: base + prog.entry,
        random: crate::sys::random_bytes(),
    };
    let top = (kernel::arch::x86_64::stack_pointer() - STACK_GAP) & !15;
    let image = initstack::build(&start, top);
    let sp = top - image.len() as u64;
    if let Err(e) = crate::user::write(sp, &image) {
        panic!("libc-shim: writing the first stack: {e:?}");
    }
    log::debug!(
        "starting {} at {:#x} (base {base:#x})",
        argv.first().unwrap_or(&"?"),
        start.entry
    );
    // SAFETY: the entry point is in the program's code, loaded and made executable by
    // `load`; `sp` is 16-byte aligned, below this frame in this thread's own stack, and
    // the program's first stack was just written there.
    unsafe { kernel::arch::x86_64::switch::enter_program(start.entry, sp) }
}
