//! The partitioned append-only log. STUB: owned by the log work.
