//! Judging one event against a plan. The walk borrows everything and keeps
//! the path to the value being checked as a chain of stack frames
//! ([`Trail`]), so a clean event costs lookups and comparisons only; strings
//! are built when there is a violation to report.

use super::parse::{Enum, ObjectSpec, Type, ValueSpec};
use super::{Action, Plan, Verdict, Violation, ViolationKind as Kind};
use crate::event::{map_get, Event, Map, Value};
use crate::trigger::suggest::suggest;

/// Characters of a string value quoted in a message before it is cut.
const PREVIEW_CHARS: usize = 40;
/// `enum` values listed in a message before `...`.
const ENUM_LISTED: usize = 10;

pub(super) fn check(plan: &Plan, event: &Event<'_>) -> Verdict {
    let name = event.trigger_name();
    let Some(i) = plan.index.find(name, |i| plan.events[i].name.as_str()) else {
        let message = match near(name, plan.event_names()) {
            Some(h) => format!("{name:?} is not in the plan (did you mean {h:?}?)"),
            None => format!("{name:?} is not in the plan"),
        };
        return Verdict {
            action: plan.on_unplanned,
            violations: vec![Violation {
                kind: Kind::UnplannedEvent,
                path: "event".to_owned(),
                message,
            }],
        };
    };
    let spec = &plan.events[i];
    let mut violations = Vec::new();
    object(
        &spec.object,
        &event.properties,
        &Trail::ROOT,
        &mut violations,
    );
    let action = if violations.is_empty() {
        Action::Allow
    } else {
        spec.on_violation.unwrap_or(plan.on_violation)
    };
    Verdict { action, violations }
}

/// The name `word` was probably meant to be, by the trigger validator's
/// [`suggest`]. It proposes a name only within an edit distance of a third
/// of the word's length (at least 1), which the difference of lengths bounds
/// from below once `_`, `-` and spaces are left out (as it leaves them out);
/// so the names too far in length are left out here first, without the
/// allocations of normalising each: an unplanned event is common where a
/// plan covers part of a site, and it must stay cheap.
fn near<'n>(word: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let core = |s: &str| {
        s.bytes()
            .filter(|b| !matches!(b, b'_' | b'-' | b' '))
            .count()
    };
    let limit = (word.chars().count() / 3).max(1);
    let len = core(word);
    // Lower-casing may change the length of some non-ASCII letters: no
    // filter for them.
    let close: Vec<&str> = names
        .filter(|n| !(word.is_ascii() && n.is_ascii()) || core(n).abs_diff(len) <= limit)
        .collect();
    if close.is_empty() {
        return None;
    }
    suggest(word, &close)
}

/// One step of a value's path.
#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// The path to a value, from the value up to the event's `properties`.
struct Trail<'a> {
    parent: Option<&'a Trail<'a>>,
    seg: Seg<'a>,
}

impl<'a> Trail<'a> {
    const ROOT: Trail<'static> = Trail {
        parent: None,
        seg: Seg::Root,
    };

    fn key(&'a self, k: &'a str) -> Trail<'a> {
        Trail {
            parent: Some(self),
            seg: Seg::Key(k),
        }
    }

    /// `properties.products.0.price`: the trigger language's dotted path.
    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut t = Some(self);
        while let Some(cur) = t {
            segs.push(cur.seg);
            t = cur.parent;
        }
        let mut out = String::from("properties");
        for s in segs.iter().rev() {
            match s {
                Seg::Root => {}
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('.');
                    out.push_str(&i.to_string());
                }
            }
        }
        out
    }
}

fn push(out: &mut Vec<Violation>, kind: Kind, trail: &Trail<'_>, message: String) {
    out.push(Violation {
        kind,
        path: trail.render(),
        message,
    });
}

fn object(spec: &ObjectSpec, map: &Map<'_>, trail: &Trail<'_>, out: &mut Vec<Violation>) {
    let mut required_seen = 0;
    for (k, v) in map {
        // A null property is a missing one, as in the trigger language.
        if matches!(v, Value::Null) {
            continue;
        }
        match spec.index.find(k, |i| spec.props[i].name.as_str()) {
            Some(i) => {
                let p = &spec.props[i];
                required_seen += usize::from(p.required);
                value(&p.spec, v, &trail.key(k), out);
            }
            None if !spec.additional => {
                let names = spec.props.iter().map(|p| p.name.as_str());
                let message = match near(k, names) {
                    Some(h) => format!("property {k:?} is not in the plan (did you mean {h:?}?)"),
                    None => format!("property {k:?} is not in the plan"),
                };
                push(out, Kind::UnplannedProperty, &trail.key(k), message);
            }
            None => {}
        }
    }
    // Decoders refuse duplicate keys, so counting finds every missing one;
    // only then is the map searched for which.
    if required_seen < spec.required {
        for p in spec.props.iter().filter(|p| p.required) {
            let message = match map_get(map, &p.name) {
                None => "required property is missing",
                Some(Value::Null) => "required property is null (null counts as missing)",
                Some(_) => continue,
            };
            push(
                out,
                Kind::MissingRequired,
                &trail.key(&p.name),
                message.to_owned(),
            );
        }
    }
}

fn value(spec: &ValueSpec, v: &Value<'_>, trail: &Trail<'_>, out: &mut Vec<Violation>) {
    match (spec.ty, v) {
        (Type::String, Value::Str(s)) => string(spec, s, trail, out),
        (Type::Number, Value::Int(_) | Value::Float(_)) => number(spec, v, trail, out),
        (Type::Integer, Value::Int(_)) => number(spec, v, trail, out),
        // JSON and JavaScript do not tell 2.0 from 2.
        (Type::Integer, Value::Float(f)) if f.fract() == 0.0 => number(spec, v, trail, out),
        (Type::Boolean, Value::Bool(b)) => {
            if let Some(Enum::Bool(allowed)) = &spec.allowed {
                if !allowed.contains(b) {
                    let listed = list(allowed.iter().map(bool::to_string));
                    push(
                        out,
                        Kind::NotInEnum,
                        trail,
                        format!("{b} is not one of {listed}"),
                    );
                }
            }
        }
        (Type::Object, Value::Map(m)) => {
            if let Some(o) = &spec.object {
                object(o, m, trail, out);
            }
        }
        (Type::Array, Value::List(items)) => {
            if let Some(max) = spec.max_length {
                if items.len() > max as usize {
                    push(
                        out,
                        Kind::TooLong,
                        trail,
                        format!(
                            "array of {} items is longer than max_length {max}",
                            items.len()
                        ),
                    );
                }
            }
            if let Some(item) = &spec.items {
                for (i, x) in items.iter().enumerate() {
                    let t = Trail {
                        parent: Some(trail),
                        seg: Seg::Index(i),
                    };
                    // A null item is as good as missing: nothing to check.
                    if !matches!(x, Value::Null) {
                        value(item, x, &t, out);
                    }
                }
            }
        }
        _ => push(
            out,
            Kind::WrongType,
            trail,
            format!("expected {}, got {}", spec.ty.name(), describe(v)),
        ),
    }
}

fn string(spec: &ValueSpec, s: &str, trail: &Trail<'_>, out: &mut Vec<Violation>) {
    if let Some(Enum::Str(allowed)) = &spec.allowed {
        if !allowed.iter().any(|a| a == s) {
            let listed = list(allowed.iter().map(|a| format!("{a:?}")));
            push(
                out,
                Kind::NotInEnum,
                trail,
                format!("{} is not one of {listed}", quote(s)),
            );
        }
    }
    if let Some(re) = &spec.pattern {
        if !re.is_match(s) {
            push(
                out,
                Kind::PatternMismatch,
                trail,
                format!("{} does not match pattern {:?}", quote(s), re.as_str()),
            );
        }
    }
    if let Some(max) = spec.max_length {
        // Bytes bound characters from above: count only when they might be over.
        if s.len() > max as usize {
            let chars = s.chars().count();
            if chars > max as usize {
                push(
                    out,
                    Kind::TooLong,
                    trail,
                    format!("string of {chars} characters is longer than max_length {max}"),
                );
            }
        }
    }
}

fn number(spec: &ValueSpec, v: &Value<'_>, trail: &Trail<'_>, out: &mut Vec<Violation>) {
    let x = v.as_f64().unwrap_or(0.0);
    if let Some(Enum::Num(allowed)) = &spec.allowed {
        if !allowed.contains(&x) {
            let listed = list(allowed.iter().map(f64::to_string));
            push(
                out,
                Kind::NotInEnum,
                trail,
                format!("{} is not one of {listed}", show_number(v)),
            );
        }
    }
    if let Some(lo) = spec.minimum {
        if x < lo {
            push(
                out,
                Kind::BelowMinimum,
                trail,
                format!("{} is below the minimum {lo}", show_number(v)),
            );
        }
    }
    if let Some(hi) = spec.maximum {
        if x > hi {
            push(
                out,
                Kind::AboveMaximum,
                trail,
                format!("{} is above the maximum {hi}", show_number(v)),
            );
        }
    }
}

fn show_number(v: &Value<'_>) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        _ => String::new(),
    }
}

/// A value as messages name it: `string "89.58"`, `integer 3`, `array of 2 items`.
fn describe(v: &Value<'_>) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {f}"),
        Value::Str(s) => format!("string {}", quote(s)),
        Value::List(l) => format!("array of {} items", l.len()),
        Value::Map(m) => format!("object of {} keys", m.len()),
    }
}

/// A string value quoted, cut after [`PREVIEW_CHARS`] characters so that a
/// hostile value cannot make messages as large as itself.
fn quote(s: &str) -> String {
    match s.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn list(items: impl ExactSizeIterator<Item = String>) -> String {
    let n = items.len();
    let mut shown: Vec<String> = items.take(ENUM_LISTED).collect();
    if n > ENUM_LISTED {
        shown.push(format!("... ({n} values)"));
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length filter never changes what `suggest` says.
    #[test]
    fn near_agrees_with_suggest() {
        let names = [
            "$page",
            "$click",
            "Product Viewed",
            "Product Added",
            "Order Completed",
            "product_id",
            "price",
            "a",
            "Straße",
            "İstanbul",
        ];
        let words = [
            "$pag",
            "$clik",
            "product viewed",
            "Product_Viewed",
            "ProductViewed",
            "Product Add",
            "Order-Completed!",
            "productId",
            "prise",
            "b",
            "ab",
            "",
            "strasse",
            "STRASSE",
            "istanbul",
            "i̇stanbul",
            "x".repeat(40).leak(),
        ];
        for w in words {
            assert_eq!(near(w, names.iter().copied()), suggest(w, &names), "{w:?}");
        }
        assert_eq!(
            near("Product viewed", names.iter().copied()),
            Some("Product Viewed")
        );
    }
}
