//! echo: reads console input a line at a time and prints each line back; `quit` ends it
//! (the domain powers off).
#![no_std]
#![no_main]

kernel::main!(main);

fn main() {
    kernel::println!("echo: ready");
    loop {
        match kernel::drivers::console::read_line(1024) {
            Ok(line) if line == "quit" => {
                kernel::println!("echo: bye");
                return;
            }
            Ok(line) => kernel::println!("echo: {line}"),
            Err(e) => panic!("echo: console input: {e}"),
        }
    }
}
