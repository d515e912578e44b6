//! broker-core's [`Storage`] on a Durable Object's SQLite database.
//!
//! One table, `kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID`: SQLite
//! compares BLOBs with `memcmp`, which is exactly the byte order the core's
//! keys are designed for. A [`WriteBatch`] runs inside
//! `ctx.storage.transactionSync`, so a failing statement rolls the whole
//! batch back; the runtime makes the commit durable before any response
//! leaves the object (output gates), so "answered" means "stored".

use broker_core::storage::{Entries, Storage, StorageError, WriteBatch, WriteOp};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, State};

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);";

/// The partition's storage, as the core sees it.
///
/// The hot path calls `ctx.storage.sql.exec` directly (bindings as one
/// argument list, rows fetched with `Array.from(cursor.raw())`): a handful
/// of JavaScript calls per statement instead of several per value.
#[derive(Debug, Clone)]
pub struct SqlStore {
    sql: SqlStorage,
    storage: JsValue,
    /// `ctx.storage.sql` as a JavaScript object.
    sql_js: JsValue,
    /// Its `exec` method.
    exec: js_sys::Function,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(e.to_string())
}

fn js_io(e: JsValue) -> StorageError {
    StorageError::Io(
        e.as_string()
            .or_else(|| {
                js_sys::Reflect::get(&e, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
            })
            .unwrap_or_else(|| "JavaScript exception".into()),
    )
}

/// A blob binding (copied into a JavaScript `Uint8Array`).
fn blob(v: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(v).into()
}

/// A BLOB column value (SQLite hands BLOBs to JavaScript as `ArrayBuffer`).
fn bytes_of(v: JsValue) -> Result<Vec<u8>, StorageError> {
    if v.is_instance_of::<js_sys::ArrayBuffer>() || v.is_instance_of::<js_sys::Uint8Array>() {
        Ok(js_sys::Uint8Array::new(&v).to_vec())
    } else {
        Err(StorageError::Corrupt {
            key: String::new(),
            reason: format!("expected a BLOB, found {v:?}"),
        })
    }
}

impl SqlStore {
    /// The store of the object with `state`; `create` makes the tables
    /// if they do not exist (once per object instance is enough).
    pub fn open(state: &State, create: bool) -> Result<SqlStore, StorageError> {
        let storage = state.storage();
        let sql = storage.sql();
        if create {
            sql.exec(SCHEMA, None).map_err(io)?;
        }
        let sql_js: JsValue = AsRef::<JsValue>::as_ref(&sql).clone();
        let exec = js_sys::Reflect::get(&sql_js, &"exec".into())
            .map_err(js_io)?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| io("ctx.storage.sql.exec is not a function"))?;
        Ok(SqlStore {
            storage: AsRef::<JsValue>::as_ref(storage.as_raw()).clone(),
            sql,
            sql_js,
            exec,
        })
    }

    /// Bytes the database takes on disk.
    pub fn database_size(&self) -> usize {
        self.sql.database_size()
    }

    /// A relay-owned setting (outside the core's key space).
    pub fn meta(&self, name: &str) -> Result<Option<String>, StorageError> {
        let cursor = self
            .sql
            .exec(
                "SELECT value FROM relay_meta WHERE name = ?",
                vec![name.into()],
            )
            .map_err(io)?;
        for row in cursor.raw() {
            if let Some(SqlStorageValue::String(s)) = row.map_err(io)?.into_iter().next() {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// Sets a relay-owned setting.
    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StorageError> {
        self.sql
            .exec(
                "INSERT OR REPLACE INTO relay_meta (name, value) VALUES (?, ?)",
                vec![name.into(), value.into()],
            )
            .map_err(io)?;
        Ok(())
    }

    /// Runs one statement; returns its cursor.
    fn run(&self, query: &str, bindings: &[JsValue]) -> Result<JsValue, JsValue> {
        let args = js_sys::Array::new_with_length(bindings.len() as u32 + 1);
        args.set(0, JsValue::from_str(query));
        for (i, b) in bindings.iter().enumerate() {
            args.set(i as u32 + 1, b.clone());
        }
        self.exec.apply(&self.sql_js, &args)
    }

    /// Runs one statement and returns its rows, each an array of values.
    fn rows(&self, query: &str, bindings: &[JsValue]) -> Result<js_sys::Array, StorageError> {
        let cursor = self.run(query, bindings).map_err(js_io)?;
        let raw = js_sys::Reflect::get(&cursor, &"raw".into())
            .map_err(js_io)?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| io("cursor.raw is not a function"))?
            .call0(&cursor)
            .map_err(js_io)?;
        Ok(js_sys::Array::from(&raw))
    }

    /// `columns` of up to `limit` rows with `start <= key < end`, in key
    /// order, each made into a `T` by `row`.
    fn range<T>(
        &self,
        columns: &str,
        (start, end): (&[u8], &[u8]),
        limit: usize,
        row: impl Fn(js_sys::Array) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        // Integers cross to JavaScript as f64, exact up to 2^53.
        let limit = limit.min(1 << 30) as f64;
        let query =
            format!("SELECT {columns} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?");
        let rows = self.rows(&query, &[blob(start), blob(end), JsValue::from_f64(limit)])?;
        rows.iter().map(|r| row(js_sys::Array::from(&r))).collect()
    }

    fn apply(&self, op: &WriteOp) -> Result<(), JsValue> {
        match op {
            WriteOp::Put(k, v) => self.run(
                "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                &[blob(k), blob(v)],
            )?,
            WriteOp::Delete(k) => self.run("DELETE FROM kv WHERE key = ?", &[blob(k)])?,
            WriteOp::DeleteRange(s, e) => self.run(
                "DELETE FROM kv WHERE key >= ? AND key < ?",
                &[blob(s), blob(e)],
            )?,
        };
        Ok(())
    }
}

impl Storage for SqlStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.rows("SELECT value FROM kv WHERE key = ?", &[blob(key)])?;
        if rows.length() == 0 {
            return Ok(None);
        }
        let row = js_sys::Array::from(&rows.get(0));
        bytes_of(row.get(0)).map(Some)
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError> {
        self.range("key, value", (start, end), limit, |row| {
            Ok((bytes_of(row.get(0))?, bytes_of(row.get(1))?))
        })
    }

    fn scan_keys(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        self.range("key", (start, end), limit, |row| bytes_of(row.get(0)))
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        let failure = std::rc::Rc::new(std::cell::RefCell::new(None));
        let seen = failure.clone();
        let body = Closure::once(move || -> Result<(), JsValue> {
            for op in &batch.ops {
                if let Err(e) = this.apply(op) {
                    *seen.borrow_mut() = Some(js_io(e));
                    // Throwing makes transactionSync roll everything back.
                    return Err(JsValue::from_str("write batch failed"));
                }
            }
            Ok(())
        });
        let transaction_sync = js_sys::Reflect::get(&self.storage, &"transactionSync".into())
            .map_err(js_io)?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| io("ctx.storage.transactionSync is not available"))?;
        let result = transaction_sync.call1(&self.storage, body.as_ref().unchecked_ref());
        drop(body);
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(failure.borrow_mut().take().unwrap_or_else(|| js_io(e))),
        }
    }
}
