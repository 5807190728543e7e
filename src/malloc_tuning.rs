//! glibc's allocator, bounded to two arenas a core.
//!
//! glibc gives a thread that finds the arenas busy an arena of its own, up to eight a
//! core, and an arena keeps what it once held: the service's threads (the runtime's, the
//! API's and one per SQLite connection) each grew their own, and a 100k import peaked at
//! 116–122 MiB against the 120 MB target. With two a core it peaked at 105–108 MiB on
//! 2 cores, no slower beyond the machine's drift; one a core (95–97 MiB) made the import
//! 10–15% slower on arena locks.
//! `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES=glibc.malloc.arena_max=...`, when set, is left to
//! decide.

/// Sets glibc's arena limit unless the environment does; call before threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("arena_max"))
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = i32::try_from(cores * 2).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes the allocator's settings; called before any other
        // thread exists, so no allocation races with it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
