//! One partition: log + trigger engine, as the relay drives it. STUB: owned by the log work.
