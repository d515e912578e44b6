//! `eventstream triggers backtest FILE EVENTS`: the relay's engine over a
//! recorded stream, wake-ups included, in memory.

use super::args::Args;
use broker_core::storage::{keys, WriteOp};
use broker_core::trigger::{Engine, Firing, TriggerFile};
use broker_core::{corpus, export, Event, MemoryStorage, Storage, StorageError, WriteBatch};
use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};

const HELP: &str = "\
eventstream triggers backtest FILE EVENTS [--summary] [--trigger ID]... [--strict]

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

Example:
  $ eventstream triggers backtest examples/triggers.json examples/corpus/clickstream.jsonl --summary
  $ eventstream tail --relay http://127.0.0.1:8787 --from earliest --until-end | \\
      eventstream triggers backtest new-triggers.json - --trigger cart-rescue
";

/// Runs `triggers backtest ARGS`.
pub fn run(args: &[String]) -> u8 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return 0;
    }
    let parsed = match Args::parse(args, &["--trigger"], &["--summary", "--strict"]) {
        Ok(a) => a,
        Err(e) => return super::usage("backtest", &e, HELP),
    };
    let [file, events_path] = parsed.positional.as_slice() else {
        return super::usage("backtest", "expected FILE and EVENTS", HELP);
    };
    if file == "-" && events_path == "-" {
        return super::usage("backtest", "FILE and EVENTS cannot both be stdin", HELP);
    }
    let text = match super::read_input(file) {
        Ok(t) => t,
        Err(e) => return cannot_read(file, &e),
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
            return super::usage("backtest", &msg, HELP);
        }
        triggers = triggers.retain(|id| only.contains(&id));
    }
    let input = match super::read_input(events_path) {
        Ok(t) => t,
        Err(e) => return cannot_read(events_path, &e),
    };
    let started = std::time::Instant::now();
    let strict = parsed.has("--strict");
    let run = match Backtest::new(triggers.clone()).run(&input, events_path, strict) {
        Ok(r) => r,
        Err(Stop::Malformed) => return 1,
        Err(Stop::Storage(e)) => {
            eprintln!("eventstream triggers backtest: {e}");
            return 1;
        }
    };
    let elapsed = started.elapsed();
    let mut firings = run.firings;
    firings.sort_by(|a, b| {
        (a.time, &a.visitor, &a.trigger_id, &a.firing_id).cmp(&(
            b.time,
            &b.visitor,
            &b.trigger_id,
            &b.firing_id,
        ))
    });
    if !parsed.has("--summary") {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for f in &firings {
            if writeln!(out, "{}", firing_line(f)).is_err() {
                return 0; // stdout closed (`| head`): nothing more to say
            }
        }
        if out.flush().is_err() {
            return 0;
        }
    }
    eprint!("{}", table(&triggers, &firings));
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "{} events, {} malformed lines skipped, {} firings in {:.1} ms ({:.0} events/s)",
        run.events,
        run.skipped,
        firings.len(),
        secs * 1e3,
        run.events as f64 / secs
    );
    0
}

fn cannot_read(path: &str, e: &std::io::Error) -> u8 {
    eprintln!("eventstream triggers backtest: cannot read {path}: {e}");
    crate::EXIT_USAGE
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
    events: u64,
    skipped: u64,
}

struct Backtest {
    engine: Engine,
    store: MemoryStorage,
    firings: Vec<Firing>,
    /// No wake-up is due before this (it may be early, never late), so that
    /// most events skip `on_timeout` altogether.
    next_wake: u64,
}

impl Backtest {
    fn new(file: TriggerFile) -> Backtest {
        Backtest {
            engine: Engine::new(file),
            store: MemoryStorage::new(),
            firings: Vec::new(),
            next_wake: u64::MAX,
        }
    }

    /// Fires everything due up to `now`.
    fn wake(&mut self, now: u64) -> Result<(), StorageError> {
        let mut w = WriteBatch::new();
        let fired = self.engine.on_timeout(&self.store, &mut w, now)?;
        self.firings.extend(fired);
        self.store.commit(w)?;
        self.next_wake = self.engine.poll_timeout(&self.store)?.unwrap_or(u64::MAX);
        Ok(())
    }

    /// Evaluates one visitor's consecutive events (offsets `base..`).
    fn batch(
        &mut self,
        visitor: &str,
        events: &[Event<'_>],
        base: u64,
    ) -> Result<(), StorageError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        // Everything due strictly before the first event's time fires first;
        // a deadline equal to it waits, since this very event may cancel it.
        // (Due times inside the batch the engine handles itself, the same way.)
        if self.next_wake < first.timestamp {
            self.wake(first.timestamp - 1)?;
        }
        let mut w = WriteBatch::new();
        let fired = self
            .engine
            .on_events(&self.store, &mut w, visitor, events, base)?;
        self.firings.extend(fired);
        // A new wake-up key is the only way an earlier deadline can appear.
        for op in &w.ops {
            if let WriteOp::Put(k, _) = op {
                if let [keys::WAKEUP, d @ ..] = &k[..] {
                    if let Some(d) = d.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                        self.next_wake = self.next_wake.min(u64::from_be_bytes(d));
                    }
                }
            }
        }
        self.store.commit(w)
    }

    /// Evaluates the input in order. Consecutive events of one visitor with
    /// consecutive offsets go to the engine as one batch: the engine fires
    /// what falls due between them exactly as separate calls would, at a
    /// fraction of the storage round trips.
    fn run(mut self, input: &str, name: &str, strict: bool) -> Result<Outcome, Stop> {
        let mut progress = Progress::new(input);
        let (mut events, mut skipped) = (0u64, 0u64);
        let mut group: (String, Vec<Event<'_>>, u64) = (String::new(), Vec::new(), 0);
        for (i, line) in input.lines().enumerate() {
            progress.tick(i);
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line, events) {
                Ok((visitor, event, offset)) => {
                    let (gv, gev, gbase) = &mut group;
                    let joins = *gv == visitor && *gbase + gev.len() as u64 == offset;
                    if !joins {
                        self.batch(gv, gev, *gbase)?;
                        gev.clear();
                        *gv = visitor;
                        *gbase = offset;
                    }
                    gev.push(event);
                    events += 1;
                }
                Err(why) => {
                    progress.clear();
                    eprintln!("{name}:{}: {why}", i + 1);
                    if strict {
                        return Err(Stop::Malformed);
                    }
                    skipped += 1;
                }
            }
        }
        self.batch(&group.0, &group.1, group.2)?;
        progress.clear();
        // Time runs on after the input: every pending delayed firing fires.
        self.wake(u64::MAX)?;
        Ok(Outcome {
            firings: self.firings,
            events,
            skipped,
        })
    }
}

/// One input line as (visitor, event, log offset); `ordinal` is the offset
/// used when the line carries none (corpus calls).
fn parse_line(line: &str, ordinal: u64) -> Result<(String, Event<'_>, u64), String> {
    if let Some(parsed) = super::fastparse::parse(line, ordinal) {
        return Ok(parsed);
    }
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

/// `{"firing_id":..,"trigger":..,"visitor":..,"time":..,"action":{"type":..,"payload":..}}`,
/// in that key order.
fn firing_line(f: &Firing) -> String {
    let s = |x: &str| serde_json::Value::from(x).to_string();
    format!(
        r#"{{"firing_id":{},"trigger":{},"visitor":{},"time":{},"action":{{"type":{},"payload":{}}}}}"#,
        s(&f.firing_id),
        s(&f.trigger_id),
        s(&f.visitor),
        f.time,
        s(&f.action_type),
        f.payload
    )
}

/// Per trigger, in file order, zeros included.
fn table(file: &TriggerFile, firings: &[Firing]) -> String {
    #[derive(Default)]
    struct Row<'a> {
        firings: usize,
        visitors: HashSet<&'a str>,
        first: Option<u64>,
        last: Option<u64>,
    }
    let mut rows: HashMap<&str, Row<'_>> = HashMap::new();
    for f in firings {
        let r = rows.entry(f.trigger_id.as_str()).or_default();
        r.firings += 1;
        r.visitors.insert(&f.visitor);
        r.first = Some(r.first.map_or(f.time, |t| t.min(f.time)));
        r.last = Some(r.last.map_or(f.time, |t| t.max(f.time)));
    }
    let width = file.ids().map(str::len).chain([7]).max().unwrap_or(7);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>8}  {:<24}  last\n",
        "trigger", "firings", "visitors", "first"
    );
    let empty = Row::default();
    for id in file.ids() {
        let r = rows.get(id).unwrap_or(&empty);
        let time = |t: Option<u64>| t.map_or_else(|| "-".to_owned(), iso8601);
        out.push_str(&format!(
            "{id:<width$}  {:>7}  {:>8}  {:<24}  {}\n",
            r.firings,
            r.visitors.len(),
            time(r.first),
            time(r.last)
        ));
    }
    out
}

/// `2025-11-24T16:00:11.223Z` for ms since the epoch.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
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

    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_764_000_011_223), "2025-11-24T16:00:11.223Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
