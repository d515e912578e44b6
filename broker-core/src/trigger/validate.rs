//! Parsing and validation of a trigger file, walking `serde_json::Value` by
//! hand so that every mistake gets its JSON path and, for near-misses, a
//! suggestion. Every mistake is collected; one is enough to reject the file.

use super::cond::{Condition, On, Op, Path};
use super::hash::{hash64, holdout_seed, id_seed};
use super::model::{Count, Goal, Limits, Rule, Step, Trigger, Unless, MAX_HOLDOUT};
use super::suggest::{fix_id, op_alias, parse_duration, suggest, valid_id};
use super::{ValidationError, ValidationErrors, ValidationKind as Kind, MAX_PAYLOAD_BYTES};
use crate::event::Value;
use crate::walk::{join, parse_document, type_name, unknown_reserved, JsonWalk};
use serde_json::{Map, Value as Json};

const TOP_KEYS: &[&str] = &["version", "limits", "triggers"];
const LIMITS_KEYS: &[&str] = &["max_firings", "within"];
const TRIGGER_KEYS: &[&str] = &[
    "id",
    "description",
    "enabled",
    "when",
    "sequence",
    "count",
    "within",
    "unless",
    "audience",
    "cooldown",
    "max_per_user",
    "goal",
    "holdout",
    "include_bots",
    "action",
];
const STEP_KEYS: &[&str] = &["event", "where"];
const UNLESS_KEYS: &[&str] = &["event", "where", "within"];
const GOAL_KEYS: &[&str] = UNLESS_KEYS;
const COUNT_KEYS: &[&str] = &["at_least", "within"];
const ACTION_KEYS: &[&str] = &["type", "payload"];
const RESERVED_EVENTS: &[&str] = &["$page", "$click", "$submit", "$identify"];

/// Parses and validates a whole file: its triggers and its `limits`.
pub(crate) fn parse(json: &str) -> Result<(Vec<Trigger>, Option<Limits>), ValidationErrors> {
    parse_document(json, Validator::default(), |v, doc| Some(v.file(doc)))
        .map_err(|v| ValidationErrors { errors: v.errors })
}

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
    /// The id of the trigger being walked, when it is a valid id.
    trigger: Option<String>,
}

impl JsonWalk for Validator {
    type Kind = Kind;

    /// Inside a trigger with a valid id, the message names it (the
    /// convention of [`ValidationError`]).
    fn push(&mut self, kind: Kind, path: &str, mut message: String) {
        if let Some(id) = &self.trigger {
            message.push_str(&format!(" in trigger {id:?}"));
        }
        self.errors.push(ValidationError {
            kind,
            path: path.to_owned(),
            message,
            trigger: self.trigger.clone(),
        });
    }

    fn mistakes(&self) -> usize {
        self.errors.len()
    }
}

impl Validator {
    fn required<'j>(
        &mut self,
        o: &'j Map<String, Json>,
        path: &str,
        key: &str,
    ) -> Option<&'j Json> {
        let v = o.get(key);
        if v.is_none() {
            self.err(
                Kind::MissingKey,
                &join(path, key),
                "required key is missing",
            );
        }
        v
    }

    fn string<'j>(&mut self, v: &'j Json, path: &str) -> Option<&'j str> {
        let s = v.as_str();
        if s.is_none() {
            self.wrong_type(path, "a string", v);
        }
        s
    }

    fn non_empty_string<'j>(&mut self, v: &'j Json, path: &str) -> Option<&'j str> {
        let s = self.string(v, path)?;
        if s.is_empty() {
            self.err(Kind::Empty, path, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// `holdout`: a whole percentage from 0 to [`MAX_HOLDOUT`].
    fn holdout(&mut self, v: &Json, path: &str) -> Option<u8> {
        match v.as_u64() {
            Some(n) if n <= MAX_HOLDOUT => Some(n as u8),
            _ => {
                let expected = format!("a whole percentage from 0 to {MAX_HOLDOUT}");
                self.bad_number(path, &expected, v);
                None
            }
        }
    }

    fn duration(&mut self, v: &Json, path: &str) -> Option<u64> {
        let Some(s) = v.as_str() else {
            self.err(
                Kind::WrongType,
                path,
                format!("expected a duration such as \"10m\", got {}", type_name(v)),
            );
            return None;
        };
        match parse_duration(s) {
            Ok(ms) => Some(ms),
            Err(msg) => {
                self.err(Kind::BadDuration, path, msg);
                None
            }
        }
    }

    fn file(&mut self, doc: &Json) -> (Vec<Trigger>, Option<Limits>) {
        let Some(o) = self.object(doc, "$", TOP_KEYS, &[("limit", "limits")]) else {
            return (Vec::new(), None);
        };
        let limits = o.get("limits").and_then(|l| self.limits(l));
        (self.triggers(o), limits)
    }

    /// The top-level `limits`: both keys required.
    fn limits(&mut self, v: &Json) -> Option<Limits> {
        let p = "limits";
        let o = self.object(v, p, LIMITS_KEYS, &[("max", "max_firings")])?;
        let max_firings = self
            .required(o, p, "max_firings")
            .and_then(|m| self.positive_int(m, "limits.max_firings"));
        let within = self.within(o, p);
        Some(Limits {
            max_firings: max_firings?,
            within: within?,
        })
    }

    fn triggers(&mut self, o: &Map<String, Json>) -> Vec<Trigger> {
        self.version(o);
        let mut out = Vec::new();
        let Some(list) = self.required(o, "", "triggers") else {
            return out;
        };
        let Some(list) = list.as_array() else {
            self.wrong_type("triggers", "a list", list);
            return out;
        };
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let path = format!("triggers[{i}]");
            let id = t.get("id").and_then(Json::as_str).filter(|s| valid_id(s));
            if let Some(id) = id {
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == id) {
                    self.trigger = None;
                    self.err(
                        Kind::DuplicateId,
                        &format!("{path}.id"),
                        format!("duplicate id {id:?} (already used by triggers[{first}])"),
                    );
                } else {
                    seen.push((id, i));
                }
            }
            self.trigger = id.map(str::to_owned);
            if let Some(t) = self.trigger_def(t, &path) {
                out.push(t);
            }
            self.trigger = None;
        }
        out
    }

    fn trigger_def(&mut self, v: &Json, path: &str) -> Option<Trigger> {
        let o = self.object(v, path, TRIGGER_KEYS, &[("event", "when")])?;
        let before = self.errors.len();
        let id = self.required(o, path, "id").and_then(|id| {
            let p = join(path, "id");
            let s = self.string(id, &p)?;
            if !valid_id(s) {
                let fixed = fix_id(s);
                let hint = if valid_id(&fixed) {
                    format!(" (did you mean {fixed:?}?)")
                } else {
                    String::new()
                };
                self.err(
                    Kind::BadId,
                    &p,
                    format!("invalid id {s:?}: use 1 to 64 of a-z, 0-9 and -{hint}"),
                );
            }
            Some(s.to_owned())
        });
        let description = o
            .get("description")
            .and_then(|d| self.string(d, &join(path, "description")))
            .map(str::to_owned);
        let enabled = self.boolean(o, path, "enabled").unwrap_or(true);
        let rule = self.rule(o, path);
        let unless = o.get("unless").and_then(|u| {
            let (step, within) = self.step_within(u, &join(path, "unless"), UNLESS_KEYS, &[])?;
            Some(Unless { step, within })
        });
        let audience = match o.get("audience") {
            None => Some(Vec::new()),
            Some(a) => self.conditions(a, &join(path, "audience"), "trait"),
        };
        let cooldown = o
            .get("cooldown")
            .map(|c| self.duration(c, &join(path, "cooldown")));
        let max_per_user = o
            .get("max_per_user")
            .map(|m| self.positive_int(m, &join(path, "max_per_user")));
        let goal = o.get("goal").and_then(|g| {
            let hints = &[("name", "event"), ("window", "within")];
            let (step, within) = self.step_within(g, &join(path, "goal"), GOAL_KEYS, hints)?;
            Some(Goal { step, within })
        });
        let holdout = o
            .get("holdout")
            .map(|h| self.holdout(h, &join(path, "holdout")));
        let include_bots = self.boolean(o, path, "include_bots").unwrap_or(false);
        let action = self
            .required(o, path, "action")
            .and_then(|a| self.action(a, &join(path, "action")));
        if self.errors.len() > before {
            return None;
        }
        let (action_type, payload) = action?;
        let id = id?;
        Some(Trigger {
            id_seed: id_seed(&id),
            holdout_seed: holdout_seed(&id),
            id: id.into(),
            description,
            enabled,
            rule: rule?,
            unless,
            audience: audience
                .iter()
                .flatten()
                .filter(|c| c.on != On::Context)
                .cloned()
                .collect(),
            audience_context: audience?
                .into_iter()
                .filter(|c| c.on == On::Context)
                .collect(),
            include_bots,
            cooldown: cooldown.flatten(),
            max_per_user: max_per_user.flatten(),
            goal,
            holdout: holdout.flatten().unwrap_or(0),
            action_type: action_type.into(),
            payload: payload.into(),
            key: state_key(v),
        })
    }

    fn rule(&mut self, o: &Map<String, Json>, path: &str) -> Option<Rule> {
        match (o.get("when"), o.get("sequence")) {
            (Some(_), Some(_)) => {
                self.err(
                    Kind::Conflict,
                    path,
                    "has both \"when\" and \"sequence\"; give exactly one",
                );
                None
            }
            (None, None) => {
                self.err(
                    Kind::NoRule,
                    path,
                    "needs \"when\" (one step) or \"sequence\" (two or more steps)",
                );
                None
            }
            (Some(w), None) => {
                if o.contains_key("within") {
                    self.err(
                        Kind::Conflict,
                        &join(path, "within"),
                        "\"within\" goes with \"sequence\"; with \"when\", put the window in \"count\"",
                    );
                }
                let step = self.step(w, &join(path, "when"));
                let count = o.get("count").and_then(|c| {
                    let p = join(path, "count");
                    let co = self.object(c, &p, COUNT_KEYS, &[])?;
                    let at_least = self
                        .required(co, &p, "at_least")
                        .and_then(|n| self.positive_int(n, &join(&p, "at_least")));
                    let within = self.within(co, &p);
                    Some(Count {
                        at_least: at_least?,
                        within: within?,
                    })
                });
                Some(Rule::When { step: step?, count })
            }
            (None, Some(s)) => {
                if o.contains_key("count") {
                    self.err(
                        Kind::Conflict,
                        &join(path, "count"),
                        "\"count\" goes with \"when\", not with \"sequence\" (a sequence's window is its \"within\")",
                    );
                }
                let p = join(path, "sequence");
                let steps = match s.as_array() {
                    None => {
                        self.wrong_type(&p, "a list of steps", s);
                        None
                    }
                    Some(list) => {
                        if list.len() < 2 {
                            self.err(
                                Kind::TooFewSteps,
                                &p,
                                format!(
                                    "a sequence needs at least 2 steps, got {} (use \"when\" for a single step)",
                                    list.len()
                                ),
                            );
                        }
                        let steps: Vec<Option<Step>> = list
                            .iter()
                            .enumerate()
                            .map(|(i, st)| self.step(st, &format!("{p}[{i}]")))
                            .collect();
                        steps.into_iter().collect::<Option<Vec<_>>>()
                    }
                };
                let within = match o.get("within") {
                    Some(w) => self.duration(w, &join(path, "within")),
                    None => {
                        self.err(
                            Kind::MissingKey,
                            &join(path, "within"),
                            "required key is missing (a sequence needs a window)",
                        );
                        None
                    }
                };
                let steps = steps?;
                (steps.len() >= 2).then_some(Rule::Sequence {
                    steps,
                    within: within?,
                })
            }
        }
    }

    /// The required `within` of the object at `path`: a duration.
    fn within(&mut self, o: &Map<String, Json>, path: &str) -> Option<u64> {
        self.required(o, path, "within")
            .and_then(|w| self.duration(w, &join(path, "within")))
    }

    /// An `unless` or a `goal`: a step's `event` and `where`, and a `within`.
    fn step_within(
        &mut self,
        v: &Json,
        path: &str,
        keys: &[&str],
        hints: &[(&str, &str)],
    ) -> Option<(Step, u64)> {
        let o = self.object(v, path, keys, hints)?;
        let step = self.step_fields(o, path);
        let within = self.within(o, path);
        Some((step?, within?))
    }

    fn step(&mut self, v: &Json, path: &str) -> Option<Step> {
        let o = self.object(
            v,
            path,
            STEP_KEYS,
            &[("name", "event"), ("conditions", "where")],
        )?;
        self.step_fields(o, path)
    }

    fn step_fields(&mut self, o: &Map<String, Json>, path: &str) -> Option<Step> {
        let event = self.required(o, path, "event").and_then(|e| {
            let p = join(path, "event");
            let s = self.non_empty_string(e, &p)?;
            if let Some(msg) = unknown_reserved(s, RESERVED_EVENTS) {
                self.err(Kind::UnknownEvent, &p, msg);
                return None;
            }
            Some(s.to_owned())
        });
        let conditions = match o.get("where") {
            None => Some(Vec::new()),
            Some(w) => self.conditions(w, &join(path, "where"), "prop"),
        };
        Some(Step {
            event: event?,
            conditions: conditions?,
        })
    }

    /// A list of conditions; `subject` is `prop` (steps) or `trait`
    /// (audience); either may read `context` instead.
    fn conditions(&mut self, v: &Json, path: &str, subject: &str) -> Option<Vec<Condition>> {
        let Some(list) = v.as_array() else {
            self.wrong_type(path, "a list of conditions", v);
            return None;
        };
        let out: Vec<Option<Condition>> = list
            .iter()
            .enumerate()
            .map(|(i, c)| self.condition(c, &format!("{path}[{i}]"), subject))
            .collect();
        out.into_iter().collect()
    }

    fn condition(&mut self, v: &Json, path: &str, subject: &str) -> Option<Condition> {
        let other = if subject == "prop" { "trait" } else { "prop" };
        let keys = [subject, "context", "op", "value"];
        let o = self.object(v, path, &keys, &[(other, subject), ("operator", "op")])?;
        let on_context = o.contains_key("context");
        if on_context && o.contains_key(subject) {
            self.err(
                Kind::Conflict,
                path,
                format!("a condition reads {subject:?} or \"context\", not both"),
            );
            return None;
        }
        let key = if on_context { "context" } else { subject };
        let subject_path = self.required(o, path, key).and_then(|p| {
            let pp = join(path, key);
            let s = self.non_empty_string(p, &pp)?;
            if s.split('.').any(str::is_empty) {
                self.err(Kind::BadPath, &pp, format!("{s:?} has an empty segment"));
                return None;
            }
            if on_context && !crate::context::CONTEXT_PATHS.contains(&s) {
                let msg = match suggest(s, crate::context::CONTEXT_PATHS) {
                    Some(h) => format!("unknown context path {s:?} (did you mean {h:?}?)"),
                    None => format!(
                        "unknown context path {s:?} (expected one of: {})",
                        crate::context::CONTEXT_PATHS.join(", ")
                    ),
                };
                self.err(Kind::UnknownContextPath, &pp, msg);
                return None;
            }
            Some(Path::parse(s))
        });
        let on = match (on_context, subject) {
            (true, _) => On::Context,
            (false, "trait") => On::Trait,
            (false, _) => On::Prop,
        };
        let op = self.required(o, path, "op").and_then(|op| {
            let pp = join(path, "op");
            let s = self.string(op, &pp)?;
            let found = Op::from_name(s);
            if found.is_none() {
                let msg = match op_alias(s).or_else(|| suggest(s, &Op::NAMES)) {
                    Some(h) => format!("unknown operator {s:?} (did you mean {h:?}?)"),
                    None => format!(
                        "unknown operator {s:?} (expected one of: {})",
                        Op::NAMES.join(", ")
                    ),
                };
                self.err(Kind::UnknownOperator, &pp, msg);
            }
            found
        });
        let value = self.required(o, path, "value");
        let (op, value) = (op?, value?);
        let vp = join(path, "value");
        let ok = if value.is_null() {
            self.err(
                Kind::BadValue,
                &vp,
                "null matches nothing (a null property is missing): use \"exists\"",
            );
            false
        } else {
            let (fits, wants) = match op {
                Op::Gt | Op::Gte | Op::Lt | Op::Lte => (
                    value.is_number() || value.is_string(),
                    "compares numbers or strings",
                ),
                Op::In | Op::NotIn => (value.is_array(), "takes a list"),
                Op::StartsWith | Op::EndsWith => (value.is_string(), "takes a string"),
                Op::Exists => (value.is_boolean(), "takes true or false"),
                Op::Eq | Op::Ne | Op::Contains => (true, ""),
            };
            if !fits {
                let got = type_name(value);
                self.err(
                    Kind::BadValue,
                    &vp,
                    format!("{:?} {wants}, got {got}", op.name()),
                );
            }
            fits
        };
        Some(Condition {
            on,
            path: subject_path?,
            op,
            value: ok.then(|| Value::from(value))?,
            memo: super::cond::NO_MEMO,
        })
    }

    fn action(&mut self, v: &Json, path: &str) -> Option<(String, String)> {
        let o = self.object(v, path, ACTION_KEYS, &[])?;
        let ty = self
            .required(o, path, "type")
            .and_then(|t| self.non_empty_string(t, &join(path, "type")));
        let payload = match o.get("payload") {
            None => Some("{}".to_owned()),
            Some(p) => {
                let compact = p.to_string();
                if compact.len() > MAX_PAYLOAD_BYTES {
                    self.err(
                        Kind::PayloadTooLarge,
                        &join(path, "payload"),
                        format!(
                            "payload is {} bytes as compact JSON; the limit is {MAX_PAYLOAD_BYTES}",
                            compact.len()
                        ),
                    );
                    None
                } else {
                    Some(compact)
                }
            }
        };
        Some((ty?.to_owned(), payload?))
    }
}

/// The key of a trigger's per-visitor state: a hash of its canonical JSON
/// without `description` and `enabled`, which change nothing the state
/// means (so pausing a trigger does not reset its `max_per_user` counts).
fn state_key(trigger: &Json) -> u64 {
    let mut t = trigger.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("description");
        o.remove("enabled");
    }
    hash64(canonical(&t).as_bytes())
}

/// JSON with object keys sorted, whatever order the parser kept.
fn canonical(v: &Json) -> String {
    fn go(v: &Json, out: &mut String) {
        match v {
            Json::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::from(k.as_str()).to_string());
                    out.push(':');
                    if let Some(x) = o.get(*k) {
                        go(x, out);
                    }
                }
                out.push('}');
            }
            Json::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    go(v, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// State keys are stored: they must not change with the parser's key
    /// order, `description` or `enabled`. The vectors are `av(fnv(c))` of the
    /// canonical JSON `c` (Python 3, the functions of `hash.rs`'s tests, with
    /// `c = json.dumps(t, sort_keys=True, separators=(",", ":"),
    /// ensure_ascii=False)` of the trigger without those two keys).
    #[test]
    fn state_key_vectors() {
        let key = |s: &str| state_key(&serde_json::from_str(s).unwrap());
        let welcome = r#"{"id": "welcome", "when": {"event": "$page"}, "max_per_user": 1,
            "action": {"type": "banner"}}"#;
        assert_eq!(key(welcome), 0x4a8f_18c6_3639_16ed);
        let reordered = r#"{"enabled": false, "description": "paused", "action": {"type": "banner"},
            "max_per_user": 1, "when": {"event": "$page"}, "id": "welcome"}"#;
        assert_eq!(key(reordered), 0x4a8f_18c6_3639_16ed);
        let cart = r#"{"id": "cart-rescue", "cooldown": "1h",
            "when": {"event": "Product Added", "where": [{"prop": "price", "op": "gt", "value": 20}]},
            "action": {"type": "banner", "payload": {"text": "Still thinking?"}}}"#;
        assert_eq!(key(cart), 0x19b4_2d19_2cbc_467f);
    }
}
