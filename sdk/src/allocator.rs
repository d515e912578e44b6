//! A small allocator for the wasm build: power-of-two size classes with a
//! free list each, carved from `memory.grow`. dlmalloc (std's default on
//! wasm32) is about 8 KB of code, a quarter of the module; this is a few
//! hundred bytes. The SDK's allocations are small and short-lived (event
//! properties, frames up to 64 KB), so rounding up to a power of two costs a
//! little memory and never fragments badly. Memory is reused, never returned
//! to the browser, which wasm cannot do anyway.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

const PAGE: usize = 65_536;
const CLASSES: usize = usize::BITS as usize;

/// The allocator; one instance is the `#[global_allocator]` of the wasm build.
pub struct SizeClasses {
    state: UnsafeCell<State>,
}

struct State {
    /// Head of the free list per class (block size `1 << class`); 0 = empty.
    free: [usize; CLASSES],
    /// Next unused byte of the region taken from `memory.grow`.
    next: usize,
    /// End of memory.
    end: usize,
}

// Safety: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    /// An allocator that has taken no memory yet.
    pub const fn new() -> SizeClasses {
        SizeClasses {
            state: UnsafeCell::new(State {
                free: [0; CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        SizeClasses::new()
    }
}

/// The class of a layout: blocks are `1 << class` bytes, at least a pointer,
/// and at least the alignment, so a block aligned to its size serves any
/// layout of its class.
fn class(layout: &Layout) -> usize {
    let size = layout
        .size()
        .max(layout.align())
        .max(core::mem::size_of::<usize>());
    size.next_power_of_two().trailing_zeros() as usize
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = &mut *self.state.get();
        let k = class(&layout);
        if k >= CLASSES - 1 {
            return core::ptr::null_mut();
        }
        let head = s.free[k];
        if head != 0 {
            s.free[k] = *(head as *const usize);
            return head as *mut u8;
        }
        if s.end == 0 {
            // Start above everything the module already uses (data, stack).
            s.end = core::arch::wasm32::memory_size(0) * PAGE;
            s.next = s.end;
        }
        let size = 1usize << k;
        let align = size.min(PAGE);
        let start = (s.next + align - 1) & !(align - 1);
        let Some(stop) = start.checked_add(size) else {
            return core::ptr::null_mut();
        };
        if stop > s.end {
            let pages = (stop - s.end).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return core::ptr::null_mut();
            }
            s.end += pages * PAGE;
        }
        s.next = stop;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let s = &mut *self.state.get();
        // Always some (`alloc` gave out a block of this class); `get_mut`
        // keeps a bounds-check panic and its message out of the module.
        if let Some(head) = s.free.get_mut(class(&layout)) {
            *(ptr as *mut usize) = *head;
            *head = ptr as usize;
        }
    }

    // No `realloc` of its own: the default (alloc, copy, dealloc) is what
    // a growing Vec needs (it at least doubles, so its block's class always
    // changes), and a same-class shortcut cost 29 bytes of the gzipped module.
}
