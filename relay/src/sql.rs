//! broker-core's [`Storage`] on a Durable Object's SQLite database.
//!
//! One table, `kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID`: SQLite
//! compares BLOBs with `memcmp`, which is exactly the byte order the core's
//! keys are designed for. A [`WriteBatch`] runs inside
//! `ctx.storage.transactionSync`, so a failing statement rolls the whole
//! batch back; the runtime makes the commit durable before any response
//! leaves the object (output gates), so "answered" means "stored".

use broker_core::storage::{Storage, StorageError, WriteBatch, WriteOp};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, SqlStorageValue, State};

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relay_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);";

/// The partition's storage, as the core sees it.
#[derive(Debug, Clone)]
pub struct SqlStore {
    sql: SqlStorage,
    storage: JsValue,
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

fn blob(v: &[u8]) -> SqlStorageValue {
    SqlStorageValue::Blob(v.to_vec())
}

fn as_bytes(v: SqlStorageValue) -> Result<Vec<u8>, StorageError> {
    match v {
        SqlStorageValue::Blob(b) => Ok(b),
        other => Err(StorageError::Corrupt {
            key: String::new(),
            reason: format!("expected a BLOB, found {other:?}"),
        }),
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
        Ok(SqlStore {
            storage: AsRef::<JsValue>::as_ref(storage.as_raw()).clone(),
            sql,
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

    fn apply(sql: &SqlStorage, op: &WriteOp) -> worker::Result<()> {
        match op {
            WriteOp::Put(k, v) => sql.exec(
                "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                vec![blob(k), blob(v)],
            )?,
            WriteOp::Delete(k) => sql.exec("DELETE FROM kv WHERE key = ?", vec![blob(k)])?,
            WriteOp::DeleteRange(s, e) => sql.exec(
                "DELETE FROM kv WHERE key >= ? AND key < ?",
                vec![blob(s), blob(e)],
            )?,
        };
        Ok(())
    }
}

impl Storage for SqlStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let cursor = self
            .sql
            .exec("SELECT value FROM kv WHERE key = ?", vec![blob(key)])
            .map_err(io)?;
        match cursor.raw().next() {
            None => Ok(None),
            Some(row) => {
                let v = row.map_err(io)?.into_iter().next();
                v.map(as_bytes).transpose()
            }
        }
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StorageError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).min(1 << 40);
        let cursor = self
            .sql
            .exec(
                "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
                vec![blob(start), blob(end), SqlStorageValue::Integer(limit)],
            )
            .map_err(io)?;
        let mut out = Vec::new();
        for row in cursor.raw() {
            let mut row = row.map_err(io)?.into_iter();
            match (row.next(), row.next()) {
                (Some(k), Some(v)) => out.push((as_bytes(k)?, as_bytes(v)?)),
                _ => return Err(io("scan returned a short row")),
            }
        }
        Ok(out)
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let sql = self.sql.clone();
        let failure = std::rc::Rc::new(std::cell::RefCell::new(None));
        let seen = failure.clone();
        let body = Closure::once(move || -> Result<(), JsValue> {
            for op in &batch.ops {
                if let Err(e) = SqlStore::apply(&sql, op) {
                    *seen.borrow_mut() = Some(e.to_string());
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
            Err(e) => Err(match failure.borrow_mut().take() {
                Some(msg) => io(msg),
                None => js_io(e),
            }),
        }
    }
}
