//! The archive's columns, filled record by record, and their Parquet
//! encoding.

use super::SCHEMA_VERSION;
use crate::event::{map_get, Map, Value};
use crate::partition::EventView;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use serde_json::Value as Json;
use std::sync::Arc;

/// Why a table could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// `s`, or `None` when empty (an empty context field means "not sent").
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A property map as compact JSON, keys sorted bytewise at every level:
/// byte for byte what serde_json writes for the map converted to a
/// `serde_json::Value` (its `Map` is sorted), without building that tree
/// (half of the cost of a row).
fn write_map(out: &mut Vec<u8>, m: &Map<'_>) {
    let key = |i: usize| m[i].0.as_bytes();
    // The order by key as indices; on the stack for maps of up to 32
    // entries (the frame's limit is 64), so a row allocates nothing here.
    let mut small = [0u8; 32];
    if let Some(order) = small.get_mut(..m.len()) {
        for (i, x) in order.iter_mut().enumerate() {
            *x = i as u8;
        }
        order.sort_unstable_by(|&a, &b| key(a.into()).cmp(key(b.into())));
        write_entries(out, m, order.iter().map(|&i| usize::from(i)));
    } else {
        let mut order: Vec<usize> = (0..m.len()).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)));
        write_entries(out, m, order.into_iter());
    }
}

fn write_entries(out: &mut Vec<u8>, m: &Map<'_>, order: impl Iterator<Item = usize>) {
    out.push(b'{');
    for (n, i) in order.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let (k, v) = &m[i];
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{i}");
        }
        // serde_json's own formatting (and `null` for what JSON cannot hold).
        Value::Float(f) => write_json(out, f),
        Value::Str(s) => write_str(out, s),
        Value::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Map(m) => write_map(out, m),
    }
}

/// The bytes serde_json escapes in a string: one load per byte to find
/// them rather than three comparisons (the relay's wasm has no SIMD).
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A JSON string as serde_json writes it: as is between quotes when no
/// byte needs escaping (serde_json escapes only `"`, the backslash and the
/// control characters), else through serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| ESCAPED[usize::from(b)]) {
        write_json(out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, v);
}

/// A column's physical and logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `INT32`.
    Int32,
    /// `INT64`.
    Int64,
    /// `INT64` annotated unsigned (DuckDB `UBIGINT`).
    UInt64,
    /// `INT64` milliseconds since the epoch, UTC (DuckDB `TIMESTAMP WITH TIME ZONE`).
    TimestampMs,
    /// `BYTE_ARRAY` UTF-8 (DuckDB `VARCHAR`).
    Utf8,
    /// `BOOLEAN`.
    Bool,
}

impl ColumnType {
    /// The physical type and the logical annotation (after the name).
    fn parquet(self) -> (&'static str, &'static str) {
        match self {
            ColumnType::Int32 => ("int32", ""),
            ColumnType::Int64 => ("int64", ""),
            ColumnType::UInt64 => ("int64", " (INTEGER(64,false))"),
            ColumnType::TimestampMs => ("int64", " (TIMESTAMP(MILLIS,true))"),
            ColumnType::Utf8 => ("binary", " (STRING)"),
            ColumnType::Bool => ("boolean", ""),
        }
    }
}

/// One column: name, type, whether it may be null, and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The column's name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it may be null.
    pub optional: bool,
    /// What it holds (the README's column table).
    pub doc: &'static str,
}

impl ColumnSpec {
    /// Whether the file carries min/max statistics for the column: for
    /// numbers (offsets, times: a reader skips files by them), not for
    /// text, which no reader prunes by range in files of an hour's events
    /// and whose comparisons were a sixth of an encoding's work.
    pub fn has_statistics(&self) -> bool {
        self.ty != ColumnType::Utf8
    }
}

const fn col(name: &'static str, ty: ColumnType, optional: bool, doc: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        optional,
        doc,
    }
}

use ColumnType::{Bool, Int32, Int64, TimestampMs, UInt64, Utf8};

/// The columns of `events/v1` files, in file order (version 1's, then
/// version 2's).
pub const EVENT_COLUMNS: &[ColumnSpec] = &[
    col("partition", Int32, false, "the partition"),
    col(
        "offset",
        Int64,
        false,
        "the event's offset in its partition's event stream",
    ),
    col(
        "received_at",
        TimestampMs,
        false,
        "when the relay appended the event's frame",
    ),
    col(
        "event_time",
        TimestampMs,
        false,
        "when the event happened, by the page's clock",
    ),
    col(
        "kind",
        Utf8,
        false,
        "`track`, `page`, `identify`, `click` or `submit`",
    ),
    col(
        "event_name",
        Utf8,
        false,
        "the track or page name, the user id of an identify, `\"\"` otherwise",
    ),
    col("anonymous_id", Utf8, false, "the visitor's anonymous id"),
    col("user_id", Utf8, true, "the user id the frame carried"),
    col("session_id", Int64, true, "the SDK's session number"),
    col("page_url", Utf8, true, "property `url` (page events)"),
    col("page_path", Utf8, true, "property `path`"),
    col("page_title", Utf8, true, "property `title`"),
    col(
        "page_referrer",
        Utf8,
        true,
        "property `referrer`, else the frame's referrer",
    ),
    col(
        "campaign_name",
        Utf8,
        true,
        "`utm_campaign` of the landing URL",
    ),
    col("campaign_source", Utf8, true, "`utm_source`"),
    col("campaign_medium", Utf8, true, "`utm_medium`"),
    col("campaign_term", Utf8, true, "`utm_term`"),
    col("campaign_content", Utf8, true, "`utm_content`"),
    col("origin", Utf8, true, "the page's origin"),
    col("locale", Utf8, true, "`navigator.language`"),
    col("timezone", Utf8, true, "the browser's IANA time zone"),
    col("screen_width", Int32, true, "screen width, CSS pixels"),
    col("screen_height", Int32, true, "screen height, CSS pixels"),
    col("library", Utf8, true, "the SDK's name and version"),
    col(
        "properties",
        Utf8,
        false,
        "the event's properties, a JSON object",
    ),
    col("producer_id", UInt64, false, "the sending SDK instance"),
    col(
        "sequence",
        UInt64,
        false,
        "the frame's sequence for its producer",
    ),
    col(
        "event_index",
        Int32,
        false,
        "the event's index in its frame (producer, sequence and index identify an event)",
    ),
    // Schema version 2: the relay's enrichment and the tracking plan's marks.
    col(
        "geo_country",
        Utf8,
        true,
        "ISO country code of the request (`request.cf`)",
    ),
    col("geo_region", Utf8, true, "region of the request"),
    col("geo_city", Utf8, true, "city of the request"),
    col("geo_continent", Utf8, true, "continent code of the request"),
    col(
        "geo_timezone",
        Utf8,
        true,
        "IANA time zone of the request's place",
    ),
    col(
        "geo_asn",
        Int64,
        true,
        "autonomous system number of the client's network",
    ),
    col(
        "device_type",
        Utf8,
        true,
        "`desktop`, `mobile`, `tablet`, `bot` or `other`, from the user agent",
    ),
    col("device_browser", Utf8, true, "browser name"),
    col("device_version", Utf8, true, "browser version"),
    col("device_os", Utf8, true, "operating system"),
    col(
        "bot",
        Bool,
        true,
        "the relay's bot verdict (null when nothing was known)",
    ),
    col(
        "violations",
        Utf8,
        true,
        "a flagged event's tracking-plan violations, a JSON list of {kind, code, path, message}",
    ),
];

/// The columns of `firings/v1` files, in file order.
pub const FIRING_COLUMNS: &[ColumnSpec] = &[
    col("partition", Int32, false, "the partition"),
    col(
        "offset",
        Int64,
        false,
        "the record's offset in its partition's firing stream",
    ),
    col(
        "received_at",
        TimestampMs,
        false,
        "when the relay appended the record",
    ),
    col(
        "time",
        TimestampMs,
        true,
        "the record's `time` (when the trigger fired)",
    ),
    col("firing_id", Utf8, true, "the firing's id"),
    col("trigger", Utf8, true, "the trigger's id"),
    col("anonymous_id", Utf8, true, "the visitor's anonymous id"),
    col("action_type", Utf8, true, "`action.type`"),
    col(
        "record",
        Utf8,
        false,
        "the whole record as the relay's JSON (every field, also of record kinds added later)",
    ),
];

#[derive(Debug, Clone)]
enum Data {
    Ints(Vec<i64>),
    /// The values' text end to end, and where each ends: one allocation
    /// per column rather than one per value.
    Bytes {
        text: Vec<u8>,
        ends: Vec<usize>,
    },
}

#[derive(Debug, Clone)]
struct Column {
    spec: ColumnSpec,
    data: Data,
    /// Definition levels (1 present, 0 null), for optional columns.
    defs: Vec<i16>,
}

/// Rows of one stream, stored column by column.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: usize,
    cursor: usize,
}

impl Table {
    /// An empty table of `specs`.
    pub fn new(specs: &[ColumnSpec]) -> Table {
        let columns = specs
            .iter()
            .map(|&spec| Column {
                spec,
                data: match spec.ty {
                    Utf8 => Data::Bytes {
                        text: Vec::new(),
                        ends: Vec::new(),
                    },
                    _ => Data::Ints(Vec::new()),
                },
                defs: Vec::new(),
            })
            .collect();
        Table {
            columns,
            rows: 0,
            cursor: 0,
        }
    }

    /// An empty events table.
    pub fn events() -> Table {
        Table::new(EVENT_COLUMNS)
    }

    /// An empty firings table.
    pub fn firings() -> Table {
        Table::new(FIRING_COLUMNS)
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn next(&mut self) -> &mut Column {
        let c = &mut self.columns[self.cursor];
        self.cursor += 1;
        c
    }

    fn int(&mut self, v: Option<i64>) -> usize {
        let c = self.next();
        if c.spec.optional {
            c.defs.push(i16::from(v.is_some()));
        }
        if let (Data::Ints(d), Some(v)) = (&mut c.data, v) {
            d.push(v);
        }
        8
    }

    fn str(&mut self, v: Option<&str>) -> usize {
        let c = self.next();
        if c.spec.optional {
            c.defs.push(i16::from(v.is_some()));
        }
        match (&mut c.data, v) {
            (Data::Bytes { text, ends }, Some(s)) => {
                text.extend_from_slice(s.as_bytes());
                ends.push(text.len());
                s.len() + super::STRING_OVERHEAD
            }
            _ => 0,
        }
    }

    /// A present string that `write` appends to the column's text.
    fn str_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let c = self.next();
        if c.spec.optional {
            c.defs.push(1);
        }
        match &mut c.data {
            Data::Bytes { text, ends } => {
                let start = text.len();
                write(text);
                ends.push(text.len());
                text.len() - start + super::STRING_OVERHEAD
            }
            Data::Ints(_) => 0,
        }
    }

    fn end_row(&mut self) {
        debug_assert_eq!(self.cursor, self.columns.len(), "a row sets every column");
        self.cursor = 0;
        self.rows += 1;
    }

    /// Removes the last row (the one a [`super::Segment`] refused).
    pub fn pop_row(&mut self) {
        if self.rows == 0 {
            return;
        }
        for c in &mut self.columns {
            let present = if c.spec.optional {
                c.defs.pop() == Some(1)
            } else {
                true
            };
            if present {
                match &mut c.data {
                    Data::Ints(v) => drop(v.pop()),
                    Data::Bytes { text, ends } => {
                        ends.pop();
                        text.truncate(ends.last().copied().unwrap_or(0));
                    }
                }
            }
        }
        self.rows -= 1;
    }

    /// Appends an event (a table of [`EVENT_COLUMNS`]); returns its row
    /// bytes (strings plus [`super::STRING_OVERHEAD`] each, 8 per number), the measure
    /// [`super::Segment::offer`] bounds: computed from the record alone, so
    /// that the relay and the export agree.
    /// An [`EventRecord`](crate::partition::EventRecord) is pushed as
    /// `push_event(&record.view())`.
    pub fn push_event(&mut self, r: &EventView<'_>) -> usize {
        let ctx = r.context;
        let props = &r.event.properties;
        let prop = |name: &str| match map_get(props, name) {
            Some(Value::Str(s)) => Some(s.as_ref()),
            _ => None,
        };
        // A context carries the campaign as the SDK sent it (`utm_campaign`)
        // or, read back from an export, by the spec's names (`name`): both
        // write the same column, so the relay and `export` agree.
        let campaign = |(name, param): (&str, &str)| match map_get(&ctx.campaign, param)
            .or_else(|| map_get(&ctx.campaign, name))
        {
            Some(Value::Str(s)) => Some(s.as_ref()),
            _ => None,
        };
        let non_zero = |n: u64| (n != 0).then_some(n as i64);
        let referrer = prop("referrer").or_else(|| non_empty(&ctx.referrer));
        let mut n = 0;
        n += self.int(Some(i64::from(r.partition)));
        n += self.int(Some(r.offset as i64));
        n += self.int(Some(r.received_at as i64));
        n += self.int(Some(r.event.timestamp as i64));
        n += self.str(Some(r.event.kind.as_str()));
        n += self.str(Some(&r.event.name));
        n += self.str(Some(r.visitor));
        n += self.str(r.user_id);
        n += self.int(non_zero(ctx.session_id));
        n += self.str(prop("url"));
        n += self.str(prop("path"));
        n += self.str(prop("title"));
        n += self.str(referrer);
        for field in &crate::context::CAMPAIGN_FIELDS[..5] {
            n += self.str(campaign(*field));
        }
        n += self.str(non_empty(&ctx.origin));
        n += self.str(non_empty(&ctx.locale));
        n += self.str(non_empty(&ctx.timezone));
        n += self.int(non_zero(u64::from(ctx.screen_width)));
        n += self.int(non_zero(u64::from(ctx.screen_height)));
        n += self.str(non_empty(&ctx.library));
        // Written straight into the column (JSON of UTF-8 strings: UTF-8).
        n += self.str_with(|text| write_map(text, props));
        // Unsigned 64-bit values are stored bit for bit (Parquet's UINT_64).
        n += self.int(Some(r.producer_id as i64));
        n += self.int(Some(r.sequence as i64));
        n += self.int(Some(i64::from(r.index)));
        let e = r.enrichment;
        let geo = e.map(|e| &e.geo);
        let device = e.map(|e| &e.device);
        for text in [
            geo.and_then(|g| g.country.as_deref()),
            geo.and_then(|g| g.region.as_deref()),
            geo.and_then(|g| g.city.as_deref()),
            geo.and_then(|g| g.continent.as_deref()),
            geo.and_then(|g| g.timezone.as_deref()),
        ] {
            n += self.str(text);
        }
        n += self.int(geo.and_then(|g| g.asn).map(i64::from));
        for text in [
            device.and_then(|d| d.kind.as_deref()),
            device.and_then(|d| d.browser.as_deref()),
            device.and_then(|d| d.version.as_deref()),
            device.and_then(|d| d.os.as_deref()),
        ] {
            n += self.str(text);
        }
        n += self.int(e.and_then(|e| e.bot).map(i64::from));
        let violations = (!r.violations.is_empty()).then(|| {
            let list: Vec<Json> = r.violations.iter().map(|v| v.to_json()).collect();
            Json::Array(list).to_string()
        });
        n += self.str(violations.as_deref());
        self.end_row();
        n
    }

    /// Appends a firing-stream record, given as the relay's JSON record
    /// (`export::firing_record_to_json`), appended at `received_at` (a
    /// table of [`FIRING_COLUMNS`]); returns its row bytes.
    pub fn push_firing(
        &mut self,
        partition: u32,
        offset: u64,
        received_at: u64,
        record: &Json,
    ) -> usize {
        let s = |k: &str| record.get(k).and_then(Json::as_str);
        let action = record
            .get("action")
            .and_then(|a| a.get("type"))
            .and_then(Json::as_str);
        let text = record.to_string();
        let mut n = 0;
        n += self.int(Some(i64::from(partition)));
        n += self.int(Some(offset as i64));
        n += self.int(Some(received_at as i64));
        n += self.int(record.get("time").and_then(Json::as_u64).map(|t| t as i64));
        n += self.str(s("firing_id"));
        n += self.str(s("trigger"));
        n += self.str(s("visitor"));
        n += self.str(action);
        n += self.str(Some(&text));
        self.end_row();
        n
    }

    /// The Parquet message type of these columns.
    pub fn message_type(&self, name: &str) -> String {
        let mut m = format!("message {name} {{\n");
        for c in &self.columns {
            let rep = if c.spec.optional {
                "optional"
            } else {
                "required"
            };
            let (physical, logical) = c.spec.ty.parquet();
            m.push_str(&format!("  {rep} {physical} {}{logical};\n", c.spec.name));
        }
        m.push('}');
        m
    }

    /// The table as one Parquet file: Snappy, one row group, column
    /// statistics, and `eventstream.schema_version` plus `metadata` in the
    /// footer's key-value metadata. Deterministic: the same rows and
    /// metadata give the same bytes.
    pub fn to_parquet(&self, metadata: &[(&str, String)]) -> Result<Vec<u8>, ArchiveError> {
        let schema = Arc::new(parse_message_type(&self.message_type("record"))?);
        let mut kv = vec![KeyValue::new(
            "eventstream.schema_version".into(),
            SCHEMA_VERSION.to_string(),
        )];
        kv.extend(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new(format!("eventstream.{k}"), v.clone())),
        );
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(self.rows.max(1)))
            .set_key_value_metadata(Some(kv));
        for c in self.columns.iter().filter(|c| !c.spec.has_statistics()) {
            props = props.set_column_statistics_enabled(
                ColumnPath::from(c.spec.name),
                EnabledStatistics::None,
            );
        }
        let props = props.build();
        let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props))?;
        let mut group = writer.next_row_group()?;
        let mut columns = self.columns.iter();
        while let Some(mut out) = group.next_column()? {
            let Some(c) = columns.next() else { break };
            let defs = c.spec.optional.then_some(c.defs.as_slice());
            match (&c.data, c.spec.ty) {
                (Data::Ints(v), Int32) => {
                    let v: Vec<i32> = v.iter().map(|&x| x as i32).collect();
                    out.typed::<Int32Type>().write_batch(&v, defs, None)?;
                }
                (Data::Ints(v), Bool) => {
                    let v: Vec<bool> = v.iter().map(|&x| x != 0).collect();
                    out.typed::<BoolType>().write_batch(&v, defs, None)?;
                }
                (Data::Ints(v), _) => {
                    out.typed::<Int64Type>().write_batch(v, defs, None)?;
                }
                (Data::Bytes { text, ends }, _) => {
                    // Values as slices of one shared buffer (no copy each).
                    let all = bytes::Bytes::copy_from_slice(text);
                    let mut start = 0;
                    let v: Vec<ByteArray> = ends
                        .iter()
                        .map(|&end| {
                            let value = ByteArray::from(all.slice(start..end));
                            start = end;
                            value
                        })
                        .collect();
                    out.typed::<ByteArrayType>().write_batch(&v, defs, None)?;
                }
            }
            out.close()?;
        }
        group.close()?;
        Ok(writer.into_inner()?)
    }
}
