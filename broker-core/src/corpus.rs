//! The reference clickstream's SDK calls (`examples/corpus/README.md`) as
//! events: the one mapping every replay, backtest and benchmark uses, so that
//! their figures agree.

use crate::event::{Event, EventKind, Map, Value};
use std::borrow::Cow;

/// Time zero of the corpus: `t` is added to this (2025-11-24T16:00:00Z).
pub const EPOCH_MS: u64 = 1_764_000_000_000;

/// One corpus line, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusEvent {
    /// The visit number.
    pub session: u64,
    /// The visitor (`anonymousId`).
    pub visitor: String,
    /// `userId` of identify calls.
    pub user_id: Option<String>,
    /// The event, with owned strings.
    pub event: Event<'static>,
}

/// Why a corpus line could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// The line is not JSON, or not an object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// A required field is missing or has the wrong type.
    #[error("field `{0}` is missing or has the wrong type")]
    Field(&'static str),
    /// `call` is not one of page, track, identify, click, submit.
    #[error("unknown call {0:?}")]
    UnknownCall(String),
}

/// True when a parsed JSON line looks like a corpus call (has `call` and `anonymousId`).
pub fn is_corpus_call(v: &serde_json::Value) -> bool {
    v.get("call").is_some() && v.get("anonymousId").is_some()
}

/// Maps one parsed corpus line to an event.
pub fn call_to_event(v: &serde_json::Value) -> Result<CorpusEvent, CorpusError> {
    let o = v
        .as_object()
        .ok_or_else(|| CorpusError::NotJson("not an object".into()))?;
    let str_field = |k: &'static str| -> Result<String, CorpusError> {
        o.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or(CorpusError::Field(k))
    };
    let visitor = str_field("anonymousId")?;
    let t = o
        .get("t")
        .and_then(|x| x.as_u64())
        .ok_or(CorpusError::Field("t"))?;
    let session = o.get("session").and_then(|x| x.as_u64()).unwrap_or(0);
    let call = str_field("call")?;
    let props_of = |k: &str| -> Map<'static> {
        match o.get(k) {
            Some(serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), Value::from(v)))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut user_id = None;
    let (kind, name, properties) = match call.as_str() {
        "page" => (
            EventKind::Page,
            o.get("name")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_owned(),
            props_of("properties"),
        ),
        "track" => (
            EventKind::Track,
            str_field("event")?,
            props_of("properties"),
        ),
        "identify" => {
            let uid = o
                .get("userId")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_owned();
            user_id = Some(uid.clone()).filter(|u| !u.is_empty());
            (EventKind::Identify, uid, props_of("traits"))
        }
        "click" => (EventKind::Click, String::new(), props_of("properties")),
        "submit" => (EventKind::Submit, String::new(), props_of("properties")),
        other => return Err(CorpusError::UnknownCall(other.to_owned())),
    };
    Ok(CorpusEvent {
        session,
        visitor,
        user_id,
        event: Event {
            kind,
            name: Cow::Owned(name),
            timestamp: EPOCH_MS + t,
            properties,
        },
    })
}

/// The corpus README's context rule: a page call's `campaign` property is
/// the context's campaign for that call and every later call of the same
/// visit (a later page call with a campaign replaces it); the corpus has no
/// other context. Feed every event of the input in order, get each one's
/// context view (as [`crate::context::context_map`] shapes it).
#[derive(Debug, Clone, Default)]
pub struct VisitContexts {
    /// Visitor ids hashed a word at a time: a replay looks one up per event, and
    /// SipHash cost more than the rest of the lookup.
    campaigns: std::collections::HashMap<
        String,
        Map<'static>,
        std::hash::BuildHasherDefault<crate::trigger::hash::WordHasher>,
    >,
}

impl VisitContexts {
    /// No visit seen yet.
    pub fn new() -> VisitContexts {
        VisitContexts::default()
    }

    /// The context of `event` of `visitor`, the next event of the input.
    pub fn context(&mut self, visitor: &str, event: &Event<'_>) -> Map<'static> {
        match self.campaign(visitor, event) {
            Some(c) => campaign_context(c),
            None => Vec::new(),
        }
    }

    /// [`VisitContexts::context`] borrowed: the campaign of `event`'s
    /// context (the one context member the corpus has), if any. Builds
    /// nothing: a replay compares it with the context it holds and makes a
    /// map ([`campaign_context`]) only when it changes.
    pub fn campaign(&mut self, visitor: &str, event: &Event<'_>) -> Option<&Map<'static>> {
        if event.kind == EventKind::Page {
            if let Some(Value::Map(c)) = event
                .properties
                .iter()
                .find(|(k, _)| k == "campaign")
                .map(|(_, v)| v)
            {
                let campaign = crate::context::campaign_map(c);
                if !campaign.is_empty() {
                    self.campaigns.insert(visitor.to_owned(), campaign);
                }
            }
        }
        if self.campaigns.is_empty() {
            return None;
        }
        self.campaigns.get(visitor)
    }
}

/// The context view of a campaign (see [`VisitContexts::campaign`]).
pub fn campaign_context(campaign: &Map<'static>) -> Map<'static> {
    vec![(Cow::Borrowed("campaign"), Value::Map(campaign.clone()))]
}

/// Whether `ctx` is the context view of `campaign` (none: the empty view),
/// without building it.
pub fn is_campaign_context(ctx: &Map<'_>, campaign: Option<&Map<'_>>) -> bool {
    match (ctx.as_slice(), campaign) {
        ([], None) => true,
        ([(k, Value::Map(m))], Some(c)) => k == "campaign" && m == c,
        _ => false,
    }
}

/// Parses a whole corpus file (JSON lines), skipping blank lines.
pub fn parse_corpus(text: &str) -> Result<Vec<CorpusEvent>, (usize, CorpusError)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .map_err(|e| (i + 1, CorpusError::NotJson(e.to_string())))?;
            call_to_event(&v).map_err(|e| (i + 1, e))
        })
        .collect()
}

/// The path of the reference corpus from a crate directory of this workspace
/// (`<workspace>/examples/corpus/clickstream.jsonl`, kept in the repository),
/// for tests and benches. `EVENTSTREAM_CORPUS` overrides it.
pub fn reference_corpus_path(crate_dir: &str) -> std::path::PathBuf {
    if let Ok(p) = std::env::var("EVENTSTREAM_CORPUS") {
        return p.into();
    }
    // Every crate of the workspace is one folder below its root.
    std::path::Path::new(crate_dir).join("../examples/corpus/clickstream.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_compared_without_building_its_context() {
        let call = |j: serde_json::Value| call_to_event(&j).unwrap();
        let landing = call(
            serde_json::json!({"anonymousId":"a","t":1,"call":"page","properties":{"campaign":{"source":"news"}}}),
        );
        let click =
            call(serde_json::json!({"anonymousId":"a","t":2,"call":"click","properties":{}}));
        let other =
            call(serde_json::json!({"anonymousId":"b","t":3,"call":"click","properties":{}}));
        let mut v = VisitContexts::new();
        assert_eq!(v.campaign("b", &other.event), None);
        let built = v.context("a", &landing.event);
        assert_eq!(built.len(), 1);
        let c = v.campaign("a", &click.event).cloned();
        assert!(is_campaign_context(&built, c.as_ref()));
        assert_eq!(campaign_context(c.as_ref().unwrap()), built);
        assert!(!is_campaign_context(&built, None));
        assert!(is_campaign_context(&Vec::new(), None));
        assert!(!is_campaign_context(&Vec::new(), c.as_ref()));
        assert_eq!(v.campaign("b", &other.event), None);
    }

    #[test]
    fn maps_each_call_kind_as_the_corpus_readme_says() {
        let page = serde_json::json!({"session":0,"anonymousId":"a","t":11223,"call":"page","name":"Home","properties":{"path":"/"}});
        let e = call_to_event(&page).unwrap();
        assert_eq!(e.event.kind, EventKind::Page);
        assert_eq!(e.event.timestamp, 1_764_000_011_223);
        assert_eq!(e.event.trigger_name(), "$page");
        assert_eq!(
            e.event.properties.len(),
            1,
            "a page call's name is not a property"
        );

        let ident = serde_json::json!({"session":7,"anonymousId":"b","t":1,"call":"identify","userId":"u-7","traits":{"plan":"free"}});
        let e = call_to_event(&ident).unwrap();
        assert_eq!(e.user_id.as_deref(), Some("u-7"));
        assert_eq!(e.event.trigger_name(), "$identify");
        assert_eq!(e.event.properties[0].0, "plan");

        let bad = serde_json::json!({"anonymousId":"b","t":1,"call":"alias"});
        assert_eq!(
            call_to_event(&bad),
            Err(CorpusError::UnknownCall("alias".into()))
        );
    }
}
