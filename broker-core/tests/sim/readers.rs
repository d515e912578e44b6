//! The simulation's readers: a few records at a time from their position
//! (or their committed one after a restart), checking that offsets follow
//! each other and that an offset never holds two values, and skipping
//! explicitly, counted, what retention deleted under them.

use super::support::tag_of;
use super::{Check, Part};
use broker_core::log::LogError;
use broker_core::log::Stream;
use broker_core::partition::PartitionError;

pub(crate) fn read_firings_once(part: &mut Part, max_records: usize, commit: bool) -> Check {
    let name = part.firing_reader.name.clone();
    let pos = match part.firing_reader.position {
        Some(p) => p,
        None => part
            .part
            .consumer_position(&part.store, Stream::Firings, &name)
            .map_err(|e| e.to_string())?
            .unwrap_or(0),
    };
    match part
        .part
        .read_firings(&part.store, pos, max_records, usize::MAX)
    {
        Ok(r) => {
            for (i, rec) in r.records.iter().enumerate() {
                if rec.offset != pos + i as u64 {
                    return Err(format!(
                        "firing gap: from {pos}, offset {} at {i}",
                        rec.offset
                    ));
                }
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
            part.firing_reader.position = Some(r.next_offset);
            if commit {
                let _ = part.part.commit_consumer(
                    &mut part.store,
                    Stream::Firings,
                    &name,
                    r.next_offset,
                );
            }
        }
        Err(PartitionError::Log(LogError::OffsetOutOfRange {
            requested,
            earliest,
            end,
        })) => {
            if requested < earliest {
                part.firing_reader.skipped += earliest - requested;
                part.firing_reader.position = Some(earliest);
            } else {
                return Err(format!(
                    "firing reader at {requested} is past the end {end}"
                ));
            }
        }
        Err(e) => return Err(format!("firing read failed: {e}")),
    }
    Ok(())
}

pub(crate) fn read_once(
    part: &mut Part,
    max_records: usize,
    max_bytes: usize,
    commit: bool,
) -> Check {
    let pos = match part.reader.position {
        Some(p) => p,
        None => part
            .part
            .consumer_position(&part.store, Stream::Events, &part.reader.name)
            .map_err(|e| e.to_string())?
            .unwrap_or(0),
    };
    match part
        .part
        .read_events(&part.store, pos, max_records, max_bytes)
    {
        Ok(r) => {
            for (i, rec) in r.records.iter().enumerate() {
                if rec.offset != pos + i as u64 {
                    return Err(format!(
                        "gap: read from {pos} returned offset {} at {i}",
                        rec.offset
                    ));
                }
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
            part.reader.position = Some(r.next_offset);
            if commit {
                let _ = part.part.commit_consumer(
                    &mut part.store,
                    Stream::Events,
                    &part.reader.name,
                    r.next_offset,
                );
            }
        }
        Err(PartitionError::Log(LogError::OffsetOutOfRange {
            requested,
            earliest,
            end,
        })) => {
            if requested < earliest {
                // Fell behind retention: told so, skips explicitly.
                part.reader.skipped += earliest - requested;
                part.reader.position = Some(earliest);
            } else {
                return Err(format!("reader at {requested} is past the end {end}"));
            }
        }
        Err(e) => return Err(format!("read failed: {e}")),
    }
    Ok(())
}
