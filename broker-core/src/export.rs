//! JSON export of log records. STUB: owned by the log work.
