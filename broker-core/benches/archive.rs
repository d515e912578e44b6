//! The archive's cost per event on the reference corpus, in events per CPU
//! second (this thread's CPU time, so the figures hold on a loaded machine),
//! against the append that stored them: the relay's archive reads each event
//! back once, pushes it into the table and encodes the table.
//!
//! - `cpu/decode+append`: `Partition::append` of every frame (the baseline);
//! - `cpu/archive read, owned records`: `Partition::read_events` of the
//!   whole log, 1,000 at a time (what subscribers and `export` read);
//! - `cpu/archive read`: `Partition::read_event_views`, the same events
//!   borrowed from their frames (what the relay's archive reads);
//! - `cpu/archive read+push`: the same, each event pushed into a `Table`;
//! - `cpu/archive read+push+encode`: and the table encoded to Parquet (one
//!   segment: the corpus is 10,728 events, under the segment's bounds).
//!
//! Run: `cargo bench -p broker-core --bench archive`

use broker_core::archive::Table;
use broker_core::partition::{EventView, Partition, PartitionConfig};
use broker_core::storage::MemoryStorage;
use criterion::black_box;

#[path = "common/corpus_frames.rs"]
mod corpus_frames;
use corpus_frames::cpu_figure;

fn append_all(frames: &[Vec<u8>], now: u64) -> (Partition, MemoryStorage) {
    let mut store = MemoryStorage::new();
    // One partition holds every visitor here: the routing check is skipped.
    let mut p = Partition::open(&store, PartitionConfig::new(0, 0)).expect("open");
    for f in frames {
        p.append(&mut store, f, now).expect("append");
    }
    (p, store)
}

/// Reads the whole log back as records, handing each to `each`.
fn read_all_owned(
    p: &Partition,
    store: &MemoryStorage,
    mut each: impl FnMut(&broker_core::partition::EventRecord),
) {
    let mut from = 0;
    loop {
        let read = p.read_events(store, from, 1_000, 1 << 20).expect("read");
        read.records.iter().for_each(&mut each);
        if read.records.is_empty() || read.next_offset >= read.end {
            break;
        }
        from = read.next_offset;
    }
}

/// Reads the whole log back as views, as the relay's archive does, handing
/// each to `each`.
fn read_all(p: &Partition, store: &MemoryStorage, mut each: impl FnMut(&EventView<'_>)) {
    let mut from = 0;
    loop {
        let read = p
            .read_event_views(store, from, 1_000, 1 << 20, |v| {
                each(v);
                true
            })
            .expect("read");
        if read.taken == 0 || read.next_offset >= read.end {
            break;
        }
        from = read.next_offset;
    }
}

fn main() {
    let (frames, events, now) = corpus_frames::frames();
    let (p, store) = append_all(&frames, now);
    let mut table = Table::events();
    read_all(&p, &store, |v| {
        table.push_event(v);
    });
    let file = table.to_parquet(&[]).expect("encodes");
    println!(
        "corpus: {events} events, one Parquet file of {} bytes ({:.1} per event)",
        file.len(),
        file.len() as f64 / events as f64
    );
    cpu_figure("cpu/decode+append", events, 2, || {
        black_box(append_all(&frames, now));
    });
    cpu_figure("cpu/archive read, owned records", events, 2, || {
        read_all_owned(&p, &store, |r| {
            black_box(r);
        });
    });
    cpu_figure("cpu/archive read", events, 2, || {
        read_all(&p, &store, |v| {
            black_box(v);
        });
    });
    cpu_figure("cpu/archive read+push", events, 2, || {
        let mut t = Table::events();
        read_all(&p, &store, |v| {
            t.push_event(v);
        });
        black_box(t);
    });
    cpu_figure("cpu/archive read+push+encode", events, 2, || {
        let mut t = Table::events();
        read_all(&p, &store, |v| {
            t.push_event(v);
        });
        black_box(t.to_parquet(&[]).expect("encodes"));
    });
}
