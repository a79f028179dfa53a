//! The test binary's global allocator: the system's, counting the allocations a scope on
//! one thread makes, and the largest of them ([`watch`]).
//!
//! Only the watched thread is counted, so tests running in parallel do not disturb the
//! numbers; code measured this way must allocate on the calling thread (the loaders do:
//! the window runs them on a thread of their own, which here is the test's).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What a watched scope allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Allocations {
    /// Number of allocations (and reallocations).
    pub(crate) count: usize,
    /// The largest single request, in bytes.
    pub(crate) largest: usize,
    /// The most bytes held at once by what the scope allocated (allocations minus the
    /// frees of them on the watched thread).
    pub(crate) peak: usize,
}

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static SEEN: Cell<Allocations> = const { Cell::new(Allocations { count: 0, largest: 0, peak: 0 }) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Runs `f` on this thread and returns what it allocated on this thread.
pub(crate) fn watch<R>(f: impl FnOnce() -> R) -> (R, Allocations) {
    SEEN.with(|s| s.set(Allocations::default()));
    LIVE.with(|l| l.set(0));
    WATCHING.with(|w| w.set(true));
    let result = f();
    WATCHING.with(|w| w.set(false));
    (result, SEEN.with(Cell::get))
}

/// Notes a request of `size` bytes, which changes the bytes held by `change`, if this
/// thread is watched. Allocation-free: the thread-locals are `const`-initialised `Cell`s
/// without destructors.
fn record(size: usize, change: isize) {
    let watching = WATCHING.try_with(Cell::get).unwrap_or(false);
    if watching {
        let live = LIVE.try_with(|l| {
            l.set(l.get() + change);
            l.get()
        });
        let _ = SEEN.try_with(|s| {
            let seen = s.get();
            s.set(Allocations {
                count: seen.count + usize::from(size > 0),
                largest: seen.largest.max(size),
                peak: seen.peak.max(live.unwrap_or(0).max(0) as usize),
            });
        });
    }
}

/// The system allocator, with [`record`] on every request.
pub(crate) struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; `record` only reads and writes two thread-local `Cell`s and
// never allocates, so it cannot re-enter the allocator.
#[allow(
    unsafe_code,
    reason = "a GlobalAlloc impl is unsafe by definition; it only forwards"
)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), layout.size() as isize);
        // SAFETY: the caller's `layout` is passed on as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), layout.size() as isize);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a move: the new block is held while the old one still is.
        record(new_size, new_size as isize);
        record(0, -(layout.size() as isize));
        // SAFETY: `ptr` came from this allocator (i.e. `System`) with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(0, -(layout.size() as isize));
        // SAFETY: `ptr` came from this allocator (i.e. `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn the_allocator_sees_a_large_request_and_nothing_from_other_threads() {
    let (v, seen) = watch(|| vec![1u8; 48 << 20]);
    assert_eq!(v.len(), 48 << 20);
    assert_eq!(seen.largest, 48 << 20);
    assert!(seen.count >= 1);
    let (_, other) = watch(|| std::thread::spawn(|| vec![0u8; 64 << 20].len()).join().unwrap());
    assert!(other.largest < 1 << 20, "{other:?}");
}
