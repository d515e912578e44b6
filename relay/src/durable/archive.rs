//! The archive: each partition writes its streams to the `ARCHIVE` R2
//! bucket as Parquet, in offset order, exactly once, from its alarm.
//!
//! A segment (see [`broker_core::archive`]) starts at the archive position
//! stored in SQLite. When it is closed (its receive-time interval is over,
//! or it reached a size bound) it is encoded and written with a
//! create-only put (`onlyIf: {etagDoesNotMatch: "*"}`) under a key made of
//! its offsets; only then does the position move. A retry after a failure
//! between the two writes the same key: the put is refused, the object's
//! metadata (offsets, rows, SHA-256) is compared, and if equal the segment
//! counts as written. If not, archiving of this partition stops (never an
//! overwrite) and `/v1/partitions` reports why in `archive.error`.
//!
//! Retention (in the core) deletes only batches below the position, so an
//! archive that falls behind holds data back rather than losing it.

use super::Partition;
use crate::config::{vars, Config};
use crate::error::{RelayError, Result};
use crate::sql::SqlStore;
use broker_core::archive::{Segment, SegmentPolicy, Table, MAX_SEGMENT_ROWS, SCHEMA_VERSION};
use broker_core::log::{Log, Stream};
use broker_core::partition::PartitionError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use worker::{Bucket, Conditional};

/// Why archiving stopped on this partition (relay_meta), if it did.
const META_ERROR: &str = "archive_error";

/// How many failures the test hook below injected (relay_meta).
const META_TEST_FAILURES: &str = "archive_test_failures";

/// Test hook, unset in production: `once` fails the first segment write
/// once, `always` every one, after the put and before the position moves
/// (the crash the create-only put exists for). `/v1/partitions` then counts
/// them in `archive.injected_failures`.
const TEST_FAIL_AFTER_PUT: &str = "ARCHIVE_TEST_FAIL_AFTER_PUT";

/// Most segments one alarm writes per stream; more left sets the alarm
/// again at once, so that one alarm stays short.
const MAX_SEGMENTS_PER_ALARM: usize = 4;

/// Records and stored bytes per read while gathering a segment.
const PAGE_RECORDS: usize = 1_000;
const PAGE_BYTES: usize = 1 << 20;

/// What one archive step did.
#[derive(Debug, Default)]
pub(super) struct ArchiveStep {
    /// Closed segments are left: run again now.
    pub more: bool,
}

fn policy(config: &Config) -> Result<SegmentPolicy> {
    SegmentPolicy::with_interval(config.archive_interval_ms).map_err(|reason| RelayError::Config {
        name: vars::ARCHIVE_INTERVAL_MS,
        reason,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Partition {
    /// Writes the closed segments of both streams (at most
    /// [`MAX_SEGMENTS_PER_ALARM`] each). Nothing without an `ARCHIVE`
    /// binding or after archiving stopped.
    pub(super) async fn archive(&self, store: &SqlStore, now: u64) -> Result<ArchiveStep> {
        let mut step = ArchiveStep::default();
        let config = self.config()?;
        if !config.archive
            || store
                .meta(META_ERROR)
                .map_err(PartitionError::from)?
                .is_some()
        {
            return Ok(step);
        }
        let bucket = self.env.bucket(vars::ARCHIVE)?;
        let policy = policy(&config)?;
        for stream in [Stream::Events, Stream::Firings] {
            for written in 0.. {
                // Three reads say whether a segment can be closed; without
                // them every alarm would gather (and encode) the open
                // segment, up to an hour of records, only to leave it.
                if !self.due(store, stream, policy, now)? {
                    break;
                }
                let (segment, table) = self.gather(store, stream, policy)?;
                if !segment.is_closed(now) {
                    break;
                }
                if written == MAX_SEGMENTS_PER_ALARM {
                    step.more = true;
                    break;
                }
                if !self
                    .write_segment(store, &bucket, stream, &segment, &table)
                    .await?
                {
                    return Ok(step);
                }
            }
        }
        Ok(step)
    }

    /// When the archive next has work: now if a segment is surely closed
    /// by size, else the end of the interval of the oldest unarchived
    /// record; `None` without an archive or with nothing to write. Three
    /// reads per stream.
    pub(super) fn archive_deadline(&self, store: &SqlStore, now: u64) -> Result<Option<u64>> {
        let config = self.config()?;
        if !config.archive
            || store
                .meta(META_ERROR)
                .map_err(PartitionError::from)?
                .is_some()
        {
            return Ok(None);
        }
        let policy = policy(&config)?;
        let mut next: Option<u64> = None;
        for stream in [Stream::Events, Stream::Firings] {
            if let Some(due) = self.due_at(store, stream, policy, now)? {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        Ok(next)
    }

    /// When the next segment of `stream` can be closed: now if a full
    /// segment's worth of records waits, else the end of the oldest
    /// unarchived record's interval; `None` when all is archived. (A
    /// segment that fills its byte bound sooner is written then too.)
    fn due_at(
        &self,
        store: &SqlStore,
        stream: Stream,
        policy: SegmentPolicy,
        now: u64,
    ) -> Result<Option<u64>> {
        Ok(self
            .unarchived(store, stream)?
            .map(|(position, end, since)| {
                if end - position >= MAX_SEGMENT_ROWS as u64 {
                    now
                } else {
                    since - since % policy.interval_ms + policy.interval_ms
                }
            }))
    }

    fn due(
        &self,
        store: &SqlStore,
        stream: Stream,
        policy: SegmentPolicy,
        now: u64,
    ) -> Result<bool> {
        Ok(self
            .due_at(store, stream, policy, now)?
            .is_some_and(|t| t <= now))
    }

    /// The archive position of `stream`, its end, and when the first
    /// unarchived record was appended; `None` when all is archived.
    fn unarchived(&self, store: &SqlStore, stream: Stream) -> Result<Option<(u64, u64, u64)>> {
        let position = self.with_core(store, |c| c.archive_position(store, stream))?;
        let read = stream
            .log()
            .read(store, position, 1, 1)
            .map_err(PartitionError::from)?;
        Ok(read
            .batches
            .first()
            .map(|b| (position, read.end, b.header.append_time)))
    }

    /// The archive's figures for `/v1/partitions`: `null` without an
    /// archive, else per stream the position, the records not yet written
    /// (`lag`) and when the oldest of them was appended, and the error that
    /// stopped archiving, if any.
    pub(super) fn archive_stats(&self, store: &SqlStore) -> Result<Value> {
        let config = self.config()?;
        if !config.archive {
            return Ok(Value::Null);
        }
        let mut out = json!({
            "interval_ms": config.archive_interval_ms,
            "error": store.meta(META_ERROR).map_err(PartitionError::from)?,
        });
        for stream in [Stream::Events, Stream::Firings] {
            let position = self.with_core(store, |c| c.archive_position(store, stream))?;
            let (lag, since) = match self.unarchived(store, stream)? {
                Some((p, end, since)) => (end - p, Some(since)),
                None => (0, None),
            };
            if self.test_hook().is_some() {
                out["injected_failures"] = json!(self.injected_failures(store)?);
            }
            out[stream.as_str()] =
                json!({ "position": position, "lag": lag, "oldest_unarchived_at": since });
        }
        Ok(out)
    }

    /// The next segment of `stream` from the archive position, and its rows.
    fn gather(
        &self,
        store: &SqlStore,
        stream: Stream,
        policy: SegmentPolicy,
    ) -> Result<(Segment, Table)> {
        let position = self.with_core(store, |c| c.archive_position(store, stream))?;
        let mut segment = Segment::new(policy, position);
        let mut from = position;
        match stream {
            Stream::Events => {
                let mut table = Table::events();
                loop {
                    // The events borrowed from their frames, straight into
                    // the table: making and dropping a record of each was a
                    // fifth of the archive's time (the archive bench).
                    let mut full = false;
                    let read = self.with_core(store, |c| {
                        c.read_event_views(store, from, PAGE_RECORDS, PAGE_BYTES, |v| {
                            let bytes = table.push_event(v);
                            full = !segment.offer(v.received_at, bytes);
                            if full {
                                table.pop_row();
                            }
                            !full
                        })
                    })?;
                    if full || read.taken == 0 || read.next_offset >= read.end {
                        return Ok((segment, table));
                    }
                    from = read.next_offset;
                }
            }
            Stream::Firings => {
                let mut table = Table::firings();
                let partition = self.known_number(store)?;
                loop {
                    // The records as the relay's JSON, and their batches'
                    // append times from the same range.
                    let batches = Log::firings()
                        .read(store, from, PAGE_RECORDS, PAGE_BYTES)
                        .map_err(PartitionError::from)?;
                    let page = self.read(store, stream, from, PAGE_RECORDS, PAGE_BYTES)?;
                    for record in &page.records {
                        let offset = record["offset"].as_u64().unwrap_or(from);
                        let received_at = batches
                            .batches
                            .iter()
                            .find(|b| b.base_offset <= offset && offset < b.end_offset())
                            .map(|b| b.header.append_time)
                            .ok_or_else(|| RelayError::Internal {
                                message: format!("no firing batch holds offset {offset}"),
                            })?;
                        let bytes = table.push_firing(partition, offset, received_at, record);
                        if !segment.offer(received_at, bytes) {
                            table.pop_row();
                            return Ok((segment, table));
                        }
                    }
                    if page.records.is_empty() || page.next_offset >= page.end {
                        return Ok((segment, table));
                    }
                    from = page.next_offset;
                }
            }
            // Not archived: quarantined events are replayed into the event
            // stream once the plan is fixed, and archived from there.
            Stream::Quarantine => Err(RelayError::Internal {
                message: "the quarantine is not archived".into(),
            }),
        }
    }

    /// Writes one closed segment and moves the position. `false` when the
    /// key held other contents: archiving stopped.
    async fn write_segment(
        &self,
        store: &SqlStore,
        bucket: &Bucket,
        stream: Stream,
        segment: &Segment,
        table: &Table,
    ) -> Result<bool> {
        let partition = self.known_number(store)?;
        let key = segment
            .key(stream, partition)
            .ok_or_else(|| RelayError::Internal {
                message: "an empty segment cannot be written".into(),
            })?;
        let (first, last) = (segment.first_offset, segment.end_offset() - 1);
        let body = table
            .to_parquet(&[
                ("stream", stream.as_str().to_string()),
                ("partition", partition.to_string()),
                ("first_offset", first.to_string()),
                ("last_offset", last.to_string()),
                ("rows", table.rows().to_string()),
            ])
            .map_err(|e| RelayError::Internal {
                message: format!("encoding {key}: {e}"),
            })?;
        let digest = Sha256::digest(&body).to_vec();
        let metadata: HashMap<String, String> = [
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("first_offset", first.to_string()),
            ("last_offset", last.to_string()),
            ("rows", table.rows().to_string()),
            ("sha256", hex(&digest)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let put = bucket
            .put(&key, body)
            .custom_metadata(metadata.clone())
            .sha256(digest)
            .only_if(Conditional {
                etag_does_not_match: Some("*".into()),
                ..Conditional::default()
            })
            .execute()
            .await?;
        if put.is_none() {
            // The key exists: written before (a retry), or not by us.
            let found = bucket.head(&key).await?;
            let same = match &found {
                Some(o) => o.custom_metadata()? == metadata,
                None => false,
            };
            if !same {
                let why = format!(
                    "{key} exists with other contents (found {:?}, wrote {metadata:?}): archiving stopped, nothing overwritten",
                    found.map(|o| o.custom_metadata().unwrap_or_default())
                );
                worker::console_error!("archive: {why}");
                store
                    .set_meta(META_ERROR, &why)
                    .map_err(PartitionError::from)?;
                return Ok(false);
            }
        }
        self.inject_test_failure(store)?;
        let mut s = store.clone();
        self.with_core(store, |c| {
            c.commit_archive(&mut s, stream, segment.end_offset())
        })?;
        Ok(true)
    }

    /// The test hook's mode (see [`TEST_FAIL_AFTER_PUT`]), if set.
    fn test_hook(&self) -> Option<String> {
        self.env
            .var(TEST_FAIL_AFTER_PUT)
            .ok()
            .map(|v| v.to_string())
    }

    fn injected_failures(&self, store: &SqlStore) -> Result<u64> {
        Ok(store
            .meta(META_TEST_FAILURES)
            .map_err(PartitionError::from)?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Fails as [`TEST_FAIL_AFTER_PUT`] says; nothing when it is unset.
    fn inject_test_failure(&self, store: &SqlStore) -> Result<()> {
        let failed = match self.test_hook().as_deref() {
            Some("once") | Some("always") => self.injected_failures(store)?,
            _ => return Ok(()),
        };
        if failed == 0 || self.test_hook().as_deref() == Some("always") {
            store
                .set_meta(META_TEST_FAILURES, &(failed + 1).to_string())
                .map_err(PartitionError::from)?;
            return Err(RelayError::Internal {
                message: format!("{TEST_FAIL_AFTER_PUT}: failing after the put"),
            });
        }
        Ok(())
    }
}
