//! The process's heap under glibc's malloc, which a node's shape defeats by default: one
//! arena per thread that ever allocated (tokio workers, blocking threads, the index writer),
//! each keeping what it once held, and a start-up that frees much of what it read (the
//! store's page cache churning through a full scan, decoded records). At 100k courses that
//! was ~180 MB of resident memory holding nothing. Two arenas, and freed memory handed back
//! once the index is open, keep the node's resident memory close to what it uses.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// `M_ARENA_MAX` from glibc's `malloc.h`.
    const M_ARENA_MAX: i32 = -8;

    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
        fn malloc_trim(pad: usize) -> i32;
    }

    pub fn limit_arenas(n: i32) {
        // SAFETY: `mallopt` only sets an allocator parameter; it is called before the runtime
        // starts its threads.
        unsafe {
            mallopt(M_ARENA_MAX, n);
        }
    }

    pub fn trim() {
        // SAFETY: `malloc_trim` returns free memory to the kernel; it touches no live block.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// At most two malloc arenas for the process; call before any thread is started.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::limit_arenas(2);
}

/// Hands memory freed so far back to the kernel (after start-up's scan of the store).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::trim();
}
