//! `eventstream triggers backtest FILE EVENTS`: the relay's engine over a
//! recorded stream, wake-ups included, in memory ([`broker_core::backtest`]).

use crate::args::{self, Spec};
use broker_core::backtest::Replay;
pub use broker_core::time::iso8601;
use broker_core::trigger::{Conversion, Firing, Outcome as Record, TriggerFile};
use broker_core::{corpus, export, Event, Map, StorageError, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};

/// The help of both backtests, local and on the relay (`remote`).
pub(super) const HELP: &str = "\
eventstream triggers backtest FILE EVENTS [--summary] [--trigger ID]... [--strict]
eventstream triggers backtest FILE --relay URL [--since 24h|7d|all] [--max-events N] [--json]
                              [--token TOKEN]

Runs the triggers of FILE over recorded events, exactly as the relay's engine would, and prints
each firing as one JSON line on stdout (sorted by time, then visitor, then trigger), then a
table per trigger on stderr: firings, distinct visitors, first and last firing time.

EVENTS is a file of JSON lines, or - for stdin. Each line is either a relay event export
({\"partition\":0,\"offset\":42,\"visitor\":\"..\",\"kind\":\"track\",\"name\":\"Product Viewed\",
\"time\":1764000011223,\"properties\":{..}}) or a reference-corpus SDK call
({\"anonymousId\":\"..\",\"t\":11223,\"call\":\"track\",\"event\":\"..\",\"properties\":{..}}).
Events are evaluated in input order; delayed (unless) firings fire at their deadline as time
passes, and every one still pending fires at the end.

Options:
  --summary      print only the table
  --trigger ID   run only this trigger (repeatable)
  --strict       stop at the first malformed line (exit 1) instead of reporting and skipping it

With --relay, the relay runs it: every partition replays its retained events from --since ago
(a duration such as 24h or 7d, default 24h; `all`: the whole retention) with FILE, from fresh
state, and beside it the active file over the same events; nothing is pushed or stored. Printed
on stdout, per trigger, candidate and active: firings, visitors reached, their share of the
visitors seen, firings per visitor reached (median, p90, max), and suppressions by reason.
--max-events bounds the events per partition (the relay has its own bound too); a partition
that stops early says so on stderr. --json prints the relay's result object instead. The token
(any role) comes from --token, EVENTSTREAM_ADMIN_TOKEN, EVENTSTREAM_EDITOR_TOKEN or
EVENTSTREAM_VIEWER_TOKEN.

Exit codes: 0 done, 1 invalid FILE (or refused by the relay), 2 bad arguments, unreadable
input, or relay unreachable.

Example:
  $ eventstream triggers backtest examples/triggers.json examples/corpus/clickstream.jsonl --summary
  $ eventstream tail --relay http://127.0.0.1:8787 --from earliest --until-end | \\
      eventstream triggers backtest new-triggers.json - --trigger cart-rescue
  $ eventstream triggers backtest new-triggers.json --relay http://127.0.0.1:8787 --since 7d
";

const SPEC: Spec = Spec {
    command: "triggers backtest",
    help: HELP,
    valued: &["--trigger"],
    flags: &["--summary", "--strict"],
};

/// Runs `triggers backtest ARGS`.
pub fn run(argv: &[String]) -> u8 {
    let on_relay = argv
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--relay" || a.starts_with("--relay="));
    if on_relay {
        return super::remote::run(argv);
    }
    let parsed = match args::parse(argv, &SPEC) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let [file, events_path] = parsed.positional.as_slice() else {
        return SPEC.usage("expected FILE and EVENTS");
    };
    if file == "-" && events_path == "-" {
        return SPEC.usage("FILE and EVENTS cannot both be stdin");
    }
    let text = match args::read_text(file) {
        Ok(t) => t,
        Err(e) => return SPEC.fail(&e),
    };
    let mut triggers = match TriggerFile::parse(&text) {
        Ok(f) => f,
        Err(errors) => {
            for e in &errors.errors {
                eprintln!("{e}");
            }
            eprintln!("eventstream triggers backtest: {file} is not a valid trigger file");
            return 1;
        }
    };
    let only = parsed.all("--trigger");
    if !only.is_empty() {
        let ids: Vec<&str> = triggers.ids().collect();
        if let Some(missing) = only.iter().find(|id| !ids.contains(id)) {
            let msg = format!(
                "no trigger {missing:?} in {file} (it has: {})",
                ids.join(", ")
            );
            return SPEC.usage(&msg);
        }
        triggers = triggers.retain(|id| only.contains(&id));
    }
    let input = match args::read_text(events_path) {
        Ok(t) => t,
        Err(e) => return SPEC.fail(&e),
    };
    let started = std::time::Instant::now();
    let strict = parsed.has("--strict");
    let run = match replay(triggers.clone(), &input, events_path, strict) {
        Ok(r) => r,
        Err(Stop::Malformed) => return 1,
        Err(Stop::Storage(e)) => {
            eprintln!("eventstream triggers backtest: {e}");
            return 1;
        }
    };
    let elapsed = started.elapsed();
    let mut firings = run.firings;
    firings.sort_by(|a, b| firing_order(a).cmp(&firing_order(b)));
    let mut conversions = run.conversions;
    conversions.sort_by(|a, b| conversion_order(a).cmp(&conversion_order(b)));
    if !parsed.has("--summary") {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        // Firings (delivered and held out) and conversions merged by time,
        // a firing before a conversion at the same time.
        let mut convs = conversions.iter().peekable();
        let mut records = Vec::with_capacity(firings.len() + conversions.len());
        for f in &firings {
            while let Some(c) = convs.next_if(|c| c.time < f.time) {
                records.push(Record::Converted(c.clone()));
            }
            records.push(Record::Fired(f.clone()));
        }
        records.extend(convs.cloned().map(Record::Converted));
        for r in &records {
            // The record exactly as the relay's firing stream exports it;
            // serialised straight into the buffer (through `Display` it
            // costs a third more).
            let line = serde_json::to_writer(&mut out, &export::outcome_to_json(r));
            if line.is_err() || out.write_all(b"\n").is_err() {
                return 0; // stdout closed (`| head`): nothing more to say
            }
        }
        if out.flush().is_err() {
            return 0;
        }
    }
    eprint!("{}", table(&triggers, &firings, &conversions));
    let secs = elapsed.as_secs_f64().max(1e-9);
    let held = firings.iter().filter(|f| f.held_out).count();
    let outcomes = if has_outcomes(&triggers) {
        format!(" ({held} held out, {} conversions)", conversions.len())
    } else {
        String::new()
    };
    eprintln!(
        "{} events, {} malformed lines skipped, {} firings{outcomes} in {:.1} ms ({:.0} events/s)",
        run.events,
        run.skipped,
        firings.len() - held,
        secs * 1e3,
        run.events as f64 / secs
    );
    0
}

enum Stop {
    /// A malformed line under `--strict` (already reported).
    Malformed,
    /// The in-memory store failed (it does not, but the engine's API allows it).
    Storage(StorageError),
}

impl From<StorageError> for Stop {
    fn from(e: StorageError) -> Self {
        Stop::Storage(e)
    }
}

struct Outcome {
    firings: Vec<Firing>,
    conversions: Vec<Conversion>,
    events: u64,
    skipped: u64,
}

/// Evaluates the input in order. Consecutive events of one visitor with
/// consecutive offsets go to the engine as one batch: the engine fires what
/// falls due between them exactly as separate calls would, at a fraction of
/// the storage round trips. Every delayed firing still pending at the end
/// fires (time runs on after the input).
///
/// With two or more CPUs, lines are parsed on a second thread, a chunk at a
/// time, while this one runs the engine: parsing is about as much work as
/// the engine's, and the result is the same (the engine still sees every
/// event in input order; only parsing, which depends on no state but the
/// count of events before a line, runs ahead).
fn replay(file: TriggerFile, input: &str, name: &str, strict: bool) -> Result<Outcome, Stop> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    replay_on(file, input, name, strict, threads >= 2)
}

/// [`replay`], parsing on a second thread or not.
fn replay_on(
    file: TriggerFile,
    input: &str,
    name: &str,
    strict: bool,
    pipelined: bool,
) -> Result<Outcome, Stop> {
    let mut run = Run::new(file, input, name, strict);
    if !pipelined {
        let mut result = Ok(());
        parse_lines(input, |chunk| {
            result = run.take(chunk);
            result.is_ok()
        });
        result?;
        return run.finish();
    }
    std::thread::scope(|scope| {
        // A few chunks in flight keep both threads busy; bounded, so that
        // parsing a large input never runs far ahead of the engine.
        // The engine's thread frees what the parsing thread allocated: with
        // glibc's malloc that made the allocator the bottleneck, hence
        // mimalloc (main.rs).
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Parsed<'_>>>(4);
        scope.spawn(move || parse_lines(input, |chunk| tx.send(chunk).is_ok()));
        // An early return drops `rx`: the parsing thread's next send fails
        // and it stops.
        for chunk in rx {
            run.take(chunk)?;
        }
        run.finish()
    })
}

/// Lines parsed per chunk handed from the parsing thread to the engine's.
/// Small, so that the memory of the chunks the engine is done with is
/// freed and parsed into again soon: with 1,024 the parsing thread ran
/// far ahead into fresh pages, and on a 2-core AMD VM page faults were a
/// large part of a run (with glibc's malloc, 256: 1,750-1,870 faults per
/// corpus run instead of 2,190-2,330, the whole command 18.1-20.3 ms instead
/// of 22.3-23.2, means of 30 runs; with mimalloc about 150 faults).
const CHUNK_LINES: usize = 256;

/// One non-blank input line, parsed.
enum Parsed<'a> {
    Event {
        /// Its 0-based line number.
        line: usize,
        visitor: Cow<'a, str>,
        event: Event<'a>,
        offset: u64,
        /// An export line's own context (`None` for a corpus call).
        context: Option<Map<'static>>,
    },
    Malformed {
        line: usize,
        why: String,
    },
}

/// Parses `input`'s non-blank lines in order and hands them to `emit` in
/// chunks of [`CHUNK_LINES`], until `emit` returns false. Offsets of lines
/// without one are the count of events before them.
fn parse_lines<'a>(input: &'a str, mut emit: impl FnMut(Vec<Parsed<'a>>) -> bool) {
    let mut ordinal = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    for (i, line) in lines(input).enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        chunk.push(match parse_line(line, ordinal) {
            Ok((visitor, event, offset)) => {
                ordinal += 1;
                Parsed::Event {
                    line: i,
                    visitor,
                    event,
                    offset,
                    context: line_context(line),
                }
            }
            Err(why) => Parsed::Malformed { line: i, why },
        });
        if chunk.len() == CHUNK_LINES
            && !emit(std::mem::replace(
                &mut chunk,
                Vec::with_capacity(CHUNK_LINES),
            ))
        {
            return;
        }
    }
    if !chunk.is_empty() {
        emit(chunk);
    }
}

/// The engine's side of [`replay`]: parsed lines in, batches to the engine.
struct Run<'a, 'n> {
    replay: Replay,
    progress: Progress,
    name: &'n str,
    strict: bool,
    skipped: u64,
    /// The batch being gathered: one visitor's events with consecutive
    /// offsets and one context.
    visitor: Cow<'a, str>,
    batch: Vec<Event<'a>>,
    base: u64,
    ctx: Map<'static>,
    /// Each corpus call's context: the corpus README's rule (a page call's
    /// campaign, for the rest of the visit).
    contexts: corpus::VisitContexts,
}

impl<'a, 'n> Run<'a, 'n> {
    fn new(file: TriggerFile, input: &str, name: &'n str, strict: bool) -> Self {
        Run {
            replay: Replay::new(file),
            progress: Progress::new(input),
            name,
            strict,
            skipped: 0,
            visitor: Cow::Borrowed(""),
            batch: Vec::new(),
            base: 0,
            ctx: Vec::new(),
            contexts: corpus::VisitContexts::new(),
        }
    }

    fn take(&mut self, chunk: Vec<Parsed<'a>>) -> Result<(), Stop> {
        for parsed in chunk {
            match parsed {
                Parsed::Event {
                    line,
                    visitor,
                    event,
                    offset,
                    context,
                } => {
                    self.progress.tick(line);
                    // A corpus call's context is compared where it is kept
                    // and made only when a batch starts with another.
                    let campaign = match context {
                        Some(_) => None,
                        None => self.contexts.campaign(&visitor, &event),
                    };
                    let same_ctx = match &context {
                        Some(c) => self.ctx == *c,
                        None => corpus::is_campaign_context(&self.ctx, campaign),
                    };
                    let next = self.base + self.batch.len() as u64;
                    if !(self.visitor == visitor && next == offset && same_ctx) {
                        self.replay
                            .events_in(&self.visitor, &self.batch, self.base, &self.ctx)?;
                        self.batch.clear();
                        self.visitor = visitor;
                        self.base = offset;
                        self.ctx = match context {
                            Some(c) => c,
                            None => campaign.map(corpus::campaign_context).unwrap_or_default(),
                        };
                    }
                    self.batch.push(event);
                }
                Parsed::Malformed { line, why } => {
                    self.progress.clear();
                    eprintln!("{}:{}: {why}", self.name, line + 1);
                    if self.strict {
                        return Err(Stop::Malformed);
                    }
                    self.skipped += 1;
                }
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Outcome, Stop> {
        self.replay
            .events_in(&self.visitor, &self.batch, self.base, &self.ctx)?;
        self.progress.clear();
        let run = self.replay.finish(u64::MAX)?;
        Ok(Outcome {
            firings: run.firings,
            conversions: run.conversions,
            events: run.events,
            skipped: self.skipped,
        })
    }
}

/// `input.lines()`, with a vectorized search for each line's end (the
/// standard one took as long per line as the engine's work on most events).
fn lines(input: &str) -> impl Iterator<Item = &str> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        rest = next;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// The context view of an event record line (its `context` object), or
/// `None` for a line without one (a corpus call). Parsed apart from the
/// event (only lines that carry a context pay for it).
fn line_context(line: &str) -> Option<Map<'static>> {
    static KEY: std::sync::OnceLock<memchr::memmem::Finder<'static>> = std::sync::OnceLock::new();
    // A vectorized search: `str::contains` took a tenth of the replay's
    // time on corpus lines, whose many quotes each start a comparison.
    let key = KEY.get_or_init(|| memchr::memmem::Finder::new(b"\"context\""));
    key.find(line.as_bytes())?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    match v.get("context").map(Value::from)? {
        Value::Map(m) => Some(
            m.into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
        ),
        _ => None,
    }
}

/// One input line as (visitor, event, log offset); `ordinal` is the offset
/// used when the line carries none (corpus calls).
pub(crate) fn parse_line(
    line: &str,
    ordinal: u64,
) -> Result<(Cow<'_, str>, Event<'_>, u64), String> {
    match super::fastparse::parse(line, ordinal) {
        Some((visitor, event, offset)) => Ok((Cow::Borrowed(visitor), event, offset)),
        None => slow_line(line, ordinal).map(|(v, e, o)| (Cow::Owned(v), e, o)),
    }
}

/// [`parse_line`] through the canonical mappings, `corpus::call_to_event`
/// and `export::event_record_from_json`, which also word the errors. The
/// fast path must agree with this on every line it takes (its tests check
/// that over the whole reference corpus).
pub(super) fn slow_line(line: &str, ordinal: u64) -> Result<(String, Event<'static>, u64), String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if corpus::is_corpus_call(&v) {
        let c = corpus::call_to_event(&v).map_err(|e| format!("not a corpus call: {e}"))?;
        return Ok((c.visitor, c.event, ordinal));
    }
    let has_offset = v.get("offset").is_some();
    let r = export::event_record_from_json(&v).map_err(|e| format!("not an event record: {e}"))?;
    let offset = if has_offset { r.offset } else { ordinal };
    Ok((r.visitor, r.event, offset))
}

/// True when some trigger has a goal or a holdout: the table then shows
/// held-out firings and conversions.
fn has_outcomes(file: &TriggerFile) -> bool {
    file.triggers()
        .any(|t| t.goal_within().is_some() || t.holdout() > 0)
}

/// Per trigger, in file order, zeros included. Firings and visitors count
/// delivered firings; with outcomes, `held out` counts the held-out ones and
/// `converted` the conversions of each group (delivered/held out).
fn table(file: &TriggerFile, firings: &[Firing], conversions: &[Conversion]) -> String {
    #[derive(Default)]
    struct Row<'a> {
        firings: usize,
        held_out: usize,
        converted: [usize; 2],
        visitors: HashSet<&'a str>,
        first: Option<u64>,
        last: Option<u64>,
    }
    let mut rows: HashMap<&str, Row<'_>> = HashMap::new();
    for c in conversions {
        rows.entry(&*c.trigger_id).or_default().converted[usize::from(c.held_out)] += 1;
    }
    for f in firings {
        let r = rows.entry(&*f.trigger_id).or_default();
        if f.held_out {
            r.held_out += 1;
            continue;
        }
        r.firings += 1;
        r.visitors.insert(&f.visitor);
        r.first = Some(r.first.map_or(f.time, |t| t.min(f.time)));
        r.last = Some(r.last.map_or(f.time, |t| t.max(f.time)));
    }
    let width = file.ids().map(str::len).chain([7]).max().unwrap_or(7);
    let outcomes = has_outcomes(file);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>8}  ",
        "trigger", "firings", "visitors"
    );
    if outcomes {
        out.push_str(&format!("{:>8}  {:>9}  ", "held out", "converted"));
    }
    out.push_str(&format!("{:<24}  last\n", "first"));
    let empty = Row::default();
    for id in file.ids() {
        let r = rows.get(id).unwrap_or(&empty);
        let time = |t: Option<u64>| t.map_or_else(|| "-".to_owned(), iso8601);
        out.push_str(&format!(
            "{id:<width$}  {:>7}  {:>8}  ",
            r.firings,
            r.visitors.len()
        ));
        if outcomes {
            let conv = format!("{}/{}", r.converted[0], r.converted[1]);
            out.push_str(&format!("{:>8}  {conv:>9}  ", r.held_out));
        }
        out.push_str(&format!("{:<24}  {}\n", time(r.first), time(r.last)));
    }
    out
}

/// The order of the output's lines: by time, then visitor, trigger and
/// firing id, whatever order the replay found them in.
fn firing_order(f: &Firing) -> (u64, &str, &str, &str) {
    (f.time, &f.visitor, &f.trigger_id, &f.firing_id)
}

/// A conversion's place in the output, as [`firing_order`].
fn conversion_order(c: &Conversion) -> (u64, &str, &str, &str) {
    (c.time, &c.visitor, &c.trigger_id, &c.firing_id)
}

/// A progress bar on stderr, only when stderr is a terminal.
struct Progress {
    total: usize,
    on: bool,
    shown: bool,
}

impl Progress {
    fn new(input: &str) -> Progress {
        let on = std::io::stderr().is_terminal();
        // Counting lines is a pass over the input: only when the bar shows.
        let total = if on { input.lines().count() } else { 0 };
        Progress {
            total,
            on: on && total > 0,
            shown: false,
        }
    }

    fn tick(&mut self, done: usize) {
        if !self.on || done & 2047 != 0 {
            return;
        }
        let filled = done * 30 / self.total.max(1);
        eprint!(
            "\r[{:<30}] {:>3}% {done}/{} lines",
            "=".repeat(filled),
            done * 100 / self.total.max(1),
            self.total
        );
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The firings and conversions of a run, in the order the CLI prints them.
    fn printed(o: &Outcome) -> (Vec<Firing>, Vec<Conversion>) {
        let mut f = o.firings.clone();
        f.sort_by(|a, b| firing_order(a).cmp(&firing_order(b)));
        let mut c = o.conversions.clone();
        c.sort_by(|a, b| conversion_order(a).cmp(&conversion_order(b)));
        (f, c)
    }

    #[test]
    fn parsing_on_a_second_thread_changes_nothing() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let corpus =
            std::fs::read_to_string(corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR")))
                .expect("the reference corpus");
        // Malformed and blank lines among the events, more than a chunk apart.
        let mut input = String::new();
        for (i, line) in corpus.lines().enumerate() {
            input.push_str(line);
            input.push('\n');
            if i % 1500 == 7 {
                input.push_str("{not json\n\n");
            }
        }
        for file in ["examples/triggers.json", "bench/triggers-50.json"] {
            let json = std::fs::read_to_string(format!("{root}/{file}")).expect("trigger file");
            let t = TriggerFile::parse(&json).expect("valid");
            let run = |pipelined| {
                replay_on(t.clone(), &input, "input", false, pipelined)
                    .unwrap_or_else(|_| panic!("{file}: replay failed"))
            };
            let (one, two) = (run(false), run(true));
            assert!(!one.firings.is_empty(), "{file}: no firings");
            assert_eq!(one.skipped, 8, "{file}");
            assert_eq!(
                (one.events, one.skipped),
                (two.events, two.skipped),
                "{file}"
            );
            assert_eq!(printed(&one), printed(&two), "{file}");
            // Under --strict, both stop at the first malformed line.
            for pipelined in [false, true] {
                let stopped = replay_on(t.clone(), &input, "input", true, pipelined);
                assert!(matches!(stopped, Err(Stop::Malformed)), "{file}");
            }
        }
    }

    #[test]
    fn lines_splits_as_str_lines_does() {
        for input in [
            "",
            "\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\na\n\n",
            "a\rb\n",
            "é\n\r\n",
        ] {
            let ours: Vec<&str> = lines(input).collect();
            let std: Vec<&str> = input.lines().collect();
            assert_eq!(ours, std, "{input:?}");
        }
    }
}
