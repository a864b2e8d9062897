//! The server's peak memory, read from `/proc` for a server running as a
//! child process ([`super::child_server::spawn_server`]), so that no other test's
//! allocations count.

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
