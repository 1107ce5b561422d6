//! Raw syscall wrappers: the one place that calls into the kernel without nix.
pub mod validate;
