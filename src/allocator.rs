//! The binaries' allocator settings: mimalloc, told to keep the memory it frees.
//!
//! Volume pipelines and CPU training allocate and free buffers of tens to hundreds of MB per item
//! or layer. By default mimalloc (v3) hands freed memory back to the OS after a second, so a
//! buffer freed in one training step is page-faulted and zeroed by the kernel again in the next:
//! ~430 000 page faults in a full-size UNETR benchmark on CPU and about a third of its wall time
//! (`perf stat`, docs/BENCHMARKS.md).
//! Never purging keeps a process at its peak footprint, which a training run reaches every step
//! anyway.

/// mimalloc's `mi_option_purge_delay` (the same index in mimalloc v2 and v3, `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Stop mimalloc from returning freed memory to the OS. Call first thing in `main`, before any
/// other thread exists (mimalloc's option setter is not thread safe).
pub fn keep_freed_memory() {
    // SAFETY: sets one integer option of the allocator, before other threads start.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_the_purge_delay() {
        // SAFETY: reads and sets an integer option; no other test touches mimalloc's options.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "mimalloc v3's purge delay defaults to 1000 ms: is index 15 still it?"
        );
        keep_freed_memory();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
