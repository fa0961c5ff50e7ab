//! The `prospectus` binary. Deliberately thin: everything lives in `prospectus-cli`, except the
//! choice of allocator, which is the binary's to make.
//!
//! Why jemalloc and not glibc's malloc: a node frees most of what a large publish or a
//! start-up scan allocates (decoded batches, the store's page cache churning, replaced
//! entries), interleaved with what it keeps, and glibc's arenas keep that memory resident:
//! republishing 100k courses left 550 MB resident for 378 MB in use even after
//! `malloc_trim`. jemalloc returns freed pages by itself: a background thread purges dirty
//! pages after a second (`dirty_decay_ms`) and hands them straight back (`muzzy_decay_ms:0`,
//! no lazy-free middle state that still counts as resident). An operator can override any of
//! it at run time with `_RJEM_MALLOC_CONF`.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (the C global `malloc_conf`, prefixed as the
/// `tikv-jemalloc-sys` build names it).
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: Option<&'static std::ffi::c_char> = Some(
    // SAFETY: the literal is 'static and NUL-terminated; jemalloc only reads it.
    unsafe { &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() },
);

fn main() -> std::process::ExitCode {
    prospectus_cli::main()
}
