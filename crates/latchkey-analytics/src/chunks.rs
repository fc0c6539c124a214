//! The rows of a dataset, stored column-wise: each column in blobs of up to 65,536 values
//! (layout in `migrations/0001_datasets.sql`, table `column_chunks`). An import writes a few
//! dozen blobs per million rows instead of a million row inserts, and an analysis loads a
//! column in milliseconds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::RangeInclusive;

use rusqlite::{params, Connection};

use crate::error::Result;
use crate::frame::{ColumnData, MISSING};
use crate::types::{Column, ColumnKind};

/// Rows per chunk.
pub(crate) const CHUNK_ROWS: usize = 65_536;
const MISSING_TIME: i64 = i64::MIN;

/// The length prefix of a missing text value.
const MISSING_LEN: u32 = u32::MAX;

enum Buf {
    /// Numbers and dates: 8 bytes a value. Text: a u32 length (MISSING_LEN) and the bytes.
    Bytes(Vec<u8>),
    Codes {
        bytes: Vec<u8>,
        dict: HashMap<String, u32>,
        values: Vec<String>,
    },
}

/// Collects one import's column chunks and writes each when full.
pub(crate) struct ChunkWriter {
    dataset: i64,
    bufs: Vec<Buf>,
    rows: usize,
    chunk: i64,
}

impl ChunkWriter {
    pub(crate) fn new(dataset: i64, columns: &[Column]) -> ChunkWriter {
        let bufs = columns
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Text => Buf::Bytes(Vec::with_capacity(CHUNK_ROWS * 16)),
                ColumnKind::Category => Buf::Codes {
                    bytes: Vec::with_capacity(CHUNK_ROWS * 4),
                    dict: HashMap::new(),
                    values: Vec::new(),
                },
                _ => Buf::Bytes(Vec::with_capacity(CHUNK_ROWS * 8)),
            })
            .collect();
        ChunkWriter {
            dataset,
            bufs,
            rows: 0,
            chunk: 0,
        }
    }

    pub(crate) fn number(&mut self, col: usize, x: Option<f64>) {
        if let Buf::Bytes(b) = &mut self.bufs[col] {
            b.extend_from_slice(&x.unwrap_or(f64::NAN).to_le_bytes());
        }
    }

    pub(crate) fn time(&mut self, col: usize, t: Option<i64>) {
        if let Buf::Bytes(b) = &mut self.bufs[col] {
            b.extend_from_slice(&t.unwrap_or(MISSING_TIME).to_le_bytes());
        }
    }

    pub(crate) fn text(&mut self, col: usize, v: Option<&str>) {
        if let Buf::Bytes(b) = &mut self.bufs[col] {
            match v {
                // A value of 4 GiB cannot pass the reader's line cap.
                Some(v) => {
                    b.extend_from_slice(&(v.len() as u32).to_le_bytes());
                    b.extend_from_slice(v.as_bytes());
                }
                None => b.extend_from_slice(&MISSING_LEN.to_le_bytes()),
            }
        } else if let Buf::Codes {
            bytes,
            dict,
            values,
        } = &mut self.bufs[col]
        {
            let code = match v {
                None => MISSING,
                Some(v) => match dict.get(v) {
                    Some(&c) => c,
                    None => {
                        let c = values.len() as u32;
                        dict.insert(v.to_owned(), c);
                        values.push(v.to_owned());
                        c
                    }
                },
            };
            bytes.extend_from_slice(&code.to_le_bytes());
        }
    }

    /// Ends a row; writes the chunks when they are full.
    pub(crate) fn end_row(&mut self, conn: &Connection) -> Result<()> {
        self.rows += 1;
        if self.rows == CHUNK_ROWS {
            self.flush(conn)?;
        }
        Ok(())
    }

    fn flush(&mut self, conn: &Connection) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(
            "INSERT INTO column_chunks (dataset_id, position, chunk, data) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            let bytes = match buf {
                Buf::Bytes(b) | Buf::Codes { bytes: b, .. } => b,
            };
            stmt.execute(params![self.dataset, i as i64, self.chunk, &bytes[..]])?;
            bytes.clear();
        }
        self.rows = 0;
        self.chunk += 1;
        Ok(())
    }

    /// Writes the last chunks and each category's dictionary.
    pub(crate) fn finish(mut self, conn: &Connection) -> Result<()> {
        self.flush(conn)?;
        for (i, buf) in self.bufs.iter().enumerate() {
            if let Buf::Codes { values, .. } = buf {
                conn.execute(
                    "UPDATE dataset_columns SET dictionary = ?3 WHERE dataset_id = ?1 AND position = ?2",
                    params![self.dataset, i as i64, serde_json::to_string(values)?],
                )?;
            }
        }
        Ok(())
    }
}

/// FNV-1a for the dictionary built while loading a text column: hashed once per row, and
/// SipHash's protection against chosen collisions is not needed for the user's own file.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The distinct and missing counts of a text column, streamed chunk by chunk: each value is
/// counted by a 64-bit FNV-1a hash (8 bytes a value; two distinct values count as one only on
/// a hash collision, about 1 in 10^7 for a million values), so a column of a million distinct
/// texts is never held as strings.
pub(crate) fn text_counts(conn: &Connection, dataset: i64, column: &Column) -> Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM column_chunks WHERE dataset_id = ?1 AND position = ?2 ORDER BY chunk",
    )?;
    let mut blobs = stmt.query(params![dataset, column.index as i64])?;
    let mut hashes: Vec<u64> = Vec::new();
    let mut missing = 0u64;
    while let Some(row) = blobs.next()? {
        let mut rest: &[u8] = match row.get_ref(0)? {
            rusqlite::types::ValueRef::Blob(b) => b,
            _ => &[],
        };
        while rest.len() >= 4 {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            rest = &rest[4..];
            if len == MISSING_LEN {
                missing += 1;
                continue;
            }
            let (text, tail) = rest.split_at((len as usize).min(rest.len()));
            rest = tail;
            let mut h = Fnv::default();
            h.write(text);
            hashes.push(h.finish());
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    Ok((hashes.len() as u64, missing))
}

/// Reads the chunks `chunks` of one column back (`rows`: a capacity hint). Text is
/// dictionary-encoded on the way, like categories.
pub(crate) fn load(
    conn: &Connection,
    dataset: i64,
    column: &Column,
    chunks: RangeInclusive<i64>,
    rows: usize,
) -> Result<ColumnData> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM column_chunks WHERE dataset_id = ?1 AND position = ?2
         AND chunk BETWEEN ?3 AND ?4 ORDER BY chunk",
    )?;
    let mut blobs = stmt.query(params![
        dataset,
        column.index as i64,
        chunks.start(),
        chunks.end()
    ])?;
    let n = rows.min(1 << 26);
    let mut dict: HashMap<String, u32, BuildHasherDefault<Fnv>> = HashMap::default();
    let mut data = match column.kind {
        ColumnKind::Number => ColumnData::Numbers(Vec::with_capacity(n)),
        ColumnKind::Date | ColumnKind::DateTime => ColumnData::Times(Vec::with_capacity(n)),
        ColumnKind::Text => ColumnData::Texts {
            codes: Vec::with_capacity(n),
            values: Vec::new(),
        },
        ColumnKind::Category => {
            let dict: Option<String> = conn.query_row(
                "SELECT dictionary FROM dataset_columns WHERE dataset_id = ?1 AND position = ?2",
                params![dataset, column.index as i64],
                |r| r.get(0),
            )?;
            let values: Vec<String> = match dict {
                Some(d) => serde_json::from_str(&d)?,
                None => Vec::new(),
            };
            ColumnData::Texts {
                codes: Vec::with_capacity(n),
                values,
            }
        }
    };
    while let Some(row) = blobs.next()? {
        let blob: &[u8] = match row.get_ref(0)? {
            rusqlite::types::ValueRef::Blob(b) => b,
            _ => &[],
        };
        match &mut data {
            ColumnData::Numbers(v) => v.extend(
                blob.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
            ),
            ColumnData::Times(v) => v.extend(blob.chunks_exact(8).map(|b| {
                let t = i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
                (t != MISSING_TIME).then_some(t)
            })),
            ColumnData::Texts { codes, values } if column.kind == ColumnKind::Text => {
                let mut rest = blob;
                while rest.len() >= 4 {
                    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                    rest = &rest[4..];
                    if len == MISSING_LEN {
                        codes.push(MISSING);
                        continue;
                    }
                    let (text, tail) = rest.split_at((len as usize).min(rest.len()));
                    rest = tail;
                    let s = std::str::from_utf8(text).unwrap_or("\u{fffd}");
                    let code = match dict.get(s) {
                        Some(&c) => c,
                        None => {
                            let c = values.len() as u32;
                            dict.insert(s.to_owned(), c);
                            values.push(s.to_owned());
                            c
                        }
                    };
                    codes.push(code);
                }
            }
            ColumnData::Texts { codes, values } => {
                let len = values.len() as u32;
                codes.extend(blob.chunks_exact(4).map(|b| {
                    let c = u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
                    // A code outside the dictionary would index past it: read it as missing.
                    if c < len {
                        c
                    } else {
                        MISSING
                    }
                }));
            }
        }
    }
    Ok(data)
}
