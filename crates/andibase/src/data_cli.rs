//! `andibase data import|export`: streaming CSV / JSONL in and out of a definition.
//!
//! Import reads the file in batches (1,000 records by default); each batch is one atomic
//! upsert. Rows the data layer rejects are reported with their line numbers, and the batch
//! is retried without them, so a batch is never half-written. A progress line goes to
//! stderr; the exit status is 1 when any row was rejected.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use crate::stores::Place;
use andibase_common::{Clock, DomainError};
use andibase_data::{
    Data, DataDefinition, FieldName, QueryParams, RecordInput, SystemField, UpsertMany, UpsertMode,
};
use serde_json::{json, Map, Value};

/// Reads CSV records (RFC 4180: quotes, doubled quotes, newlines inside quotes), giving
/// each record with the line it starts on.
struct CsvReader<R: Read> {
    chars: std::iter::Peekable<std::io::Bytes<BufReader<R>>>,
    line: usize,
}

impl<R: Read> CsvReader<R> {
    fn new(r: R) -> Self {
        CsvReader {
            chars: BufReader::new(r).bytes().peekable(),
            line: 1,
        }
    }

    fn next_record(&mut self) -> Option<Result<(usize, Vec<String>), String>> {
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut any = false;
        loop {
            let b = match self.chars.next() {
                None => {
                    if !any {
                        return None;
                    }
                    if quoted {
                        return Some(Err(format!("line {start}: a quoted field is not closed")));
                    }
                    fields.push(String::from_utf8_lossy(&field).into_owned());
                    return Some(Ok((start, fields)));
                }
                Some(Err(e)) => return Some(Err(e.to_string())),
                Some(Ok(b)) => b,
            };
            any = true;
            match (b, quoted) {
                (b'"', true) if self.chars.peek().is_some_and(|n| matches!(n, Ok(b'"'))) => {
                    self.chars.next();
                    field.push(b'"');
                }
                (b'"', true) => quoted = false,
                (b'"', false) if field.is_empty() => quoted = true,
                (b',', false) => {
                    fields.push(String::from_utf8_lossy(&std::mem::take(&mut field)).into_owned())
                }
                (b'\n', false) => {
                    self.line += 1;
                    if field.last() == Some(&b'\r') {
                        field.pop();
                    }
                    fields.push(String::from_utf8_lossy(&field).into_owned());
                    return Some(Ok((start, fields)));
                }
                (b'\n', true) => {
                    self.line += 1;
                    field.push(b'\n');
                }
                (b, _) => field.push(b),
            }
        }
    }
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV cell read for a field: an empty cell is "no value"; everything else is text the
/// data layer converts to the field's type.
fn cell_value(def: &DataDefinition, key: &str, cell: &str) -> Result<Value, String> {
    if cell.is_empty() {
        return Ok(Value::Null);
    }
    let spec = def
        .fields
        .get(key)
        .ok_or_else(|| format!("no field `{key}`"))?;
    let shown = match spec.field_type() {
        andibase_data::FieldType::MultiSelect | andibase_data::FieldType::Json => {
            serde_json::from_str(cell).unwrap_or(json!(cell))
        }
        andibase_data::FieldType::Relationship if spec.many => {
            serde_json::from_str(cell).unwrap_or(json!([cell]))
        }
        _ => json!(cell),
    };
    andibase_data::typed_value(spec, &shown)
}

fn to_input(obj: Map<String, Value>) -> RecordInput {
    let mut obj = obj;
    let id = obj
        .remove("id")
        .and_then(|v| v.as_str().map(str::to_string));
    let name = obj
        .remove("name")
        .and_then(|v| v.as_str().map(str::to_string));
    let attributes = match obj.remove("attributes") {
        Some(Value::Object(a)) => a,
        _ => obj,
    };
    RecordInput {
        id,
        name,
        attributes: Some(attributes),
    }
}

pub struct ImportOptions {
    pub batch: usize,
    pub mode: UpsertMode,
    pub match_on: Option<String>,
}

/// The workspace's database and handle, from the data dir (the server may be running).
async fn open(
    place: &Place,
    workspace: &str,
) -> Result<(andibase_storage::Database, String), String> {
    let stores = place.open().await?;
    let identity = andibase_identity::Identity::new(stores.main, Clock::system());
    let ws = identity
        .workspace_by_handle(workspace)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("no workspace {workspace}"))?;
    let db = stores
        .workspaces
        .get(&ws.id)
        .await
        .map_err(|e| e.to_string())?;
    Ok((db, ws.handle))
}

/// Upserts `batch`, dropping and reporting rejected rows until what is left goes in whole.
async fn flush(
    data: &Data<'_>,
    def: &str,
    batch: &mut Vec<(usize, RecordInput)>,
    opts: &ImportOptions,
    rejected: &mut Vec<String>,
) -> Result<usize, String> {
    while !batch.is_empty() {
        let input = UpsertMany {
            records: batch.iter().map(|(_, r)| r.clone()).collect(),
            match_on: opts.match_on.clone(),
            mode: opts.mode,
        };
        match data
            .upsert_many(def, input, "cli:import", Clock::system().now())
            .await
        {
            Ok(outcome) => {
                let n = outcome.results.len();
                batch.clear();
                return Ok(n);
            }
            Err(DomainError::Invalid { issues, message }) => {
                let mut bad: Vec<usize> = issues
                    .iter()
                    .filter_map(|i| i.path.get(1).and_then(Value::as_u64))
                    .map(|i| i as usize)
                    .collect();
                if bad.is_empty() {
                    return Err(message);
                }
                bad.sort_unstable();
                bad.dedup();
                for i in bad.iter().rev() {
                    let (line, _) = batch.remove(*i);
                    let why: Vec<String> = issues
                        .iter()
                        .filter(|is| is.path.get(1).and_then(Value::as_u64) == Some(*i as u64))
                        .map(|is| {
                            // Field names as the file has them: `title`, not `attributes.title`.
                            let path: Vec<String> = is
                                .path
                                .iter()
                                .skip(2)
                                .map(|p| {
                                    p.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| p.to_string())
                                })
                                .collect();
                            let path = path
                                .strip_prefix(&["attributes".to_string()])
                                .unwrap_or(&path)
                                .join(".");
                            format!("{path}: {}", is.message)
                        })
                        .collect();
                    rejected.push(format!("line {line}: {}", why.join("; ")));
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(0)
}

pub async fn import(
    place: &Place,
    workspace: &str,
    definition: &str,
    file: &Path,
    opts: ImportOptions,
) -> Result<bool, String> {
    let (db, ws_handle) = open(place, workspace).await?;
    let hooks = andibase_data::Pipeline::default();
    let definitions: Arc<dyn andibase_data::DefinitionCache> =
        Arc::new(andibase_data::LocalDefinitionCache::default());
    let data = Data {
        db: &db,
        workspace_handle: &ws_handle,
        hooks: &hooks,
        role: andibase_common::Role::Admin,
        definitions: &definitions,
        usage: &Arc::new(andibase_data::QueryLog::inert()),
    };
    let def = data
        .get_definition(definition)
        .await
        .map_err(|e| format!("{definition}: {e}"))?;
    let total_bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0).max(1);
    let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (mut imported, mut rejected, mut batch) = (0usize, Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    let progress = |imported: usize, rejected: usize, read: u64| {
        eprint!(
            "\r{:>3}% · {imported} imported · {rejected} rejected · {:.0} rows/s   ",
            (read * 100 / total_bytes).min(100),
            imported as f64 / started.elapsed().as_secs_f64().max(0.001)
        );
    };
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = CountingReader {
        inner: f,
        read: counter.clone(),
    };
    if csv {
        let mut rows = CsvReader::new(reader);
        let header = match rows.next_record() {
            Some(Ok((_, h))) => h,
            Some(Err(e)) => return Err(e),
            None => return Err("the file is empty".into()),
        };
        // A header names a system field or an attribute the way filters do:
        // `attributes.<key>` is always the attribute (`FieldName`).
        let columns: Vec<FieldName> = header.iter().map(|k| FieldName::parse(k)).collect();
        for (key, column) in header.iter().zip(&columns) {
            if let FieldName::Attribute(k) = column {
                if !def.fields.contains_key(*k) {
                    return Err(format!(
                        "line 1: column `{key}` is not a field of {}",
                        def.handle
                    ));
                }
            }
        }
        while let Some(row) = rows.next_record() {
            let (line, cells) = row?;
            if cells.len() == 1 && cells[0].is_empty() {
                continue;
            }
            let mut obj = Map::new();
            let mut attrs = Map::new();
            let mut problems = Vec::new();
            if cells.len() != header.len() {
                problems.push(format!(
                    "{} cells where the header has {}",
                    cells.len(),
                    header.len()
                ));
            }
            for (column, cell) in columns.iter().zip(&cells) {
                match column {
                    FieldName::System(f @ (SystemField::Id | SystemField::Name)) => {
                        if !cell.is_empty() {
                            obj.insert(f.name().into(), json!(cell));
                        }
                    }
                    // Columns an export writes but records do not take (kept by the server).
                    FieldName::System(_) => {}
                    FieldName::Attribute(key) => match cell_value(&def, key, cell) {
                        Ok(v) => {
                            attrs.insert(key.to_string(), v);
                        }
                        Err(e) => problems.push(format!("{key}: {e}")),
                    },
                }
            }
            if !problems.is_empty() {
                rejected.push(format!("line {line}: {}", problems.join("; ")));
                continue;
            }
            obj.insert("attributes".into(), Value::Object(attrs));
            batch.push((line, to_input(obj)));
            if batch.len() >= opts.batch {
                imported += flush(&data, definition, &mut batch, &opts, &mut rejected).await?;
                progress(
                    imported,
                    rejected.len(),
                    counter.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
        }
    } else {
        for (i, line) in BufReader::new(reader).lines().enumerate() {
            let line_no = i + 1;
            let text = line.map_err(|e| e.to_string())?;
            if text.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(obj)) => batch.push((line_no, to_input(obj))),
                Ok(_) => rejected.push(format!("line {line_no}: not a JSON object")),
                Err(e) => rejected.push(format!("line {line_no}: not JSON: {e}")),
            }
            if batch.len() >= opts.batch {
                imported += flush(&data, definition, &mut batch, &opts, &mut rejected).await?;
                progress(
                    imported,
                    rejected.len(),
                    counter.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
        }
    }
    imported += flush(&data, definition, &mut batch, &opts, &mut rejected).await?;
    progress(imported, rejected.len(), total_bytes);
    eprintln!();
    for r in &rejected {
        eprintln!("rejected {r}");
    }
    println!(
        "imported {imported} records into {} ({} rejected)",
        def.handle,
        rejected.len()
    );
    db.close();
    Ok(rejected.is_empty())
}

struct CountingReader<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

pub async fn export(
    place: &Place,
    workspace: &str,
    definition: &str,
    format: &str,
    filter: Option<String>,
    out: &mut dyn Write,
) -> Result<usize, String> {
    let (db, ws_handle) = open(place, workspace).await?;
    let hooks = andibase_data::Pipeline::default();
    let definitions: Arc<dyn andibase_data::DefinitionCache> =
        Arc::new(andibase_data::LocalDefinitionCache::default());
    let data = Data {
        db: &db,
        workspace_handle: &ws_handle,
        hooks: &hooks,
        role: andibase_common::Role::Admin,
        definitions: &definitions,
        usage: &Arc::new(andibase_data::QueryLog::inert()),
    };
    let def = data
        .get_definition(definition)
        .await
        .map_err(|e| format!("{definition}: {e}"))?;
    let keys: Vec<String> = def.fields.keys().cloned().collect();
    let csv = match format {
        "csv" => true,
        "jsonl" => false,
        other => return Err(format!("unknown format {other}: use jsonl or csv")),
    };
    let w = |out: &mut dyn Write, s: String| out.write_all(s.as_bytes()).map_err(|e| e.to_string());
    if csv {
        let header: Vec<String> = ["id", "name", "createdAt", "updatedAt"]
            .iter()
            .map(|s| s.to_string())
            .chain(
                keys.iter()
                    .map(|k| andibase_data::flat_name(k).into_owned()),
            )
            .collect();
        w(out, header.join(",") + "\n")?;
    }
    let (mut n, mut cursor) = (0, None);
    loop {
        let page = data
            .query(
                definition,
                QueryParams {
                    filter: filter.clone(),
                    limit: Some(1000),
                    cursor: cursor.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        for item in &page.items {
            n += 1;
            if csv {
                let text = |v: &Value| match v {
                    Value::Null => String::new(),
                    Value::String(s) => csv_escape(s),
                    other => csv_escape(&other.to_string()),
                };
                let mut cells: Vec<String> = ["id", "name", "createdAt", "updatedAt"]
                    .iter()
                    .map(|k| text(&item[*k]))
                    .collect();
                cells.extend(keys.iter().map(|k| text(&item["attributes"][k])));
                w(out, cells.join(",") + "\n")?;
            } else {
                w(out, item.to_string() + "\n")?;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    db.close();
    Ok(n)
}
