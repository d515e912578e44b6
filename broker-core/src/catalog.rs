//! What a log has seen, for editors: event names with their property paths,
//! built from events as they are read (the relay's `GET /v1/admin/catalog`,
//! which the console completes names from and [`lint`](crate::trigger::lint)
//! checks a trigger file against).

use crate::event::{Event, Map, Value};
use crate::trigger::{Catalog, CatalogEvent};
use std::collections::{BTreeMap, BTreeSet};

/// Most event names a catalog records; later new names are not recorded.
pub const MAX_NAMES: usize = 1_000;
/// Most property paths recorded per event name.
pub const MAX_PATHS: usize = 200;
/// Deepest property path recorded (segments).
pub const MAX_PATH_DEPTH: usize = 6;

/// Builds a [`Catalog`] from events, one at a time.
#[derive(Debug, Clone, Default)]
pub struct CatalogBuilder {
    names: BTreeMap<String, (u64, BTreeSet<String>)>,
    scanned: u64,
}

impl CatalogBuilder {
    /// An empty builder.
    pub fn new() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Records `e` under the name triggers match it by (`$page` for a page
    /// view), with every property path it has (a list's elements under the
    /// segment `0`, since lists vary in length).
    pub fn add(&mut self, e: &Event<'_>) {
        self.scanned += 1;
        let name = e.trigger_name();
        if !self.names.contains_key(name) && self.names.len() >= MAX_NAMES {
            return;
        }
        let (count, paths) = self.names.entry(name.to_owned()).or_default();
        *count += 1;
        let mut prefix = String::new();
        walk(&e.properties, &mut prefix, 0, paths);
    }

    /// The catalog; `complete` says whether every retained event was added.
    pub fn build(&self, complete: bool) -> Catalog {
        Catalog {
            events: self
                .names
                .iter()
                .map(|(name, (count, paths))| CatalogEvent {
                    name: name.clone(),
                    count: *count,
                    properties: paths.iter().cloned().collect(),
                })
                .collect(),
            context: Vec::new(),
            scanned: self.scanned,
            complete,
        }
    }
}

fn walk(map: &Map<'_>, prefix: &mut String, depth: usize, out: &mut BTreeSet<String>) {
    for (k, v) in map {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        value(v, prefix, depth + 1, out);
        prefix.truncate(len);
    }
}

fn value(v: &Value<'_>, path: &mut String, depth: usize, out: &mut BTreeSet<String>) {
    if out.len() >= MAX_PATHS && !out.contains(path.as_str()) {
        return;
    }
    out.insert(path.clone());
    if depth >= MAX_PATH_DEPTH {
        return;
    }
    match v {
        Value::Map(m) => walk(m, path, depth, out),
        Value::List(items) => {
            for item in items.iter().take(1) {
                let len = path.len();
                path.push_str(".0");
                value(item, path, depth + 1, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;
    use std::borrow::Cow;

    #[test]
    fn records_names_counts_and_nested_paths() {
        let item = Value::Map(vec![(Cow::from("price"), Value::Float(9.5))]);
        let e = Event {
            kind: EventKind::Track,
            name: "Order Completed".into(),
            timestamp: 1,
            properties: vec![
                (Cow::from("total"), Value::Int(19)),
                (Cow::from("products"), Value::List(vec![item.clone(), item])),
            ],
        };
        let page = Event {
            kind: EventKind::Page,
            name: "Home".into(),
            timestamp: 2,
            properties: vec![(Cow::from("path"), Value::Str("/".into()))],
        };
        let mut b = CatalogBuilder::new();
        b.add(&e);
        b.add(&e);
        b.add(&page);
        let c = b.build(true);
        assert_eq!(c.scanned, 3);
        let names: Vec<_> = c
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.count))
            .collect();
        assert_eq!(names, [("$page", 1), ("Order Completed", 2)]);
        assert_eq!(
            c.events[1].properties,
            ["products", "products.0", "products.0.price", "total"]
        );
    }
}
