#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Without `std` (the browser SDK's build) only the events and the frame
// codec remain, and they need no more than `alloc`: the SDK's wasm then
// links no std, so its own panic handler replaces std's formatting one.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// `Display` as `path: message`, for whatever reports a place in a JSON
/// document: the validators' errors and the lint's warnings alike.
#[cfg(feature = "std")]
macro_rules! path_display {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}: {}", self.path, self.message)
            }
        }
    };
}

/// `Display` and `Error` for a file validator's error (`path: message`) and
/// its list of every error (one per line): trigger files and plans alike.
#[cfg(feature = "std")]
macro_rules! path_errors {
    ($one:ty, $all:ty) => {
        path_display!($one);

        impl std::error::Error for $one {}

        impl std::fmt::Display for $all {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for (i, e) in self.errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }

        impl std::error::Error for $all {}
    };
}

#[cfg(feature = "archive")]
pub mod archive;
#[cfg(feature = "std")]
pub mod backtest;
#[cfg(feature = "std")]
pub mod catalog;
#[cfg(feature = "std")]
pub mod context;
#[cfg(feature = "std")]
pub mod corpus;
pub mod event;
#[cfg(feature = "std")]
pub mod export;
pub mod frame;
#[cfg(feature = "std")]
pub mod log;
#[cfg(feature = "std")]
pub mod partition;
#[cfg(feature = "std")]
pub mod plan;
#[cfg(feature = "std")]
pub mod stats;
#[cfg(feature = "std")]
pub mod storage;
#[cfg(feature = "std")]
pub mod time;
#[cfg(feature = "std")]
pub mod trigger;
#[cfg(feature = "std")]
mod walk;

pub use event::{Event, EventKind, Map, Value};
#[cfg(feature = "std")]
pub use storage::{MemoryStorage, Storage, StorageError, WriteBatch};
