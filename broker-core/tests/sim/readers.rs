//! The simulation's readers: a few records at a time from their position
//! (or their committed one after a restart), checking that offsets follow
//! each other and that an offset never holds two values, and skipping
//! explicitly, counted, what retention deleted under them.

use super::support::tag_of;
use super::{Check, Part, Reader};
use broker_core::log::LogError;
use broker_core::log::Stream;
use broker_core::partition::PartitionError;

/// Where `reader` reads next: its position, or after a restart its
/// committed one (0 when it never committed).
fn start(part: &Part, reader: &Reader, stream: Stream) -> Result<u64, String> {
    match reader.position {
        Some(p) => Ok(p),
        None => Ok(part
            .part
            .consumer_position(&part.store, stream, &reader.name)
            .map_err(|e| e.to_string())?
            .unwrap_or(0)),
    }
}

/// A failed read: when retention deleted the records under `reader`, it
/// skips to the earliest kept one, counted; any other failure, a read past
/// the end included, fails the run.
fn after_failed_read(reader: &mut Reader, what: &str, err: PartitionError) -> Check {
    match err {
        PartitionError::Log(LogError::OffsetOutOfRange {
            requested,
            earliest,
            ..
        }) if requested < earliest => {
            reader.skipped += earliest - requested;
            reader.position = Some(earliest);
            Ok(())
        }
        PartitionError::Log(LogError::OffsetOutOfRange { requested, end, .. }) => Err(format!(
            "{what} reader at {requested} is past the end {end}"
        )),
        e => Err(format!("{what} read failed: {e}")),
    }
}

/// The offsets a read returned follow each other from `pos`.
fn dense(what: &str, pos: u64, offsets: impl Iterator<Item = u64>) -> Check {
    for (i, offset) in offsets.enumerate() {
        if offset != pos + i as u64 {
            return Err(format!(
                "{what} gap: read from {pos} returned offset {offset} at {i}"
            ));
        }
    }
    Ok(())
}

/// The reader of `stream` reads from `next` on and, when `commit`, commits
/// it (a failed commit is one of the simulated faults: the reader carries
/// on, and after a restart reads again from its last committed position).
fn advance(part: &mut Part, stream: Stream, next: u64, commit: bool) {
    let reader = match stream {
        Stream::Firings => &mut part.firing_reader,
        _ => &mut part.reader,
    };
    reader.position = Some(next);
    if commit {
        let _ = part
            .part
            .commit_consumer(&mut part.store, stream, &reader.name, next);
    }
}

pub(crate) fn read_firings_once(part: &mut Part, max_records: usize, commit: bool) -> Check {
    let pos = start(part, &part.firing_reader, Stream::Firings)?;
    let r = match part
        .part
        .read_firings(&part.store, pos, max_records, usize::MAX)
    {
        Ok(r) => r,
        Err(e) => return after_failed_read(&mut part.firing_reader, "firing", e),
    };
    dense("firing", pos, r.records.iter().map(|rec| rec.offset))?;
    for rec in &r.records {
        // The simulated files have no goals: every record is a firing.
        let Some(firing) = rec.outcome.firing() else {
            return Err(format!("firing offset {} holds a conversion", rec.offset));
        };
        if let Some(prev) = part.observed_firings.insert(rec.offset, firing.clone()) {
            if &prev != firing {
                return Err(format!("firing offset {} holds two firings", rec.offset));
            }
        }
    }
    advance(part, Stream::Firings, r.next_offset, commit);
    Ok(())
}

pub(crate) fn read_once(
    part: &mut Part,
    max_records: usize,
    max_bytes: usize,
    commit: bool,
) -> Check {
    let pos = start(part, &part.reader, Stream::Events)?;
    let r = match part
        .part
        .read_events(&part.store, pos, max_records, max_bytes)
    {
        Ok(r) => r,
        Err(e) => return after_failed_read(&mut part.reader, "event", e),
    };
    dense("event", pos, r.records.iter().map(|rec| rec.offset))?;
    for rec in &r.records {
        let tag = tag_of(&rec.event).ok_or("an event without a tag")?;
        if let Some(prev) = part.observed.insert(rec.offset, tag) {
            if prev != tag {
                return Err(format!(
                    "offset {} holds {prev:?} and later {tag:?}",
                    rec.offset
                ));
            }
        }
    }
    if r.next_offset != pos + r.records.len() as u64 || r.next_offset > r.end {
        return Err(format!(
            "next_offset {} after {} records from {pos}",
            r.next_offset,
            r.records.len()
        ));
    }
    advance(part, Stream::Events, r.next_offset, commit);
    Ok(())
}
