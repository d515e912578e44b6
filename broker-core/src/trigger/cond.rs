//! Conditions on properties and traits: dotted paths and the operators.

use crate::event::{Map, Value};
use std::cmp::Ordering;

/// The operators, in the spec's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Exists,
}

impl Op {
    pub const NAMES: [&'static str; 12] = [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "ends_with",
        "exists",
    ];
    const ALL: [Op; 12] = [
        Op::Eq,
        Op::Ne,
        Op::Gt,
        Op::Gte,
        Op::Lt,
        Op::Lte,
        Op::In,
        Op::NotIn,
        Op::Contains,
        Op::StartsWith,
        Op::EndsWith,
        Op::Exists,
    ];

    pub fn from_name(s: &str) -> Option<Op> {
        Op::NAMES.iter().position(|n| *n == s).map(|i| Op::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Op::NAMES[Op::ALL.iter().position(|o| *o == self).unwrap_or(0)]
    }
}

/// One segment of a dotted path.
#[derive(Debug, Clone)]
pub(crate) struct Seg {
    key: Box<str>,
    /// Set when the segment is all digits: it indexes a list.
    index: Option<usize>,
}

/// A parsed dotted path (`products.0.price`).
#[derive(Debug, Clone)]
pub(crate) struct Path(Vec<Seg>);

impl Path {
    /// Splits on `.`; the caller has checked that no segment is empty.
    pub fn parse(s: &str) -> Path {
        Path(
            s.split('.')
                .map(|k| Seg {
                    key: k.into(),
                    index: if k.bytes().all(|b| b.is_ascii_digit()) {
                        k.parse().ok()
                    } else {
                        None
                    },
                })
                .collect(),
        )
    }

    /// The path as written (`products.0.price`).
    pub fn text(&self) -> String {
        let keys: Vec<&str> = self.0.iter().map(|s| &*s.key).collect();
        keys.join(".")
    }

    /// The value the path leads to; `None` when it leads nowhere or to `null`.
    pub fn resolve<'m, 'a>(&self, props: &'m Map<'a>) -> Option<&'m Value<'a>> {
        let (first, rest) = self.0.split_first()?;
        let mut v = props
            .iter()
            .find(|(k, _)| same_str(k, &first.key))
            .map(|(_, v)| v)?;
        for seg in rest {
            v = match v {
                Value::Map(m) => m
                    .iter()
                    .find(|(k, _)| same_str(k, &seg.key))
                    .map(|(_, v)| v)?,
                Value::List(l) => l.get(seg.index?)?,
                _ => return None,
            };
        }
        match v {
            Value::Null => None,
            v => Some(v),
        }
    }
}

/// String equality that settles most mismatches on length and first byte
/// without a call to `memcmp` (property names are short and many share a
/// length).
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// What a condition's path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum On {
    /// `prop`: the event's properties.
    Prop,
    /// `trait`: the visitor's traits.
    Trait,
    /// `context`: the event's context (campaign, session, geo, device, ...).
    Context,
}

/// `prop` (or `trait`, or `context`) `op` `value`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// What `path` reads.
    pub on: On,
    pub path: Path,
    pub op: Op,
    pub value: Value<'static>,
    /// Its index in the engine's table of distinct step conditions, where
    /// the result on the current event is kept ([`NO_MEMO`] outside steps).
    pub memo: u32,
}

/// [`Condition::memo`] of a condition the engine does not keep results of.
pub(crate) const NO_MEMO: u32 = u32::MAX;

/// The results of the step conditions on the current event, so that a
/// condition several steps share (the same filter in many triggers, or
/// copies of a trigger) is evaluated once per event.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// By [`Condition::memo`]: the event stamp it was computed for, and
    /// the result.
    results: Vec<(u32, bool)>,
    /// The current event's stamp; never 0, which marks "not computed".
    stamp: u32,
}

impl Memo {
    /// Numbers the conditions of `steps`, equal ones alike, and returns the
    /// memo sized for them.
    pub fn number<'s>(steps: impl Iterator<Item = &'s mut super::model::Step>) -> Memo {
        let mut distinct: Vec<&Condition> = Vec::new();
        let mut ids = Vec::new();
        let mut conditions: Vec<&mut Condition> = Vec::new();
        for step in steps {
            conditions.extend(step.conditions.iter_mut());
        }
        for c in &conditions {
            let id = match distinct.iter().position(|d| d.same_as(c)) {
                Some(id) => id,
                None => {
                    distinct.push(c);
                    distinct.len() - 1
                }
            };
            ids.push(id as u32);
        }
        let n = distinct.len();
        for (c, id) in conditions.into_iter().zip(ids) {
            c.memo = id;
        }
        Memo {
            results: vec![(0, false); n],
            stamp: 1,
        }
    }

    /// Forgets the results: the next event is another one.
    #[inline]
    pub fn next_event(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.results.fill((0, false));
            self.stamp = 1;
        }
    }

    /// Whether `c` holds on the current event's properties `props`.
    #[inline]
    pub fn holds(&mut self, c: &Condition, props: &Map<'_>) -> bool {
        match self.results.get_mut(c.memo as usize) {
            Some((stamp, held)) if *stamp == self.stamp => *held,
            Some(slot) => {
                let held = c.holds_on(props);
                *slot = (self.stamp, held);
                held
            }
            None => c.holds_on(props),
        }
    }
}

impl Condition {
    /// True when `other` is the same test: same path, operator and value.
    pub fn same_as(&self, other: &Condition) -> bool {
        self.on == other.on
            && self.op == other.op
            && self.value == other.value
            && self.path.0.len() == other.path.0.len()
            && self
                .path
                .0
                .iter()
                .zip(&other.path.0)
                .all(|(a, b)| a.key == b.key)
    }

    /// Whether the condition holds on a property map.
    #[inline]
    pub fn holds_on(&self, props: &Map<'_>) -> bool {
        holds(self.op, self.path.resolve(props), &self.value)
    }
}

/// Whether `needle` occurs in `hay`, as `str::contains` says for UTF-8
/// (a UTF-8 needle only matches at character boundaries). Property values
/// are short: finding the needle's first byte, then comparing, costs a
/// third of what setting up `str::contains`'s searcher did per call.
fn contains(hay: &str, needle: &str) -> bool {
    if hay.len() > 256 {
        // Long values keep the searcher, linear in the worst case.
        return hay.contains(needle);
    }
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    (0..=last).any(|i| hay[i] == first && &hay[i + 1..i + needle.len()] == rest)
}

/// Whether `prop op value` holds; `prop` is `None` when missing.
pub(crate) fn holds(op: Op, prop: Option<&Value<'_>>, value: &Value<'_>) -> bool {
    match op {
        Op::Ne => return !holds(Op::Eq, prop, value),
        Op::NotIn => return !holds(Op::In, prop, value),
        Op::Exists => return prop.is_some() == matches!(value, Value::Bool(true)),
        _ => {}
    }
    let Some(p) = prop else { return false };
    match op {
        Op::Eq => deep_eq(p, value),
        Op::Gt => order(p, value) == Some(Ordering::Greater),
        Op::Gte => matches!(order(p, value), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => order(p, value) == Some(Ordering::Less),
        Op::Lte => matches!(order(p, value), Some(Ordering::Less | Ordering::Equal)),
        Op::In => match value {
            Value::List(l) => l.iter().any(|x| deep_eq(p, x)),
            _ => false,
        },
        Op::Contains => match (p, value) {
            (Value::Str(s), Value::Str(v)) => contains(s, v),
            (Value::List(l), v) => l.iter().any(|x| deep_eq(x, v)),
            _ => false,
        },
        Op::StartsWith => match (p, value) {
            (Value::Str(s), Value::Str(v)) => s.starts_with(&**v),
            _ => false,
        },
        Op::EndsWith => match (p, value) {
            (Value::Str(s), Value::Str(v)) => s.ends_with(&**v),
            _ => false,
        },
        Op::Ne | Op::NotIn | Op::Exists => false,
    }
}

/// Numbers by value (integers exactly), strings by code point; anything else
/// (booleans included) does not order.
fn order(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Deep equality where `1` equals `1.0` and object key order does not matter.
fn deep_eq(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => same_str(x, y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| k2 == k)
                        .is_some_and(|(_, v2)| deep_eq(v, v2))
                })
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn props() -> Map<'static> {
        let j = serde_json::json!({
            "price": 50, "ratio": 0.5, "name": "Trail Shoe", "flag": true, "none": null,
            "tags": ["a", "b"], "products": [{"price": 12.5}, {"price": 80}],
            "obj": {"x": 1, "y": [1, 2]}
        });
        match Value::from(&j) {
            Value::Map(m) => m,
            _ => unreachable!(),
        }
    }

    fn check(path: &str, op: &str, value: serde_json::Value) -> bool {
        let c = Condition {
            on: On::Prop,
            path: Path::parse(path),
            op: Op::from_name(op).expect("op"),
            value: Value::from(&value),
            memo: NO_MEMO,
        };
        c.holds_on(&props())
    }

    #[test]
    fn every_operator_on_its_edges() {
        use serde_json::json;
        let table: &[(&str, &str, serde_json::Value, bool)] = &[
            ("price", "eq", json!(50), true),
            ("price", "eq", json!(50.0), true),
            ("price", "eq", json!("50"), false),
            ("price", "ne", json!("50"), true),
            ("missing", "ne", json!(1), true),
            ("none", "ne", json!(1), true),
            ("price", "gte", json!(50), true),
            ("price", "gt", json!(50), false),
            ("price", "gt", json!(49.99), true),
            ("ratio", "lt", json!(1), true),
            ("ratio", "lte", json!(0.5), true),
            ("name", "gt", json!("Trail"), true),
            ("name", "lt", json!("trail"), true),
            ("flag", "gt", json!(0), false),
            ("flag", "eq", json!(true), true),
            ("flag", "eq", json!(1), false),
            ("price", "gt", json!("1"), false),
            ("price", "in", json!([1, 50]), true),
            ("price", "not_in", json!([1, 50]), false),
            ("missing", "not_in", json!([1]), true),
            ("missing", "in", json!([1]), false),
            ("name", "contains", json!("Shoe"), true),
            ("name", "contains", json!("shoe"), false),
            ("tags", "contains", json!("b"), true),
            ("tags", "contains", json!("c"), false),
            ("price", "contains", json!("5"), false),
            ("name", "starts_with", json!("Trail"), true),
            ("name", "ends_with", json!("Shoe"), true),
            ("name", "ends_with", json!("Trail"), false),
            ("price", "starts_with", json!("5"), false),
            ("price", "exists", json!(true), true),
            ("none", "exists", json!(true), false),
            ("none", "exists", json!(false), true),
            ("missing", "exists", json!(false), true),
            ("products.1.price", "gte", json!(50), true),
            ("products.0.price", "eq", json!(12.5), true),
            ("products.2.price", "exists", json!(false), true),
            ("products.x.price", "exists", json!(true), false),
            ("name.first", "exists", json!(true), false),
            ("obj", "eq", json!({"y": [1, 2], "x": 1.0}), true),
            ("obj", "eq", json!({"y": [2, 1], "x": 1}), false),
            ("obj.y", "eq", json!([1, 2]), true),
            ("obj.y", "contains", json!(2), true),
            ("missing", "eq", json!(1), false),
            ("missing", "gt", json!(1), false),
            ("missing", "contains", json!("a"), false),
        ];
        for (path, op, value, want) in table {
            assert_eq!(check(path, op, value.clone()), *want, "{path} {op} {value}");
        }
    }

    #[test]
    fn digit_segment_is_a_key_on_objects() {
        let m: Map<'static> = vec![(
            Cow::Borrowed("o"),
            Value::Map(vec![(Cow::Borrowed("0"), Value::Int(7))]),
        )];
        assert_eq!(Path::parse("o.0").resolve(&m), Some(&Value::Int(7)));
    }

    #[test]
    fn op_names_round_trip() {
        for n in Op::NAMES {
            assert_eq!(Op::from_name(n).map(Op::name), Some(n));
        }
    }

    proptest::proptest! {
        /// `contains` says what `str::contains` says, for ASCII and
        /// multi-byte text, short values and long ones.
        #[test]
        fn contains_is_str_contains(
            hay in "[ab\u{e9}\u{8bbf}]{0,12}|[ab]{250,300}",
            needle in "[ab\u{e9}\u{8bbf}]{0,4}",
        ) {
            proptest::prop_assert_eq!(super::contains(&hay, &needle), hay.contains(&*needle));
        }
    }
}
