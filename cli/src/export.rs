//! `eventstream export`: a relay's events as the archive's files, in a
//! local folder: the same keys and, in Parquet, the same bytes the relay
//! writes to R2 (both cut segments with `broker_core::archive` from the
//! records alone), so that a backfill or a user without R2 gets the archive
//! too. Running it again writes the same files.

use crate::args::Spec;
use crate::relay::Relay;
use broker_core::archive::{Segment, SegmentPolicy, Table, DEFAULT_INTERVAL_MS};
use broker_core::export::event_record_from_json;
use broker_core::log::Stream;
use std::path::{Path, PathBuf};

const TOKEN_ENV: &str = "EVENTSTREAM_SUBSCRIBER_TOKEN";

/// Records per range read (the relay's most).
const PAGE: usize = 1_000;

const HELP: &str = "\
eventstream export --relay URL --stream events --from OFFSET|earliest [--to OFFSET] --out DIR
                   [--format parquet|ndjson] [--partition N|all] [--interval-ms MS] [--token TOKEN]
    Writes a relay's events as the archive's files under DIR, with the archive's keys
    (events/v1/dt=DAY/hour=HH/part=PPP/FIRST-LAST.parquet; .ndjson for --format ndjson, one
    record per line as the relay serves it). Parquet files are byte for byte those the relay
    writes to its ARCHIVE bucket when --from is where its archive started (earliest, unless
    retention ran before the archive was configured) and --interval-ms is its
    ARCHIVE_INTERVAL_MS. --to OFFSET (exclusive) ends the last file there; without it a
    segment whose hour is not over yet is left out (it would be cut differently later).
    Running it again writes the same files; a file that exists with other contents is an
    error, never overwritten. Defaults: --format parquet, --partition all,
    --interval-ms 3600000. The subscriber token comes from --token or
    EVENTSTREAM_SUBSCRIBER_TOKEN.
    Example: eventstream export --relay http://127.0.0.1:8787 --stream events --from earliest --out archive
";

const SPEC: Spec = Spec {
    command: "export",
    help: HELP,
    valued: &[
        "--relay",
        "--token",
        "--stream",
        "--from",
        "--to",
        "--out",
        "--format",
        "--partition",
        "--interval-ms",
    ],
    flags: &[],
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    Ndjson,
}

struct Export {
    relay: Relay,
    out: PathBuf,
    format: Format,
    policy: SegmentPolicy,
    from: Option<u64>,
    to: Option<u64>,
    written: usize,
    unchanged: usize,
}

/// `eventstream export ARGS`.
pub fn run(argv: &[String]) -> u8 {
    let (opts, relay) = match crate::relay::open(argv, &SPEC, &[TOKEN_ENV]) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return SPEC.usage("unexpected arguments");
    }
    match opts.get("--stream") {
        Some("events") => {}
        Some("firings") => {
            return SPEC.usage(
                "--stream firings: not exported yet (firing records carry no append time to cut segments by); the relay's archive writes them",
            )
        }
        _ => return SPEC.usage("--stream events is required"),
    }
    let from = match opts.get("--from") {
        Some("earliest") => None,
        Some(n) => match n.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return SPEC.usage("--from must be an offset or earliest"),
        },
        None => return SPEC.usage("--from OFFSET|earliest is required"),
    };
    let to = match opts.get("--to").map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return SPEC.usage("--to must be an offset"),
    };
    let Some(out) = opts.get("--out") else {
        return SPEC.usage("--out DIR is required");
    };
    let format = match opts.get("--format").unwrap_or("parquet") {
        "parquet" => Format::Parquet,
        "ndjson" => Format::Ndjson,
        other => {
            return SPEC.usage(&format!(
                "--format must be parquet or ndjson, got {other:?}"
            ))
        }
    };
    let interval = match opts.get("--interval-ms").map(str::parse::<u64>) {
        None => DEFAULT_INTERVAL_MS,
        Some(Ok(n)) => n,
        Some(Err(_)) => return SPEC.usage("--interval-ms must be a number of milliseconds"),
    };
    let policy = match SegmentPolicy::with_interval(interval) {
        Ok(p) => p,
        Err(e) => return SPEC.usage(&e),
    };
    let health = match relay.call("GET", "/health", None) {
        Ok(h) => h,
        Err(e) => return SPEC.fail(&e.to_string()),
    };
    let partitions: Vec<u32> = match opts.get("--partition").unwrap_or("all") {
        "all" => (0..health["partitions"].as_u64().unwrap_or(0) as u32).collect(),
        n => match n.parse() {
            Ok(p) => vec![p],
            Err(_) => return SPEC.usage("--partition must be a number or all"),
        },
    };
    let mut export = Export {
        relay,
        out: PathBuf::from(out),
        format,
        policy,
        from,
        to,
        written: 0,
        unchanged: 0,
    };
    for p in partitions {
        if let Err(e) = export.partition(p) {
            return SPEC.fail(&format!("partition {p}: {e}"));
        }
    }
    eprintln!(
        "eventstream export: {} files written, {} already there and equal",
        export.written, export.unchanged
    );
    0
}

/// One segment being gathered: the plan, its rows, and the records as served.
struct Pending {
    segment: Segment,
    table: Table,
    lines: Vec<String>,
}

impl Export {
    fn pending(&self, first: u64) -> Pending {
        Pending {
            segment: Segment::new(self.policy, first),
            table: Table::events(),
            lines: Vec::new(),
        }
    }

    fn partition(&mut self, partition: u32) -> Result<(), String> {
        let mut from = match self.from {
            Some(n) => n.to_string(),
            None => "earliest".into(),
        };
        let mut pending: Option<Pending> = None;
        loop {
            let path = format!("/v1/partitions/{partition}/events?from={from}&limit={PAGE}");
            let page = self
                .relay
                .call("GET", &path, None)
                .map_err(|e| e.to_string())?;
            let records = page["records"].as_array().cloned().unwrap_or_default();
            let end = page["end"].as_u64().unwrap_or(0);
            for record in &records {
                let r = event_record_from_json(record).map_err(|e| format!("a record: {e}"))?;
                if self.to.is_some_and(|to| r.offset >= to) {
                    return self.finish(partition, pending, true);
                }
                let p = match &mut pending {
                    Some(p) => p,
                    None => pending.insert(self.pending(r.offset)),
                };
                let bytes = p.table.push_event(&r.view());
                if !p.segment.offer(r.source.received_at, bytes) {
                    p.table.pop_row();
                    if let Some(done) = pending.take() {
                        self.write(partition, &done)?;
                    }
                    let mut next = self.pending(r.offset);
                    let bytes = next.table.push_event(&r.view());
                    next.segment.offer(r.source.received_at, bytes);
                    next.lines.push(record.to_string());
                    pending = Some(next);
                } else {
                    p.lines.push(record.to_string());
                }
            }
            let next = page["next_offset"].as_u64().unwrap_or(end);
            if records.is_empty() || next >= end {
                return self.finish(partition, pending, self.to.is_some());
            }
            from = next.to_string();
        }
    }

    /// Writes the last segment if it is closed (by `--to`, or its hour is over).
    fn finish(
        &mut self,
        partition: u32,
        pending: Option<Pending>,
        cut: bool,
    ) -> Result<(), String> {
        let Some(p) = pending else { return Ok(()) };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        if cut || p.segment.is_closed(now) {
            return self.write(partition, &p);
        }
        eprintln!(
            "eventstream export: partition {partition}: offsets {}..{} are in a segment whose interval is not over: not written",
            p.segment.first_offset,
            p.segment.end_offset()
        );
        Ok(())
    }

    fn write(&mut self, partition: u32, p: &Pending) -> Result<(), String> {
        let Some(key) = p.segment.key(Stream::Events, partition) else {
            return Ok(());
        };
        let (first, last) = (p.segment.first_offset, p.segment.end_offset() - 1);
        let (key, bytes) = match self.format {
            Format::Parquet => {
                // The metadata the relay writes (durable/archive.rs), so that
                // the files are the same bytes.
                let bytes = p
                    .table
                    .to_parquet(&[
                        ("stream", "events".to_string()),
                        ("partition", partition.to_string()),
                        ("first_offset", first.to_string()),
                        ("last_offset", last.to_string()),
                        ("rows", p.table.rows().to_string()),
                    ])
                    .map_err(|e| e.to_string())?;
                (key, bytes)
            }
            Format::Ndjson => {
                let mut text = p.lines.join("\n");
                text.push('\n');
                (key.replace(".parquet", ".ndjson"), text.into_bytes())
            }
        };
        let path = self.out.join(&key);
        match std::fs::read(&path) {
            Ok(old) if old == bytes => {
                self.unchanged += 1;
                return Ok(());
            }
            Ok(_) => {
                return Err(format!(
                    "{} exists with other contents: not overwritten",
                    path.display()
                ))
            }
            Err(_) => {}
        }
        write_atomically(&path, &bytes)?;
        self.written += 1;
        Ok(())
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it: a
/// file at `path` is always whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot rename to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        std::env::set_var(TOKEN_ENV, "t");
        let base = "--relay http://127.0.0.1:9 --out /tmp/x";
        for bad in [
            "--stream events",
            "--from earliest",
            "--stream firings --from earliest",
            "--stream events --from soon",
            "--stream events --from 0 --format csv",
            "--stream events --from 0 --interval-ms 0",
            "--stream events --from 0 --to x",
        ] {
            assert_eq!(
                run(&argv(&format!("{base} {bad}"))),
                crate::EXIT_USAGE,
                "{bad}"
            );
        }
        assert_eq!(run(&argv("--help")), 0);
    }

    #[test]
    fn files_are_written_whole_and_then_left_alone() {
        let dir = std::env::temp_dir().join(format!("eventstream-export-{}", std::process::id()));
        let path = dir.join("events/v1/a.parquet");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
