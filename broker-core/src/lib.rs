#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod corpus;
pub mod event;
pub mod export;
pub mod frame;
pub mod log;
pub mod partition;
pub mod storage;
pub mod trigger;

pub use event::{Event, EventKind, Map, Value};
pub use storage::{MemoryStorage, Storage, StorageError, WriteBatch};
