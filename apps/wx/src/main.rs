//! wx: code is not writable and data is not executable, at run time too.
//!
//! Command line `write-code` stores into the app's own code; `run-data` jumps into a
//! buffer on the stack holding a `ret`. Either must end in a page-fault report (write to
//! a read-only page; instruction fetch from a no-execute page) and a crash shutdown.
#![no_std]
#![no_main]

kernel::main!(main);

fn main() {
    let cmdline = kernel::boot_info().cmdline();
    match cmdline {
        "write-code" => {
            let target = main as *const () as *mut u8;
            kernel::println!("wx: writing into code at {target:p}");
            // SAFETY: none: this store is the fault the test exists to cause; the page
            // holds code and must be mapped read-only.
            unsafe { target.write_volatile(0xc3) };
        }
        "run-data" => {
            let code = core::hint::black_box([0xc3u8; 16]);
            kernel::println!("wx: calling into data at {:p}", code.as_ptr());
            // SAFETY: none: calling into a stack buffer is the fault the test exists to
            // cause; the stack must be mapped no-execute. The buffer holds `ret`, so a
            // kernel without NX would return here and print the line below.
            let f: extern "C" fn() = unsafe { core::mem::transmute(code.as_ptr()) };
            f();
        }
        other => {
            kernel::println!("wx: bad command line '{other}': expected write-code or run-data");
            return;
        }
    }
    kernel::println!("wx: survived: W^X is not enforced");
}
