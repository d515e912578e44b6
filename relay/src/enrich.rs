//! What the relay adds to an event's context and the page cannot know:
//! place (from the runtime's request properties, Cloudflare's
//! `request.cf`), device (the user agent, parsed with `woothee`, a
//! maintained cross-language parser with its own dataset) and a bot
//! verdict (a known crawler's user agent, a verified bot, or a bot score
//! under [`BOT_SCORE_BELOW`] when the zone has Bot Management).

use broker_core::context::{Device, Enrichment, Geo};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::Request;

/// Bot Management scores below this are bots (Cloudflare's own guidance:
/// 1 to 29 is "likely automated").
pub const BOT_SCORE_BELOW: u32 = 30;

/// Parsed user agents kept per isolate (pages of one site send a handful of
/// distinct ones; parsing is the expensive part).
const UA_CACHE: usize = 512;

thread_local! {
    static PARSED: RefCell<HashMap<String, Device>> = RefCell::new(HashMap::new());
}

/// The enrichment of one request.
pub fn of_request(req: &Request) -> Enrichment {
    let ua = req
        .headers()
        .get("user-agent")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut e = Enrichment {
        device: device_cached(&ua),
        ..Enrichment::default()
    };
    let crawler = e.device.kind.as_deref() == Some("bot");
    let mut bot = (!ua.is_empty()).then_some(crawler);
    if let Some(cf) = req.cf() {
        e.geo = Geo {
            country: cf.country(),
            region: cf.region(),
            city: cf.city(),
            continent: cf.continent(),
            timezone: Some(cf.timezone_name()).filter(|t| !t.is_empty()),
            asn: cf.asn(),
        };
        let verified = cf.verified_bot_category().is_some_and(|c| !c.is_empty());
        let scored = cf
            .bot_management()
            .and_then(|b| js_sys::Reflect::get(&b, &"score".into()).ok())
            .and_then(|s| s.as_f64())
            .is_some_and(|s| (s as u32) < BOT_SCORE_BELOW);
        if verified || scored {
            bot = Some(true);
            e.device.kind = Some("bot".into());
        }
    }
    e.bot = bot;
    e
}

fn device_cached(ua: &str) -> Device {
    if ua.is_empty() {
        return Device::default();
    }
    PARSED.with(|cache| {
        if let Some(d) = cache.borrow().get(ua) {
            return d.clone();
        }
        let d = device(ua);
        let mut cache = cache.borrow_mut();
        if cache.len() >= UA_CACHE {
            cache.clear();
        }
        cache.insert(ua.to_owned(), d.clone());
        d
    })
}

/// The device a user agent names.
pub fn device(ua: &str) -> Device {
    let Some(r) = woothee::parser::Parser::new().parse(ua) else {
        return Device {
            kind: Some("other".into()),
            ..Device::default()
        };
    };
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_owned());
    let tablet = r.os == "iPad" || (r.os == "Android" && !ua.contains("Mobile"));
    let kind = match r.category {
        "crawler" => "bot",
        "pc" => "desktop",
        "smartphone" | "mobilephone" if tablet => "tablet",
        "smartphone" | "mobilephone" => "mobile",
        _ => "other",
    };
    Device {
        kind: Some(kind.into()),
        browser: known(r.name),
        version: known(r.version),
        os: known(r.os),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_give_device_type_browser_and_os() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let d = device(chrome);
        assert_eq!(d.kind.as_deref(), Some("desktop"));
        assert_eq!(d.browser.as_deref(), Some("Chrome"));
        assert_eq!(d.version.as_deref(), Some("131.0.0.0"));
        assert_eq!(d.os.as_deref(), Some("Windows 10"));
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device(iphone).kind.as_deref(), Some("mobile"));
        let ipad = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device(ipad).kind.as_deref(), Some("tablet"));
        let tab = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(device(tab).kind.as_deref(), Some("tablet"));
        let phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(device(phone).kind.as_deref(), Some("mobile"));
        let google = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(device(google).kind.as_deref(), Some("bot"));
        assert_eq!(device("curl/8.5.0").kind.as_deref(), Some("other"));
    }
}
