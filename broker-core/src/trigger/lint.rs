//! Warnings about a valid trigger file: mistakes the validator cannot see
//! because they need the retained log (an event name or a property path that
//! no event has) or reasoning across fields (a `count` window shorter than the
//! `cooldown`). A warning never rejects a file; the console marks it and the
//! relay's validate route returns it beside `ok: true`.
//!
//! ```
//! use broker_core::trigger::{lint, Catalog, TriggerFile};
//!
//! let file = TriggerFile::parse(r#"{"version": 1, "triggers": [{"id": "t",
//!     "when": {"event": "Prodcut Added"}, "action": {"type": "banner"}}]}"#).unwrap();
//! let catalog: Catalog = serde_json::from_str(r#"{"events": [{"name": "Product Added",
//!     "count": 12, "properties": ["price"]}], "context": [], "scanned": 40, "complete": true}"#).unwrap();
//! let w = lint(&file, &catalog);
//! assert_eq!(w[0].path, "triggers[0].when.event");
//! assert_eq!(w[0].message, r#""Prodcut Added" was never seen; did you mean "Product Added"?"#);
//! ```
//!
//! # Decisions
//! - The file is walked from its source text (valid, so its shape is known),
//!   which keeps the warnings' paths the validator's paths exactly.
//! - An empty catalog (nothing scanned, or no events) gives no log-based
//!   warnings: with nothing to compare to, every name would be flagged.
//! - Captured kinds (`$page`, `$click`, `$submit`, `$identify`) are checked
//!   like any other name only when the catalog names at least one captured
//!   kind (it then records them under these names, as
//!   [`Event::trigger_name`](crate::Event::trigger_name) does); otherwise
//!   the catalog does not record them and they are skipped.
//! - A property path is seen when the catalog has it, or has a path below it
//!   (`products` is seen when `products.0.price` is); a digit segment matches
//!   any digit segment, since lists vary in length from event to event.
//! - `prop` paths are checked only on events the catalog has (an unseen event
//!   already has its own warning); `trait` paths against the properties of
//!   `$identify` (an identify call's properties are its traits), only when the
//!   catalog has `$identify`; `context` paths against the catalog's context
//!   paths, only when it has some.
//! - When the catalog is a partial scan (`complete: false`), "never seen"
//!   says how many events were scanned.

use super::suggest::{parse_duration, suggest};
use super::TriggerFile;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::HashMap;

/// What the retained log has seen: the JSON of the relay's
/// `GET /v1/admin/catalog`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Catalog {
    /// Every event name seen, with its property paths.
    #[serde(default)]
    pub events: Vec<CatalogEvent>,
    /// Every context path seen (`campaign.name`, `session_id`, ...).
    #[serde(default)]
    pub context: Vec<String>,
    /// How many events were scanned to make the catalog.
    #[serde(default)]
    pub scanned: u64,
    /// False when the scan stopped before the end of the retained log.
    #[serde(default = "default_complete")]
    pub complete: bool,
}

fn default_complete() -> bool {
    true
}

/// One event name the log has seen.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CatalogEvent {
    /// The name triggers match on (`Product Added`, `$page`).
    pub name: String,
    /// How many events of that name were scanned.
    #[serde(default)]
    pub count: u64,
    /// Every dotted property path seen on it (`price`, `products.0.price`).
    #[serde(default)]
    pub properties: Vec<String>,
}

/// One warning: `path: message` when displayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Spec-style JSON path of the value warned about (`triggers[0].when.event`).
    pub path: String,
    /// What looks wrong and why it matters, with a suggestion for near-misses.
    pub message: String,
    /// The id of the trigger it is in.
    pub trigger: String,
}

path_display!(Warning);

/// The warnings for a valid `file` against what the log has seen, in
/// document order. [`Catalog::default()`] gives only the cross-field ones.
pub fn lint(file: &TriggerFile, catalog: &Catalog) -> Vec<Warning> {
    let doc: Json = match serde_json::from_str(file.source()) {
        Ok(d) => d,
        // Unreachable for a parsed file; no warnings rather than a panic.
        Err(_) => return Vec::new(),
    };
    let mut l = Linter::new(catalog);
    let triggers = doc.get("triggers").and_then(Json::as_array);
    for (i, t) in triggers.into_iter().flatten().enumerate() {
        l.trigger = t.get("id").and_then(Json::as_str).unwrap_or("").to_owned();
        l.trigger_def(t, &format!("triggers[{i}]"));
    }
    l.out
}

struct Linter<'c> {
    catalog: &'c Catalog,
    /// Events by name; empty when the log-based checks are off.
    events: HashMap<&'c str, &'c CatalogEvent>,
    names: Vec<&'c str>,
    check_captured: bool,
    trigger: String,
    out: Vec<Warning>,
}

impl<'c> Linter<'c> {
    fn new(catalog: &'c Catalog) -> Self {
        let on = !catalog.events.is_empty();
        let events: HashMap<&str, &CatalogEvent> = if on {
            catalog
                .events
                .iter()
                .map(|e| (e.name.as_str(), e))
                .collect()
        } else {
            HashMap::new()
        };
        let names = catalog.events.iter().map(|e| e.name.as_str()).collect();
        Linter {
            catalog,
            check_captured: events.keys().any(|n| n.starts_with('$')),
            events,
            names,
            trigger: String::new(),
            out: Vec::new(),
        }
    }

    fn warn(&mut self, path: String, message: String) {
        self.out.push(Warning {
            path,
            message,
            trigger: self.trigger.clone(),
        });
    }

    /// ` in the N events scanned` for a partial catalog, else nothing.
    fn scope(&self) -> String {
        if self.catalog.complete {
            String::new()
        } else {
            format!(" in the {} events scanned", self.catalog.scanned)
        }
    }

    fn trigger_def(&mut self, t: &Json, path: &str) {
        if let Some(step) = t.get("when") {
            self.step(step, &format!("{path}.when"));
        }
        if let Some(steps) = t.get("sequence").and_then(Json::as_array) {
            for (k, step) in steps.iter().enumerate() {
                self.step(step, &format!("{path}.sequence[{k}]"));
            }
        }
        for key in ["unless", "goal"] {
            if let Some(step) = t.get(key) {
                self.step(step, &format!("{path}.{key}"));
            }
        }
        if let Some(conds) = t.get("audience").and_then(Json::as_array) {
            for (j, c) in conds.iter().enumerate() {
                self.audience_condition(c, &format!("{path}.audience[{j}]"));
            }
        }
        self.count_within_cooldown(t, path);
    }

    fn step(&mut self, step: &Json, path: &str) {
        let Some(name) = step.get("event").and_then(Json::as_str) else {
            return;
        };
        if self.events.is_empty() || (name.starts_with('$') && !self.check_captured) {
            return;
        }
        let Some(event) = self.events.get(name).copied() else {
            let hint = suggest(name, &self.names)
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            let scope = self.scope();
            self.warn(
                format!("{path}.event"),
                format!("{name:?} was never seen{scope}{hint}"),
            );
            return;
        };
        let conds = step.get("where").and_then(Json::as_array);
        for (j, c) in conds.into_iter().flatten().enumerate() {
            let cpath = format!("{path}.where[{j}]");
            if let Some(prop) = c.get("prop").and_then(Json::as_str) {
                let what = format!("on {name:?}");
                self.path_seen(
                    prop,
                    &event.properties,
                    &format!("{cpath}.prop"),
                    "property",
                    &what,
                );
            } else if let Some(ctx) = c.get("context").and_then(Json::as_str) {
                self.context_seen(ctx, &format!("{cpath}.context"));
            }
        }
    }

    fn audience_condition(&mut self, c: &Json, path: &str) {
        if let Some(tr) = c.get("trait").and_then(Json::as_str) {
            if let Some(identify) = self.events.get("$identify").copied() {
                let what = "in an identify call";
                self.path_seen(
                    tr,
                    &identify.properties,
                    &format!("{path}.trait"),
                    "trait",
                    what,
                );
            }
        } else if let Some(ctx) = c.get("context").and_then(Json::as_str) {
            self.context_seen(ctx, &format!("{path}.context"));
        }
    }

    fn context_seen(&mut self, ctx: &str, path: &str) {
        if self.events.is_empty() || self.catalog.context.is_empty() {
            return;
        }
        let seen = self.catalog.context.clone();
        self.path_seen(ctx, &seen, path, "context path", "on any event");
    }

    /// Warns at `path` unless `p` (or a path below it) is among `seen`.
    fn path_seen(&mut self, p: &str, seen: &[String], path: &str, noun: &str, what: &str) {
        if seen.iter().any(|s| covers(p, s)) {
            return;
        }
        let candidates: Vec<&str> = seen.iter().map(String::as_str).collect();
        let hint = suggest(p, &candidates)
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        let scope = self.scope();
        self.warn(
            path.to_owned(),
            format!("{noun} {p:?} was never seen {what}{scope}{hint}"),
        );
    }

    /// A `count` window shorter than the cooldown: qualifications inside the
    /// cooldown are suppressed and use up their events, which surprises.
    fn count_within_cooldown(&mut self, t: &Json, path: &str) {
        let within = t.pointer("/count/within").and_then(Json::as_str);
        let cooldown = t.get("cooldown").and_then(Json::as_str);
        let (Some(w), Some(c)) = (within, cooldown) else {
            return;
        };
        let (Ok(wms), Ok(cms)) = (parse_duration(w), parse_duration(c)) else {
            return;
        };
        if wms >= cms {
            return;
        }
        let at_least = t
            .pointer("/count/at_least")
            .and_then(Json::as_u64)
            .unwrap_or(1);
        self.warn(
            format!("{path}.count.within"),
            format!(
                "the count window ({w}) is shorter than the cooldown ({c}): qualifications during the cooldown are suppressed and use up their events, so after a firing a visitor needs {at_least} new matching events within {w} once the cooldown is over"
            ),
        );
    }
}

/// True when seen path `s` is `p` or lies below it, digit segments matching
/// any digit segment.
fn covers(p: &str, s: &str) -> bool {
    let mut ps = p.split('.');
    let mut ss = s.split('.');
    loop {
        match (ps.next(), ss.next()) {
            (None, _) => return true,
            (Some(_), None) => return false,
            (Some(a), Some(b)) => {
                let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
                if a != b && !(digits(a) && digits(b)) {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        serde_json::from_str(
            r#"{"events": [
                {"name": "Product Added", "count": 40, "properties": ["price", "product_id", "products.0.price", "products.1.price"]},
                {"name": "Checkout Started", "count": 9, "properties": ["value"]},
                {"name": "Order Completed", "count": 5, "properties": ["total"]},
                {"name": "$identify", "count": 3, "properties": ["plan", "newsletter"]},
                {"name": "$page", "count": 90, "properties": ["path", "url"]}],
              "context": ["campaign.name", "session_id", "geo.country"],
              "scanned": 147, "complete": true}"#,
        )
        .unwrap()
    }

    fn file(triggers: &str) -> TriggerFile {
        TriggerFile::parse(&format!(r#"{{"version": 1, "triggers": [{triggers}]}}"#)).unwrap()
    }

    fn paths(w: &[Warning]) -> Vec<&str> {
        w.iter().map(|w| w.path.as_str()).collect()
    }

    /// `w`'s message contains `part` (the whole warning shown when not).
    fn says(w: &Warning, part: &str) {
        assert!(w.message.contains(part), "{w}");
    }

    #[test]
    fn unseen_event_in_every_step_kind() {
        let f = file(
            r#"{"id": "a", "when": {"event": "Prodcut Added"}, "unless": {"event": "Chekout Started", "within": "5m"}, "action": {"type": "x"}},
               {"id": "b", "sequence": [{"event": "Product Added"}, {"event": "Refund Issued"}], "within": "5m", "action": {"type": "x"}}"#,
        );
        let w = lint(&f, &catalog());
        assert_eq!(
            paths(&w),
            [
                "triggers[0].when.event",
                "triggers[0].unless.event",
                "triggers[1].sequence[1].event"
            ]
        );
        assert_eq!(
            w[0].message,
            r#""Prodcut Added" was never seen; did you mean "Product Added"?"#
        );
        assert_eq!(w[0].trigger, "a");
        assert!(
            w[1].message
                .ends_with(r#"did you mean "Checkout Started"?"#),
            "{}",
            w[1]
        );
        assert_eq!(w[2].message, r#""Refund Issued" was never seen"#);
        assert_eq!(w[2].trigger, "b");
    }

    #[test]
    fn unseen_goal_event_and_goal_property() {
        let f = file(
            r#"{"id": "a", "when": {"event": "Product Added"}, "goal": {"event": "Order Complete", "within": "1d"}, "action": {"type": "x"}},
               {"id": "b", "when": {"event": "Product Added"}, "goal": {"event": "Order Completed", "where": [{"prop": "totl", "op": "gt", "value": 0}], "within": "1d"}, "action": {"type": "x"}}"#,
        );
        let w = lint(&f, &catalog());
        assert_eq!(
            paths(&w),
            ["triggers[0].goal.event", "triggers[1].goal.where[0].prop"]
        );
        assert_eq!(
            w[0].message,
            r#""Order Complete" was never seen; did you mean "Order Completed"?"#
        );
        assert_eq!(
            w[1].message,
            r#"property "totl" was never seen on "Order Completed"; did you mean "total"?"#
        );
    }

    #[test]
    fn unseen_property_on_its_event() {
        let f = file(
            r#"{"id": "a", "when": {"event": "Product Added", "where": [
                {"prop": "price", "op": "gt", "value": 1},
                {"prop": "prise", "op": "gt", "value": 1},
                {"prop": "products", "op": "exists", "value": true},
                {"prop": "products.7.price", "op": "gt", "value": 1},
                {"prop": "total", "op": "gt", "value": 1}]}, "action": {"type": "x"}}"#,
        );
        let w = lint(&f, &catalog());
        assert_eq!(
            paths(&w),
            [
                "triggers[0].when.where[1].prop",
                "triggers[0].when.where[4].prop"
            ]
        );
        assert_eq!(
            w[0].message,
            r#"property "prise" was never seen on "Product Added"; did you mean "price"?"#
        );
        // Seen on another event only: still a warning, and no wild guess.
        assert_eq!(
            w[1].message,
            r#"property "total" was never seen on "Product Added""#
        );
    }

    #[test]
    fn unseen_trait_checked_against_identify() {
        let f = file(
            r#"{"id": "a", "when": {"event": "$page"}, "audience": [{"trait": "plann", "op": "eq", "value": "x"}, {"trait": "plan", "op": "eq", "value": "x"}], "action": {"type": "x"}}"#,
        );
        let w = lint(&f, &catalog());
        assert_eq!(paths(&w), ["triggers[0].audience[0].trait"]);
        says(&w[0], "in an identify call; did you mean \"plan\"?");
    }

    #[test]
    fn captured_kinds_skipped_only_when_the_catalog_lacks_them() {
        let f = file(
            r#"{"id": "a", "when": {"event": "$click"}, "action": {"type": "x"}},
               {"id": "b", "when": {"event": "$page", "where": [{"prop": "pth", "op": "eq", "value": "/"}]}, "action": {"type": "x"}}"#,
        );
        // The catalog names $page and $identify: it records captured kinds.
        let w = lint(&f, &catalog());
        assert_eq!(
            paths(&w),
            ["triggers[0].when.event", "triggers[1].when.where[0].prop"]
        );
        let mut plain = catalog();
        plain.events.retain(|e| !e.name.starts_with('$'));
        assert!(lint(&f, &plain).is_empty());
    }

    #[test]
    fn count_window_shorter_than_cooldown() {
        let f = file(
            r#"{"id": "a", "when": {"event": "Product Added"}, "count": {"at_least": 2, "within": "30m"}, "cooldown": "24h", "action": {"type": "x"}},
               {"id": "b", "when": {"event": "Product Added"}, "count": {"at_least": 2, "within": "1d"}, "cooldown": "24h", "action": {"type": "x"}},
               {"id": "c", "when": {"event": "Product Added"}, "cooldown": "1h", "action": {"type": "x"}}"#,
        );
        // Cross-field: no catalog needed.
        let w = lint(&f, &Catalog::default());
        assert_eq!(paths(&w), ["triggers[0].count.within"]);
        assert!(
            w[0].message
                .starts_with("the count window (30m) is shorter than the cooldown (24h)"),
            "{}",
            w[0]
        );
        says(&w[0], "needs 2 new matching events within 30m");
    }

    #[test]
    fn empty_catalog_gives_no_log_warnings() {
        let f = file(
            r#"{"id": "a", "when": {"event": "Anything", "where": [{"prop": "x", "op": "exists", "value": true}]}, "action": {"type": "x"}}"#,
        );
        assert!(lint(&f, &Catalog::default()).is_empty());
        assert_eq!(lint(&f, &catalog()).len(), 1);
    }

    #[test]
    fn partial_scan_says_how_much_was_scanned() {
        let f = file(r#"{"id": "a", "when": {"event": "Refund Issued"}, "action": {"type": "x"}}"#);
        let mut c = catalog();
        c.complete = false;
        assert_eq!(
            lint(&f, &c)[0].message,
            r#""Refund Issued" was never seen in the 147 events scanned"#
        );
    }

    #[test]
    fn catalog_json_defaults() {
        let c: Catalog = serde_json::from_str(r#"{"events": [{"name": "A"}]}"#).unwrap();
        assert!(c.complete && c.context.is_empty() && c.events[0].properties.is_empty());
    }

    #[test]
    fn covers_paths() {
        assert!(covers("a", "a"));
        assert!(covers("a", "a.b"));
        assert!(covers("a.3.b", "a.0.b"));
        assert!(!covers("a.b", "a"));
        assert!(!covers("ab", "a.b"));
        assert!(!covers("a.x", "a.0"));
    }
}
