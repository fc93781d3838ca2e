//! glibc malloc settings for a long-lived process whose memory is mostly one cache.
//!
//! Measured on `make bench BENCH_ONLY=scale BENCH_SCALE=10000` (a fresh process on 10,000
//! objects; BENCHMARKS.md): glibc's defaults give each thread that meets contention an arena
//! of its own, and raise the mmap threshold after every large free, so the buffers of list
//! pages and scrapes end up inside the heap, as holes. One arena and a fixed threshold took the
//! peak RSS from 77–82 to 68 MiB; the heap itself (heaptrack) is 43.7 MB. A `malloc_trim` once
//! a minute ([`trim_every`]) hands free pages back after a burst.
//!
//! `GLIBC_TUNABLES` with a `glibc.malloc.` setting, or `MALLOC_ARENA_MAX`, in the environment
//! leave glibc as configured.

/// One arena for every thread: the operator does little allocation at a time, on two workers.
const ARENA_MAX: i32 = 1;
/// Allocations from this size on are mapped (and unmapped when freed) rather than carved out of
/// the heap; fixed, where glibc would raise it after each large free.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Whether the environment leaves malloc to us.
pub(crate) fn ours(tunables: Option<&str>, arena_max: Option<&str>) -> bool {
    arena_max.is_none() && !tunables.is_some_and(|t| t.contains("glibc.malloc."))
}

/// Apply the settings, before any thread starts.
pub fn configure() {
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    let arena = std::env::var("MALLOC_ARENA_MAX").ok();
    if ours(tunables.as_deref(), arena.as_deref()) {
        imp::configure(ARENA_MAX, MMAP_THRESHOLD);
    }
}

/// Every `period`, give free memory at the top and in the middle of the heap back to the
/// system (what a burst or a relist left free).
pub async fn trim_every(period: std::time::Duration) {
    loop {
        tokio::time::sleep(period).await;
        imp::trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub(super) fn configure(arena_max: i32, mmap_threshold: i32) {
        // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
        // It refuses only values out of range, which these are not.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arena_max);
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap_threshold);
        }
    }

    pub(super) fn trim() {
        // SAFETY: malloc_trim only releases free pages; it takes the allocator's own locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn configure(_: i32, _: i32) {}

    pub(super) fn trim() {}
}

#[cfg(test)]
mod tests {
    use super::ours;

    #[test]
    fn settings_in_the_environment_win() {
        let cases = [
            (None, None, true),
            (Some("glibc.rtld.optional_static_tls=512"), None, true),
            (Some("glibc.malloc.arena_max=4"), None, false),
            (Some("glibc.rtld.x=1:glibc.malloc.trim_threshold=0"), None, false),
            (None, Some("2"), false),
        ];
        for (tunables, arena, want) in cases {
            assert_eq!(ours(tunables, arena), want, "{tunables:?} {arena:?}");
        }
    }
}
