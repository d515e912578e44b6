#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Without `std` (the browser SDK's build) only the events and the frame
// codec remain, and they need no more than `alloc`: the SDK's wasm then
// links no std, so its own panic handler replaces std's formatting one.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

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
pub mod trigger;

pub use event::{Event, EventKind, Map, Value};
#[cfg(feature = "std")]
pub use storage::{MemoryStorage, Storage, StorageError, WriteBatch};
