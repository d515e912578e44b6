//! An event's context as triggers, exports and the archive address it:
//! the frame's context under the paths of the trigger spec's "Context"
//! section (`campaign.name`, `session_id`, `screen.width`, ...).
//!
//! The SDK sends campaign parameters under their URL names (`utm_source`);
//! the view names them as the spec does (`campaign.source`). Empty values
//! (an empty referrer, a zero screen, session 0) are left out, so that a
//! condition on them sees a missing value, as for any absent property.
//!
//! ```
//! use broker_core::context::{context_map, context_from_map};
//! use broker_core::frame::Context;
//! use broker_core::{Map, Value};
//! use std::borrow::Cow;
//!
//! let ctx = Context {
//!     anonymous_id: "v-1".into(),
//!     session_id: 3,
//!     referrer: "https://news.example/".into(),
//!     campaign: vec![(Cow::from("utm_campaign"), Value::Str("winter-sale".into()))],
//!     ..Context::default()
//! };
//! let view = context_map(&ctx);
//! let campaign = view.iter().find(|(k, _)| k == "campaign").map(|(_, v)| v);
//! assert_eq!(campaign.and_then(|c| c.get("name")), Some(&Value::Str("winter-sale".into())));
//! // And back (an exported record read again), in the spec's names.
//! let back = context_from_map(&view);
//! assert_eq!((back.session_id, back.referrer.as_ref()), (3, "https://news.example/"));
//! ```

use crate::event::{Map, Value};
use crate::frame::Context;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The paths a trigger condition may name with `context` (the spec's
/// "Context" table), and the objects that hold them (for `exists`).
pub const CONTEXT_PATHS: &[&str] = &[
    "campaign",
    "campaign.name",
    "campaign.source",
    "campaign.medium",
    "campaign.term",
    "campaign.content",
    "campaign.gclid",
    "campaign.fbclid",
    "session_id",
    "referrer",
    "origin",
    "locale",
    "timezone",
    "library",
    "screen",
    "screen.width",
    "screen.height",
    "geo",
    "geo.country",
    "geo.region",
    "geo.city",
    "geo.continent",
    "geo.timezone",
    "geo.asn",
    "device",
    "device.type",
    "device.browser",
    "device.version",
    "device.os",
    "bot",
];

/// The campaign fields, as the spec names them, and the URL parameter each
/// comes from.
pub const CAMPAIGN_FIELDS: [(&str, &str); 7] = [
    ("name", "utm_campaign"),
    ("source", "utm_source"),
    ("medium", "utm_medium"),
    ("term", "utm_term"),
    ("content", "utm_content"),
    ("gclid", "gclid"),
    ("fbclid", "fbclid"),
];

fn str_value(s: &str) -> Value<'static> {
    Value::Str(Cow::Owned(s.to_owned()))
}

/// The campaign map in the spec's names: `utm_campaign` becomes `name`, and
/// so on; a key already in the spec's names stays; others are kept as sent.
pub fn campaign_map(campaign: &Map<'_>) -> Map<'static> {
    campaign_in(campaign, &Owned)
}

/// The context of `ctx` under the spec's paths, empty values left out.
pub fn context_map(ctx: &Context<'_>) -> Map<'static> {
    context_in(ctx, &Owned)
}

/// [`context_map`] borrowing its strings from `ctx`: what triggers read
/// on the append path, made for every frame.
pub(crate) fn context_view<'a>(ctx: &'a Context<'_>) -> Map<'a> {
    context_in(ctx, &Borrowed)
}

/// How the views take the context's strings and values: copied, or
/// borrowed.
trait Take<'a, 'c> {
    fn str(&self, s: &'a str) -> Cow<'c, str>;
    fn value(&self, v: &'a Value<'_>) -> Value<'c>;
}

struct Owned;
struct Borrowed;

impl<'a> Take<'a, 'static> for Owned {
    fn str(&self, s: &'a str) -> Cow<'static, str> {
        Cow::Owned(s.to_owned())
    }
    fn value(&self, v: &'a Value<'_>) -> Value<'static> {
        v.clone().into_owned()
    }
}

impl<'a> Take<'a, 'a> for Borrowed {
    fn str(&self, s: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(s)
    }
    fn value(&self, v: &'a Value<'_>) -> Value<'a> {
        v.clone()
    }
}

fn campaign_in<'a, 'c>(campaign: &'a Map<'_>, take: &impl Take<'a, 'c>) -> Map<'c> {
    let mut out: Map<'c> = Vec::new();
    for (k, v) in campaign {
        let name = CAMPAIGN_FIELDS
            .iter()
            .find(|(_, param)| param == k)
            .map_or(k.as_ref(), |(name, _)| name);
        if matches!(v, Value::Str(s) if s.is_empty()) || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        out.push((take.str(name), take.value(v)));
    }
    out
}

fn context_in<'a, 'c>(ctx: &'a Context<'_>, take: &impl Take<'a, 'c>) -> Map<'c> {
    // At most 8 entries: one allocation.
    let mut m: Map<'c> = Vec::with_capacity(8);
    let campaign = campaign_in(&ctx.campaign, take);
    if !campaign.is_empty() {
        m.push((Cow::Borrowed("campaign"), Value::Map(campaign)));
    }
    if ctx.session_id != 0 {
        m.push((
            Cow::Borrowed("session_id"),
            Value::Int(i64::try_from(ctx.session_id).unwrap_or(i64::MAX)),
        ));
    }
    for (key, s) in [
        ("referrer", &ctx.referrer),
        ("origin", &ctx.origin),
        ("locale", &ctx.locale),
        ("timezone", &ctx.timezone),
        ("library", &ctx.library),
    ] {
        if !s.is_empty() {
            m.push((Cow::Borrowed(key), Value::Str(take.str(s))));
        }
    }
    if ctx.screen_width != 0 || ctx.screen_height != 0 {
        m.push((
            Cow::Borrowed("screen"),
            Value::Map(vec![
                (Cow::Borrowed("width"), Value::Int(ctx.screen_width.into())),
                (
                    Cow::Borrowed("height"),
                    Value::Int(ctx.screen_height.into()),
                ),
            ]),
        ));
    }
    m
}

/// What the relay knows of a request and the page does not: where it came
/// from, on what device, and whether a bot sent it. Added to the context of
/// every event of the frame (`geo.*`, `device.*`, `bot`) before triggers
/// run. Every field is optional: a local runtime has no place, a request
/// without a user agent no device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrichment {
    /// From the runtime's request properties (Cloudflare's `request.cf`).
    pub geo: Geo,
    /// From the user agent.
    pub device: Device,
    /// True for a known crawler's user agent, a verified bot, or a low bot
    /// score; `None` when nothing was known.
    pub bot: Option<bool>,
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Region (state, province) name.
    pub region: Option<String>,
    /// City name.
    pub city: Option<String>,
    /// Continent code (`EU`, `NA`, ...).
    pub continent: Option<String>,
    /// IANA time zone of the place.
    pub timezone: Option<String>,
    /// Autonomous system number of the client's network.
    pub asn: Option<u32>,
}

/// What a request was sent with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// `desktop`, `mobile`, `tablet`, `bot` or `other`.
    pub kind: Option<String>,
    /// Browser name (`Chrome`, `Safari`, ...).
    pub browser: Option<String>,
    /// Browser version.
    pub version: Option<String>,
    /// Operating system (`Windows 10`, `Mac OSX`, `Android`, `iPhone`, ...).
    pub os: Option<String>,
}

impl Enrichment {
    /// Adds `geo`, `device` and `bot` to a context view (what is unknown is
    /// left out, like any missing value).
    pub fn add_to(&self, view: &mut Map<'_>) {
        let fields = |pairs: &[(&'static str, &Option<String>)]| -> Map<'static> {
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (Cow::Borrowed(*k), str_value(v))))
                .collect()
        };
        let g = &self.geo;
        let mut geo = fields(&[
            ("country", &g.country),
            ("region", &g.region),
            ("city", &g.city),
            ("continent", &g.continent),
            ("timezone", &g.timezone),
        ]);
        if let Some(asn) = g.asn {
            geo.push((Cow::Borrowed("asn"), Value::Int(asn.into())));
        }
        let d = &self.device;
        let device = fields(&[
            ("type", &d.kind),
            ("browser", &d.browser),
            ("version", &d.version),
            ("os", &d.os),
        ]);
        for (key, m) in [("geo", geo), ("device", device)] {
            if !m.is_empty() {
                view.retain(|(k, _)| k != key);
                view.push((Cow::Borrowed(key), Value::Map(m)));
            }
        }
        if let Some(bot) = self.bot {
            view.retain(|(k, _)| k != "bot");
            view.push((Cow::Borrowed("bot"), Value::Bool(bot)));
        }
    }
}

/// A context from its view (an exported record's `context`), the inverse of
/// [`context_map`] for every field it writes. The anonymous and user ids
/// are not part of the view; the caller sets them.
pub fn context_from_map(m: &Map<'_>) -> Context<'static> {
    let get = |key: &str| m.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let text = |key: &str| match get(key) {
        Some(Value::Str(s)) => Cow::Owned(s.to_string()),
        _ => Cow::Borrowed(""),
    };
    let int = |v: Option<&Value<'_>>| match v {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    let screen = |dim: &str| match get("screen") {
        Some(s) => u16::try_from(int(s.get(dim))).unwrap_or(0),
        None => 0,
    };
    let campaign = match get("campaign") {
        Some(Value::Map(c)) => c
            .iter()
            .map(|(k, v)| (Cow::Owned(k.to_string()), v.clone().into_owned()))
            .collect(),
        _ => Vec::new(),
    };
    Context {
        session_id: u64::try_from(int(get("session_id"))).unwrap_or(0),
        origin: text("origin"),
        referrer: text("referrer"),
        locale: text("locale"),
        timezone: text("timezone"),
        library: text("library"),
        screen_width: screen("width"),
        screen_height: screen("height"),
        campaign,
        ..Context::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn campaign_parameters_take_the_spec_names_and_empties_go() {
        let ctx = Context {
            anonymous_id: "v".into(),
            origin: "https://shop.example".into(),
            screen_width: 1440,
            screen_height: 900,
            campaign: vec![
                (Cow::from("utm_source"), Value::Str("news".into())),
                (Cow::from("utm_medium"), Value::Str("email".into())),
                (Cow::from("utm_campaign"), Value::Str("winter-sale".into())),
                (Cow::from("utm_term"), Value::Str("".into())),
                (Cow::from("gclid"), Value::Str("abc".into())),
            ],
            ..Context::default()
        };
        let view = context_map(&ctx);
        let json = serde_json::Value::from(&Value::Map(view.clone()));
        assert_eq!(
            json,
            serde_json::json!({
                "campaign": {"source": "news", "medium": "email", "name": "winter-sale", "gclid": "abc"},
                "origin": "https://shop.example",
                "screen": {"width": 1440, "height": 900},
            })
        );
        // The view read back gives the same view.
        assert_eq!(context_map(&context_from_map(&view)), view);
        assert!(context_map(&Context::default()).is_empty());
        // The borrowing view triggers read on the append path is the same.
        assert_eq!(context_view(&ctx), view);
        assert!(context_view(&Context::default()).is_empty());
    }

    /// A phone in Germany, no bot: for the tests of this crate.
    pub(crate) fn sample_enrichment() -> Enrichment {
        Enrichment {
            geo: Geo {
                country: Some("DE".into()),
                asn: Some(3320),
                ..Geo::default()
            },
            device: Device {
                kind: Some("mobile".into()),
                os: Some("Android".into()),
                ..Device::default()
            },
            bot: Some(false),
        }
    }

    #[test]
    fn enrichment_adds_what_is_known_under_the_spec_paths() {
        let e = sample_enrichment();
        let mut view = context_map(&Context {
            session_id: 1,
            ..Context::default()
        });
        e.add_to(&mut view);
        assert_eq!(
            serde_json::Value::from(&Value::Map(view)),
            serde_json::json!({
                "session_id": 1,
                "geo": {"country": "DE", "asn": 3320},
                "device": {"type": "mobile", "os": "Android"},
                "bot": false,
            })
        );
        let mut empty = Vec::new();
        Enrichment::default().add_to(&mut empty);
        assert!(empty.is_empty());
    }
}
