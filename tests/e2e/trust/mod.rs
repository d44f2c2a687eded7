//! Trust: an acknowledged change is on disk, no web page can drive the daemon, storage faults
//! stop it cleanly, and nothing a program prints or a client opens can take its memory.

mod bounds;
mod browser_threats;
mod fail_stop;
mod strace;
