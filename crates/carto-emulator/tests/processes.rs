//! The emulator binary as a child process, stopped with SIGKILL mid-work and started again
//! on the same data: a binary of its own.

mod crash;
mod restart;
mod soak;
