//! The core as the JS layer drives it, in headless Chromium
//! (`cargo test -p eventstream-sdk --target wasm32-unknown-unknown`).

use broker_core::event::Value;
use broker_core::frame::{self, Limits};
use eventstream_sdk::{
    outcome, Core, PageContext, Props, ACKED, OK, REJECTED, SEALED, UNKNOWN_KIND,
};
use std::borrow::Cow;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const T0: f64 = 1_764_000_000_000.0;

fn s(x: &str) -> Value<'static> {
    Value::Str(Cow::Owned(x.to_owned()))
}

/// An object's bytes, as `npm/src/props.js` writes them.
fn obj(fields: Vec<(&'static str, Value<'static>)>) -> Vec<u8> {
    Props::encode(
        &fields
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect(),
    )
}

fn props(b: &[u8]) -> Props<'_> {
    // Safety: `Props::encode` writes UTF-8 strings.
    unsafe { Props::from_bytes_unchecked(b) }
}

fn page<'a>(anonymous_id: &'a str, user_id: &'a str, campaign: &'a [u8]) -> PageContext<'a> {
    PageContext {
        anonymous_id,
        user_id,
        origin: "https://shop.example",
        referrer: "",
        locale: "de-DE",
        timezone: "Europe/Berlin",
        screen_width: 1280,
        screen_height: 800,
        campaign: props(campaign),
    }
}

fn core(max_events: u32) -> Core {
    let mut c = Core::new(7, 1, max_events, 16_384);
    let campaign = obj(vec![("utm_source", s("news"))]);
    assert_eq!(c.context(&page("anon-1", "", &campaign), T0), OK);
    c
}

#[wasm_bindgen_test]
fn push_seals_at_max_events_and_frames_decode() {
    let mut c = core(2);
    assert_eq!(
        c.push(
            0,
            "Product Viewed",
            props(&obj(vec![("price", Value::Float(89.58)), ("id", s("p-1"))])),
            T0
        ),
        OK
    );
    assert_eq!(c.push(1, "", Props::EMPTY, T0 + 5.0), SEALED);
    assert_eq!(c.pending(), 0);
    let bytes = c.take().unwrap();
    assert_eq!(c.taken_sequence(), 0.0);
    assert!(c.take().is_none());
    let f = frame::decode(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(f.producer_id, (1u64 << 32) | 7);
    assert_eq!(f.sequence, 0);
    assert_eq!(f.context.anonymous_id, "anon-1");
    assert_eq!(f.context.session_id, T0 as u64);
    assert_eq!(f.context.campaign.len(), 1);
    assert_eq!(f.events.len(), 2);
    assert_eq!(f.events[0].name, "Product Viewed");
    assert_eq!(f.events[1].timestamp, T0 as u64 + 5);
    assert_eq!(
        (f.context.screen_width, f.context.timezone.as_ref()),
        (1280, "Europe/Berlin")
    );
    assert_eq!(f.events[0].properties[0].1, Value::Float(89.58));
    assert_eq!(c.context(&page("anon-1", "", &[9]), T0), 1);
}

#[wasm_bindgen_test]
fn a_new_visitor_seals_the_open_frame() {
    let mut c = core(50);
    assert_eq!(c.push(0, "A", Props::EMPTY, T0), OK);
    assert_eq!(c.context(&page("anon-1", "u-1", &[]), T0), OK);
    // The frame of the previous visitor was sealed and waits to be taken;
    // SEALED reports only a frame the push itself sealed (the page takes
    // the visitor's frame in its next task, off `identify`).
    let traits = obj(vec![("plan", s("pro"))]);
    assert_eq!(c.push(2, "u-1", props(&traits), T0), OK);
    assert_eq!(c.pending(), 1);
    c.cut(T0);
    let (a, b) = (c.take().unwrap(), c.take().unwrap());
    let a = frame::decode(&a, &Limits::DEFAULT).unwrap();
    let b = frame::decode(&b, &Limits::DEFAULT).unwrap();
    assert_eq!((a.sequence, a.context.user_id), (0, None));
    assert_eq!((b.sequence, b.context.user_id.as_deref()), (1, Some("u-1")));
}

#[wasm_bindgen_test]
fn bad_input_returns_codes_and_changes_nothing() {
    let mut c = core(50);
    let cut = obj(vec![("a", s("b"))]);
    assert_eq!(c.push(0, "A", props(&cut[..cut.len() - 1]), T0), 1);
    assert_eq!(c.push(9, "A", Props::EMPTY, T0), UNKNOWN_KIND);
    let big = obj(vec![("s", s(&"x".repeat(20_000)))]);
    assert_eq!(c.push(0, "A", props(&big), T0), 11);
    assert_eq!(c.pending(), 0);
}

#[wasm_bindgen_test]
fn outcome_policy() {
    assert_eq!(outcome(200, "", 0, 0.0, 0.5), ACKED);
    assert_eq!(outcome(400, "checksum", 0, 0.0, 0.5), REJECTED);
    assert_eq!(outcome(503, "", 2, 0.0, 0.5), 1500.0);
}
