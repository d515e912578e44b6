//! The fast path for backtest input lines: one typed, borrowing parse straight
//! into an [`Event`], with no intermediate `serde_json::Value` tree. It
//! accepts only what it can map exactly as `corpus::call_to_event` and
//! `export::event_record_from_json` do; anything else (including every
//! malformed line) returns `None` and goes the slow, canonical way, which also
//! words the error.

use broker_core::corpus::EPOCH_MS;
use broker_core::{Event, EventKind, Map, Value};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// A field that may be absent, `null`, or a value.
#[derive(Default)]
enum Tri<T> {
    #[default]
    Absent,
    Null,
    Is(T),
}

fn tri<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Tri<T>, D::Error> {
    Ok(match Option::<T>::deserialize(d)? {
        None => Tri::Null,
        Some(v) => Tri::Is(v),
    })
}

/// The union of both line shapes' fields.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default, borrow, rename = "anonymousId", deserialize_with = "tri")]
    anonymous_id: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    call: Tri<&'a str>,
    #[serde(default, deserialize_with = "tri")]
    t: Tri<u64>,
    #[serde(default, borrow, deserialize_with = "tri")]
    event: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    name: Tri<&'a str>,
    #[serde(default, borrow, rename = "userId")]
    user_id: Option<&'a str>,
    #[serde(default)]
    session: Option<u64>,
    #[serde(default, borrow)]
    properties: Option<Json<'a>>,
    #[serde(default, borrow)]
    traits: Option<Json<'a>>,
    #[serde(default, borrow, deserialize_with = "tri")]
    visitor: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    kind: Tri<&'a str>,
    #[serde(default, deserialize_with = "tri")]
    time: Tri<u64>,
    #[serde(default, deserialize_with = "tri")]
    offset: Tri<u64>,
    #[serde(default, deserialize_with = "tri")]
    partition: Tri<u64>,
}

/// `(visitor, event, offset)` when the line maps exactly; `None` otherwise.
/// The visitor is borrowed from the line (a copy per event cost an
/// allocation the replay mostly drops at once).
pub fn parse(line: &str, ordinal: u64) -> Option<(&str, Event<'_>, u64)> {
    let l: Line<'_> = serde_json::from_str(line).ok()?;
    let _ = (&l.user_id, l.session); // typed above so that a wrong type falls back
    if !matches!(l.call, Tri::Absent) && !matches!(l.anonymous_id, Tri::Absent) {
        let (Tri::Is(visitor), Tri::Is(call), Tri::Is(t)) = (l.anonymous_id, l.call, l.t) else {
            return None;
        };
        let (kind, name, properties) = match call {
            "page" => {
                let name = match l.name {
                    Tri::Is(n) => n,
                    _ => "",
                };
                (EventKind::Page, name, props(l.properties)?)
            }
            "track" => match l.event {
                Tri::Is(e) => (EventKind::Track, e, props(l.properties)?),
                _ => return None,
            },
            "identify" => {
                let uid = l.user_id.unwrap_or("");
                (EventKind::Identify, uid, props(l.traits)?)
            }
            "click" => (EventKind::Click, "", props(l.properties)?),
            "submit" => (EventKind::Submit, "", props(l.properties)?),
            _ => return None,
        };
        let event = Event {
            kind,
            name: Cow::Borrowed(name),
            timestamp: EPOCH_MS.checked_add(t)?,
            properties,
        };
        return Some((visitor, event, ordinal));
    }
    let (Tri::Is(visitor), Tri::Is(kind), Tri::Is(time)) = (l.visitor, l.kind, l.time) else {
        return None;
    };
    let kind = EventKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    let name = match l.name {
        Tri::Absent => "",
        Tri::Null => return None,
        Tri::Is(n) => n,
    };
    let offset = match l.offset {
        Tri::Absent => ordinal,
        Tri::Null => return None,
        Tri::Is(o) => o,
    };
    match l.partition {
        Tri::Absent => {}
        Tri::Is(p) if u32::try_from(p).is_ok() => {}
        _ => return None,
    }
    let properties = props(l.properties)?;
    Some((
        visitor,
        Event {
            kind,
            name: Cow::Borrowed(name),
            timestamp: time,
            properties,
        },
        offset,
    ))
}

/// Properties: absent or `null` is empty, an object is the map, anything
/// else is for the slow path to judge.
fn props(p: Option<Json<'_>>) -> Option<Map<'_>> {
    match p.map(|j| j.0) {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Map(m)) => Some(m),
        Some(_) => None,
    }
}

/// A JSON value as an event [`Value`], strings borrowed where the input
/// allows. A repeated object key keeps its last value, as `serde_json` does.
struct Json<'a>(Value<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor(std::marker::PhantomData))
            .map(Json)
    }
}

struct JsonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Value<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value<'a>, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value<'a>, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value<'a>, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value<'a>, E> {
        Ok(Value::Float(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
        let mut out = Vec::new();
        while let Some(Json(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
        let mut out: Map<'a> = Vec::new();
        while let Some(Json(key)) = map.next_key::<Json<'a>>()? {
            let Value::Str(k) = key else {
                return Err(serde::de::Error::custom("object keys are strings"));
            };
            let Json(v) = map.next_value::<Json<'a>>()?;
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::backtest::slow_line;
    use super::*;
    use broker_core::partition::EventRecord;
    use broker_core::{corpus, export};

    /// The engine reads properties by key: their order, at every depth, is
    /// not part of the mapping (the slow path sorts JSON object keys, the
    /// fast one keeps the input's order).
    fn sorted(mut e: Event<'_>) -> Event<'_> {
        fn map(m: &mut Map<'_>) {
            m.sort_by(|a, b| a.0.cmp(&b.0));
            m.iter_mut().for_each(|(_, v)| value(v));
        }
        fn value(v: &mut Value<'_>) {
            match v {
                Value::Map(m) => map(m),
                Value::List(l) => l.iter_mut().for_each(value),
                _ => {}
            }
        }
        map(&mut e.properties);
        e
    }

    /// `line` through both paths. Whatever the fast path takes must map
    /// exactly as the slow path does; returns whether it took it.
    fn agree(line: &str, ordinal: u64) -> bool {
        let Some((v, e, o)) = parse(line, ordinal) else {
            return false;
        };
        let (sv, se, so) = slow_line(line, ordinal).unwrap_or_else(|why| {
            panic!("the fast path took a line the slow one rejects ({why}): {line}")
        });
        assert_eq!((v, sorted(e), o), (&*sv, sorted(se), so), "{line}");
        true
    }

    /// Every line of the reference corpus, as the SDK call it is and as the
    /// relay exports the same event (`tail`'s shape): the fast path takes
    /// each one whose top-level strings have no escape, and maps it exactly
    /// as the canonical mappings do.
    #[test]
    fn agrees_with_the_slow_path_over_the_whole_reference_corpus() {
        let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the reference corpus {}: {e}", path.display()));
        let (mut lines, mut fast) = (0, 0);
        for (i, line) in text.lines().enumerate() {
            let ordinal = i as u64;
            let (visitor, event, _) = slow_line(line, ordinal)
                .unwrap_or_else(|why| panic!("corpus line {}: {why}", i + 1));
            let user_id = (event.kind == EventKind::Identify).then(|| event.name.to_string());
            let record = export::event_record_to_json(&EventRecord {
                partition: 1,
                offset: 1_000_000 + ordinal,
                visitor,
                user_id,
                event,
                source: Default::default(),
                violations: Vec::new(),
            })
            .to_string();
            for l in [line, record.as_str()] {
                lines += 1;
                if agree(l, ordinal) {
                    fast += 1;
                } else {
                    // Only a string that needs unescaping cannot be borrowed.
                    assert!(l.contains('\\'), "the fast path declined {l}");
                }
            }
        }
        assert!(lines >= 2 * 10_000, "the whole corpus: {lines} lines");
        assert!(
            fast * 100 >= lines * 99,
            "the fast path took {fast} of {lines}"
        );
    }

    /// Edge cases the corpus does not have: what the fast path takes agrees,
    /// and it leaves the rest (some valid, some not) to the slow path.
    #[test]
    fn edge_cases_agree_or_defer() {
        let taken = [
            r#"{"session":0,"anonymousId":"a","t":11223,"call":"page","name":"Home","properties":{"path":"/","n":1,"f":1.5,"big":18446744073709551615,"l":[1,"x",null],"o":{"k":true}}}"#,
            r#"{"anonymousId":"a","t":1,"call":"page","name":null,"properties":null}"#,
            r#"{"anonymousId":"a","t":1,"call":"identify","userId":"u-1","traits":{"plan":"free","plan":"plus"}}"#,
            r#"{"anonymousId":"a","t":1,"call":"click"}"#,
            r#"{"anonymousId":"a","t":1,"call":"submit","properties":{}}"#,
            r#"{"partition":0,"offset":42,"visitor":"v","userId":null,"kind":"track","name":"X","time":5,"properties":{"a":1}}"#,
            r#"{"visitor":"v","kind":"page","time":5}"#,
            r#"{"visitor":"v","kind":"identify","name":"u","time":5,"properties":null,"userId":"u"}"#,
        ];
        let deferred = [
            // An escaped string cannot be borrowed.
            r#"{"anonymousId":"a","t":1,"call":"track","event":"Product \"Added\"","properties":{"price":50}}"#,
            r#"{"anonymousId":"a","t":1,"call":"track","properties":{}}"#,
            r#"{"anonymousId":"a","t":1,"call":"page","name":3,"properties":"x"}"#,
            r#"{"anonymousId":"a","t":1,"call":"alias"}"#,
            r#"{"visitor":"v","kind":"track","name":null,"time":5}"#,
            r#"{"visitor":"v","kind":"track","time":5,"offset":null}"#,
            r#"{"visitor":"v","kind":"teleport","time":5}"#,
            r#"{"visitor":"v","kind":"track","time":5,"partition":4294967296}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":[1]}"#,
            r#"{"visitor":"v","kind":"track","time":5,"userId":7}"#,
            r#"{"visitor":"v","kind":"track","time":-5}"#,
            r#"[1,2]"#,
            r#"{not json"#,
        ];
        for line in taken {
            assert!(agree(line, 9), "the fast path takes {line}");
        }
        for line in deferred {
            assert!(parse(line, 9).is_none(), "the fast path defers {line}");
        }
        // The deferred escaped line is valid: the slow path maps it.
        assert!(slow_line(deferred[0], 9).is_ok());
    }
}
