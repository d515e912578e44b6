//! The partitioner on the reference corpus: every visitor's events in one
//! partition, and the spread over partitions pinned, so that a change to
//! the hash (which would move visitors between partitions) cannot pass
//! unnoticed.

use broker_core::corpus;
use broker_core::log::partition_for;
use std::collections::BTreeMap;

fn visitors() -> Vec<String> {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let calls = corpus::parse_corpus(&text).expect("the reference corpus parses");
    let mut seen = BTreeMap::new();
    for c in calls {
        seen.entry(c.visitor).or_insert(());
    }
    seen.into_keys().collect()
}

fn spread(visitors: &[String], partitions: u32) -> Vec<usize> {
    let mut counts = vec![0; partitions as usize];
    for v in visitors {
        counts[partition_for(v, partitions) as usize] += 1;
    }
    counts
}

#[test]
fn corpus_visitors_spread_over_partitions_as_pinned() {
    let v = visitors();
    assert_eq!(v.len(), 400);
    assert_eq!(spread(&v, 1), vec![400]);
    assert_eq!(spread(&v, 4), vec![94, 98, 95, 113]);
    assert_eq!(spread(&v, 8), vec![55, 51, 42, 51, 39, 47, 53, 62]);
    assert_eq!(
        spread(&v, 16),
        vec![29, 21, 21, 22, 21, 24, 18, 34, 26, 30, 21, 29, 18, 23, 35, 28]
    );
}
