//! Architecture support. Only x86_64 PV exists.

pub mod x86_64;
