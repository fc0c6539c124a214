//! Reading a delimited text file: encoding, delimiter and header detection, then a stream of
//! records. Memory stays bounded: the file is read in chunks, never whole.
//!
//! Detection, in order:
//! - **Encoding.** A byte-order mark decides (UTF-8, UTF-16 LE, UTF-16 BE). Without one, the
//!   file is UTF-8 when every byte sequence in it is valid UTF-8 (checked over the whole file
//!   while hashing it), else Latin-1 (read as windows-1252, its superset). A NUL byte outside
//!   UTF-16 means a binary file: not a table.
//! - **Delimiter.** Each of `,` `;` tab `|` splits the first records (up to 50, within the first
//!   256 KiB) with the CSV parser (quotes respected). The delimiter whose first record has at
//!   least two fields and the most records with that same count wins; ties go to the most
//!   fields, then to the order above. Fewer than 80% consistent records for every candidate:
//!   not a table.
//! - **Header.** The first record is a header when its fields are all non-empty, distinct, and
//!   none reads as a number or a date. Without a header the columns are `column_1`, ...

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use encoding_rs::{Decoder, UTF_16BE, UTF_16LE, WINDOWS_1252};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::parse;
use crate::types::{DateOrder, DecimalMark};

/// The default size cap: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The default column cap.
pub const DEFAULT_MAX_COLUMNS: usize = 1_000;
const SAMPLE_BYTES: usize = 256 * 1024;
const SAMPLE_RECORDS: usize = 50;
const CHUNK: usize = 64 * 1024;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Limits and the choices a user can force instead of detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Files larger than this are refused before reading.
    pub max_bytes: u64,
    /// Rows with more fields than this are refused.
    pub max_columns: usize,
    /// Force the delimiter.
    pub delimiter: Option<u8>,
    /// Force whether the first row is a header.
    pub header: Option<bool>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_bytes: DEFAULT_MAX_BYTES,
            max_columns: DEFAULT_MAX_COLUMNS,
            delimiter: None,
            header: None,
        }
    }
}

/// The text encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// ISO-8859-1, read as its superset windows-1252.
    Latin1,
}

impl Encoding {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf8",
            Encoding::Utf8Bom => "utf8_bom",
            Encoding::Utf16Le => "utf16_le",
            Encoding::Utf16Be => "utf16_be",
            Encoding::Latin1 => "latin1",
        }
    }

    /// The inverse of [`Encoding::as_str`].
    pub fn parse(s: &str) -> Option<Encoding> {
        Some(match s {
            "utf8" => Encoding::Utf8,
            "utf8_bom" => Encoding::Utf8Bom,
            "utf16_le" => Encoding::Utf16Le,
            "utf16_be" => Encoding::Utf16Be,
            "latin1" => Encoding::Latin1,
            _ => return None,
        })
    }
}

/// What detection found out about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniff {
    pub bytes: u64,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    pub encoding: Encoding,
    pub delimiter: u8,
    pub has_header: bool,
    /// Column names: the header's (trimmed, made unique) or `column_1`, `column_2`, ...
    pub columns: Vec<String>,
    max_columns: usize,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the whole file once, in chunks (hash, encoding, binary check), then its first
/// 256 KiB again (delimiter, header). Refuses files over the size cap before reading.
pub fn sniff(path: &Path, opts: &ReadOptions) -> Result<Sniff> {
    let file = File::open(path).map_err(io_err(path))?;
    let bytes = file.metadata().map_err(io_err(path))?.len();
    if bytes > opts.max_bytes {
        return Err(Error::TooLarge {
            bytes,
            cap: opts.max_bytes,
        });
    }
    let (sha256, encoding) = hash_and_encoding(file, path)?;
    let mut sample = String::new();
    let mut whole = true;
    {
        let mut reader = decoded(path, encoding)?;
        let mut buf = vec![0u8; SAMPLE_BYTES];
        let mut n = 0;
        while n < buf.len() {
            let k = reader.read(&mut buf[n..]).map_err(io_err(path))?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == buf.len() {
            whole = reader.read(&mut [0u8; 1]).map_err(io_err(path))? == 0;
        }
        buf.truncate(n);
        // A multi-byte character cut at the end of the sample is dropped.
        let valid = match std::str::from_utf8(&buf) {
            Ok(_) => n,
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                return Err(Error::NotATable {
                    line: 1 + buf[..e.valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64,
                    reason: "the text is not valid in its encoding".into(),
                })
            }
        };
        buf.truncate(valid);
        sample = String::from_utf8(buf).unwrap_or(sample);
    }
    if sample.trim().is_empty() {
        return Err(Error::Empty);
    }
    let delimiter = match opts.delimiter {
        Some(d) => d,
        None => choose_delimiter(&sample, whole)?,
    };
    let counts = field_counts(&sample, delimiter, whole);
    if let Some(&(line, found)) = counts.iter().find(|(_, n)| *n > opts.max_columns) {
        return Err(Error::TooManyColumns {
            line,
            found,
            cap: opts.max_columns,
        });
    }
    let first = first_record(&sample, delimiter)?;
    let has_header = opts.header.unwrap_or_else(|| looks_like_header(&first));
    let columns = if has_header {
        unique_names(&first)
    } else {
        (1..=first.len()).map(|i| format!("column_{i}")).collect()
    };
    Ok(Sniff {
        bytes,
        sha256,
        encoding,
        delimiter,
        has_header,
        columns,
        max_columns: opts.max_columns,
    })
}

fn hash_and_encoding(mut file: File, path: &Path) -> Result<(String, Encoding)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut first = true;
    let mut encoding = Encoding::Utf8;
    let mut utf8_ok = true;
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        let mut body = chunk;
        if first {
            first = false;
            if chunk.starts_with(&[0xEF, 0xBB, 0xBF]) {
                encoding = Encoding::Utf8Bom;
                body = &chunk[3..];
            } else if chunk.starts_with(&[0xFF, 0xFE]) {
                encoding = Encoding::Utf16Le;
            } else if chunk.starts_with(&[0xFE, 0xFF]) {
                encoding = Encoding::Utf16Be;
            }
        }
        if matches!(encoding, Encoding::Utf16Le | Encoding::Utf16Be) {
            continue;
        }
        if let Some(p) = body.iter().position(|&b| b == 0) {
            return Err(Error::NotATable {
                line: line + body[..p].iter().filter(|&&b| b == b'\n').count() as u64,
                reason: "it holds binary data (a NUL byte)".into(),
            });
        }
        line += body.iter().filter(|&&b| b == b'\n').count() as u64;
        if utf8_ok {
            carry.extend_from_slice(body);
            match std::str::from_utf8(&carry) {
                Ok(_) => carry.clear(),
                Err(e) if e.error_len().is_none() => {
                    let keep = carry.split_off(e.valid_up_to());
                    carry = keep;
                }
                Err(_) => utf8_ok = false,
            }
        }
    }
    if utf8_ok && !carry.is_empty() {
        utf8_ok = false;
    }
    if !utf8_ok && encoding == Encoding::Utf8 {
        encoding = Encoding::Latin1;
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, encoding))
}

/// The file as UTF-8 bytes, whatever its encoding, without a byte-order mark.
pub fn decoded(path: &Path, encoding: Encoding) -> Result<Box<dyn Read>> {
    let file = BufReader::with_capacity(CHUNK, File::open(path).map_err(io_err(path))?);
    Ok(match encoding {
        Encoding::Utf8 => Box::new(file),
        Encoding::Utf8Bom => {
            let mut file = file;
            let mut bom = [0u8; 3];
            file.read_exact(&mut bom).map_err(io_err(path))?;
            Box::new(file)
        }
        Encoding::Utf16Le => Box::new(Decoding::new(file, UTF_16LE.new_decoder_with_bom_removal())),
        Encoding::Utf16Be => Box::new(Decoding::new(file, UTF_16BE.new_decoder_with_bom_removal())),
        Encoding::Latin1 => Box::new(Decoding::new(
            file,
            WINDOWS_1252.new_decoder_without_bom_handling(),
        )),
    })
}

/// The longest physical line accepted: the CSV parser holds a whole record in memory, so a
/// file of one endless line would otherwise be read whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// The io error a [`LineGuard`] stops with; turned into [`Error::LineTooLong`].
#[derive(Debug)]
struct LongLine {
    line: u64,
}

impl std::fmt::Display for LongLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} is longer than {MAX_LINE_BYTES} bytes",
            self.line
        )
    }
}

impl std::error::Error for LongLine {}

/// Passes bytes through, failing once a line grows past [`MAX_LINE_BYTES`].
struct LineGuard<R> {
    inner: R,
    line: u64,
    since_newline: usize,
}

impl<R: Read> Read for LineGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                self.line += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                self.since_newline = n - last - 1;
            }
            None => self.since_newline += n,
        }
        if self.since_newline > MAX_LINE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LongLine { line: self.line },
            ));
        }
        Ok(n)
    }
}

/// A `Read` that decodes another `Read` to UTF-8 chunk by chunk.
struct Decoding<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R: Read> Decoding<R> {
    fn new(inner: R, decoder: Decoder) -> Self {
        Decoding {
            inner,
            decoder,
            input: vec![0; CHUNK],
            output: Vec::new(),
            out_pos: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.output.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let cap = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.output.clear();
            self.output.resize(cap, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            debug_assert_eq!(read, n);
            self.output.truncate(written);
            self.out_pos = 0;
            self.done = last;
        }
        let k = buf.len().min(self.output.len() - self.out_pos);
        buf[..k].copy_from_slice(&self.output[self.out_pos..self.out_pos + k]);
        self.out_pos += k;
        Ok(k)
    }
}

fn builder(delimiter: u8) -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.delimiter(delimiter).has_headers(false).flexible(true);
    b
}

/// (line, field count) of the first records of the sample; the last one is left out when the
/// sample is cut (unless it is the only one).
fn field_counts(sample: &str, delimiter: u8, whole: bool) -> Vec<(u64, usize)> {
    let mut reader = builder(delimiter).from_reader(sample.as_bytes());
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while out.len() <= SAMPLE_RECORDS {
        match reader.read_byte_record(&mut rec) {
            Ok(true) => {
                let line = rec.position().map_or(1, |p| p.line());
                out.push((line, rec.len()));
            }
            _ => break,
        }
    }
    if !whole && out.len() > 1 && reader.position().byte() as usize >= sample.len() {
        out.pop();
    }
    out.truncate(SAMPLE_RECORDS);
    out
}

fn choose_delimiter(sample: &str, whole: bool) -> Result<u8> {
    let mut best: Option<(u8, usize, usize, usize)> = None; // (delim, consistent, fields, total)
    for d in DELIMITERS {
        let counts = field_counts(sample, d, whole);
        let Some(&(_, n1)) = counts.first() else {
            continue;
        };
        if n1 < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|(_, n)| *n == n1).count();
        let better = match best {
            None => true,
            Some((_, c, f, _)) => consistent > c || (consistent == c && n1 > f),
        };
        if better {
            best = Some((d, consistent, n1, counts.len()));
        }
    }
    match best {
        Some((d, consistent, _, total)) if consistent * 5 >= total * 4 => Ok(d),
        _ => Err(Error::NotATable {
            line: 1,
            reason: "no comma, semicolon, tab or pipe splits the first lines into the same \
                     number of columns"
                .into(),
        }),
    }
}

fn first_record(sample: &str, delimiter: u8) -> Result<Vec<String>> {
    let mut reader = builder(delimiter).from_reader(sample.as_bytes());
    let mut rec = csv::StringRecord::new();
    match reader.read_record(&mut rec) {
        Ok(true) => Ok(rec.iter().map(|f| f.trim().to_owned()).collect()),
        Ok(false) => Err(Error::Empty),
        Err(source) => Err(Error::Csv { line: 1, source }),
    }
}

fn looks_like_header(fields: &[String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    fields.iter().all(|f| {
        !f.is_empty()
            && seen.insert(f.as_str())
            && parse::parse_number(f, DecimalMark::Point).is_none()
            && parse::parse_number(f, DecimalMark::Comma).is_none()
            && parse::parse_date(f, DateOrder::DayFirst).is_none()
            && parse::parse_date(f, DateOrder::MonthFirst).is_none()
    })
}

fn unique_names(fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let base = if f.is_empty() {
            format!("column_{}", i + 1)
        } else {
            f.clone()
        };
        let mut name = base.clone();
        let mut k = 2;
        while out.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// The data records of a sniffed file, in order, streamed.
pub struct Records {
    reader: csv::Reader<Box<dyn Read>>,
    record: csv::StringRecord,
    expected: usize,
    max_columns: usize,
    skip_header: bool,
}

impl Records {
    /// Opens the file again and positions it after the header (if any).
    pub fn open(path: &Path, sniff: &Sniff) -> Result<Records> {
        let guarded: Box<dyn Read> = Box::new(LineGuard {
            inner: decoded(path, sniff.encoding)?,
            line: 1,
            since_newline: 0,
        });
        let reader = builder(sniff.delimiter).from_reader(guarded);
        Ok(Records {
            reader,
            record: csv::StringRecord::new(),
            expected: sniff.columns.len(),
            max_columns: sniff.max_columns,
            skip_header: sniff.has_header,
        })
    }

    /// The next record and the line it starts on, or `None` at the end. Ragged rows and rows
    /// over the column cap are errors naming their line.
    #[allow(clippy::should_implement_trait)] // lends the record: not an Iterator
    pub fn next(&mut self) -> Result<Option<(u64, &csv::StringRecord)>> {
        loop {
            let line = self.reader.position().line();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(source) => {
                    if let csv::ErrorKind::Io(e) = source.kind() {
                        if let Some(long) = e.get_ref().and_then(|e| e.downcast_ref::<LongLine>()) {
                            return Err(Error::LineTooLong {
                                line: long.line,
                                cap: MAX_LINE_BYTES,
                            });
                        }
                    }
                    let line = source.position().map_or(line, |p| p.line());
                    return Err(Error::Csv { line, source });
                }
            }
            let line = self.record.position().map_or(line, |p| p.line());
            if self.skip_header {
                self.skip_header = false;
                continue;
            }
            let found = self.record.len();
            if found > self.max_columns {
                return Err(Error::TooManyColumns {
                    line,
                    found,
                    cap: self.max_columns,
                });
            }
            if found != self.expected {
                // A line holding only spaces reads as one empty field: skip it like a blank one.
                if found == 1 && self.record[0].trim().is_empty() {
                    continue;
                }
                return Err(Error::Ragged {
                    line,
                    expected: self.expected,
                    found,
                });
            }
            return Ok(Some((line, &self.record)));
        }
    }
}
