//! Memory advice for the big lookup tables (flow tables, address group tables).
//!
//! At a million flows or prefixes every update or lookup lands on a random page of a table
//! of megabytes; with 4 KiB pages each would also miss the TLB, so such tables ask the
//! kernel for transparent huge pages. One function, so the advice and its safety argument
//! live in one place.

/// Ask for transparent huge pages under a large, still untouched vector's capacity (the
/// advice applies when the pages are first written). Advice only: refused, or on other
/// systems, nothing changes.
pub fn advise_huge_pages<E>(v: &Vec<E>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<E>();
        if bytes >= 2 * HUGE {
            let start = v.as_ptr() as usize;
            let aligned = start.next_multiple_of(PAGE);
            let len = (start + bytes - aligned) / PAGE * PAGE;
            // SAFETY: [aligned, aligned + len) lies inside `v`'s live allocation (its
            // capacity), is page-aligned as madvise requires, and MADV_HUGEPAGE neither
            // changes contents nor unmaps anything; the result is deliberately ignored.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}
