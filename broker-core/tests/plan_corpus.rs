//! The plans of the repository over the reference corpus: the demo shop's
//! plan (`examples/plan.json`) and the bench's (`bench/plan-corpus.json`)
//! pass every corpus event, and checking a clean event allocates nothing
//! once each pattern has matched once (counted by this test binary's global
//! allocator).

use broker_core::corpus;
use broker_core::plan::{Action, Plan, ViolationKind};
use broker_core::{Event, EventKind, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the allocations of the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn corpus_events() -> Vec<Event<'static>> {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the reference corpus");
    corpus::parse_corpus(&text)
        .expect("the corpus parses")
        .into_iter()
        .map(|c| c.event)
        .collect()
}

#[test]
fn the_corpus_passes_both_plans_without_allocating() {
    let events = corpus_events();
    assert_eq!(events.len(), 10_728);
    for path in ["examples/plan.json", "bench/plan-corpus.json"] {
        let plan = Plan::parse(&read(path)).unwrap_or_else(|e| panic!("{path}:\n{e}"));
        // Every event name the corpus sends is planned.
        for e in &events {
            assert!(
                plan.event_names().any(|n| n == e.trigger_name()),
                "{path}: {}",
                e.trigger_name()
            );
        }
        // The first match of each pattern makes its regex's cache; after
        // that, a clean event costs no allocation.
        for e in &events {
            plan.check(e);
        }
        let before = allocations();
        let mut clean = 0;
        for e in &events {
            let v = plan.check(e);
            assert_eq!(v.action, Action::Allow, "{path}: {e:?}: {:?}", v.violations);
            clean += usize::from(v.is_clean());
        }
        assert_eq!(allocations() - before, 0, "{path}: allocations");
        assert_eq!(clean, events.len(), "{path}");
    }
    let bench = Plan::parse(&read("bench/plan-corpus.json")).expect("valid");
    assert!(
        bench.summary().starts_with("10 events, 52 properties"),
        "{}",
        bench.summary()
    );
}

/// The corpus with one property broken per event kind: each breaks the
/// example plan exactly once, with the action the plan gives its event.
#[test]
fn one_broken_property_per_event_is_one_violation() {
    let plan = Plan::parse(&read("examples/plan.json")).expect("valid");
    let mut seen = std::collections::BTreeSet::new();
    for mut e in corpus_events() {
        if !seen.insert(e.trigger_name().to_owned()) {
            continue;
        }
        // Turn the first string property into a number.
        let Some((key, v)) = e
            .properties
            .iter_mut()
            .find(|(_, v)| matches!(v, Value::Str(_)))
        else {
            continue;
        };
        *v = Value::Int(7);
        let key = key.to_string();
        let verdict = plan.check(&e);
        assert_eq!(verdict.violations.len(), 1, "{e:?}");
        let v = &verdict.violations[0];
        assert_eq!(v.kind, ViolationKind::WrongType);
        assert_eq!(v.path, format!("properties.{key}"));
        assert!(v.message.starts_with("expected "), "{v}");
        assert!(v.message.ends_with(", got integer 7"), "{v}");
        let expected = if e.kind == EventKind::Page {
            Action::Flag
        } else {
            Action::Quarantine
        };
        assert_eq!(verdict.action, expected, "{}", e.trigger_name());
    }
    assert_eq!(seen.len(), 10);
}
