//! The engine's heap: QuickJS allocates through a counting wrapper around the C allocator,
//! so the memory limit is exact and running out of it is known for certain (QuickJS itself
//! sometimes reports it as an ordinary exception).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rquickjs::Runtime;

/// A runtime whose heap is capped at `limit` bytes, and a flag raised when the cap refused
/// an allocation.
#[cfg(target_os = "linux")]
pub(crate) fn new_runtime(limit: usize) -> rquickjs::Result<(Runtime, Arc<AtomicBool>)> {
    let flag = Arc::new(AtomicBool::new(false));
    let rt = Runtime::new_with_alloc(CappedAllocator {
        limit,
        used: 0,
        out_of_memory: flag.clone(),
    })?;
    Ok((rt, flag))
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn new_runtime(limit: usize) -> rquickjs::Result<(Runtime, Arc<AtomicBool>)> {
    let rt = Runtime::new()?;
    rt.set_memory_limit(limit);
    Ok((rt, Arc::new(AtomicBool::new(false))))
}

/// The C allocator, counting live bytes and refusing past the limit.
#[cfg(target_os = "linux")]
struct CappedAllocator {
    limit: usize,
    used: usize,
    out_of_memory: Arc<AtomicBool>,
}

#[cfg(target_os = "linux")]
impl CappedAllocator {
    fn refuse(&self) -> *mut u8 {
        self.out_of_memory.store(true, Ordering::Relaxed);
        std::ptr::null_mut()
    }

    fn fits(&self, extra: usize) -> bool {
        self.used
            .checked_add(extra)
            .is_some_and(|n| n <= self.limit)
    }
}

// SAFETY: every pointer comes from the C allocator (`malloc`/`calloc`/`realloc`), which
// aligns to at least 16 bytes, and `usable_size` asks that allocator.
#[cfg(target_os = "linux")]
unsafe impl rquickjs::allocator::Allocator for CappedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.fits(size) {
            return self.refuse();
        }
        // SAFETY: plain C allocation.
        let ptr = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by malloc.
            self.used += unsafe { libc::malloc_usable_size(ptr.cast()) };
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return self.refuse();
        };
        if !self.fits(total) {
            return self.refuse();
        }
        // SAFETY: plain C allocation.
        let ptr = unsafe { libc::calloc(count.max(1), size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by calloc.
            self.used += unsafe { libc::malloc_usable_size(ptr.cast()) };
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller passes a pointer from this allocator.
        unsafe {
            self.used = self
                .used
                .saturating_sub(libc::malloc_usable_size(ptr.cast()));
            libc::free(ptr.cast());
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: the caller passes a pointer from this allocator.
        let old = unsafe { libc::malloc_usable_size(ptr.cast()) };
        if new_size > old && !self.fits(new_size - old) {
            return self.refuse();
        }
        // SAFETY: as above; on failure the old block stays valid and counted.
        let new = unsafe { libc::realloc(ptr.cast(), new_size.max(1)) }.cast::<u8>();
        if !new.is_null() {
            // SAFETY: `new` was just returned by realloc.
            self.used =
                self.used.saturating_sub(old) + unsafe { libc::malloc_usable_size(new.cast()) };
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a pointer from this allocator.
        unsafe { libc::malloc_usable_size(ptr.cast()) }
    }
}
