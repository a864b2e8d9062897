//! The `hostile` group: what an attacker holding a valid account at another
//! facility, or only a modality's AE title, or nothing at all, can send, and
//! what the server must answer: a clear refusal, nothing changed, nothing
//! read past the caller's reach, and a bounded cost.
//!
//! Tests that measure the server's memory run it as a child process
//! ([`crate::durability::spawn_server`]) and read its peak resident size
//! with [`peak_rss`], so that no other test's allocations count.

mod attach;
mod connections;
mod images;
mod login;
mod ops;
mod parsing;
mod sessions;
mod smaller;
mod stow;

/// The most memory the server may hold at any point of this group.
pub const MEMORY_CEILING: u64 = 1024 * 1024 * 1024;

/// The peak resident set size of process `pid` in bytes (`VmHWM` in
/// `/proc/<pid>/status`).
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the server process's status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line");
    kib * 1024
}

/// Asserts that the server process `pid` never held more than
/// [`MEMORY_CEILING`].
pub fn assert_under_ceiling(pid: u32, after: &str) {
    let peak = peak_rss(pid);
    assert!(
        peak < MEMORY_CEILING,
        "the server peaked at {} MiB after {after}",
        peak / (1024 * 1024)
    );
}
