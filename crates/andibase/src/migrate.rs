//! `andibase migrate-to-postgres`: a whole SQLite installation (identity, every workspace,
//! every memory space) copied into PostgreSQL, database by database.
//!
//! Each database is copied in one PostgreSQL transaction that first empties what it
//! fills, so a run that stops leaves every schema either as it was or complete, and a
//! second run gives what the first would have: it can be re-run until it reports
//! "verified". Record tables are made afresh from the copied definitions, as this version
//! makes them, and their search indexes are built from their rows.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use andibase_storage::copy::{CopiedTable, Progress, Tables};

use crate::stores::Place;

/// What the copy of every table came to: `(database, table, rows in the file, rows in
/// PostgreSQL)`.
type Report = Vec<(String, String, u64, u64)>;

/// A bar per table on a terminal, redrawn as rows arrive; elsewhere (a log) one line per
/// table when it is done.
fn progress_line(database: String) -> Progress {
    let terminal = std::io::stderr().is_terminal();
    Arc::new(move |table: &str, done: u64, total: u64| {
        if !terminal && done < total {
            return;
        }
        let width = 30;
        let filled = match total {
            0 => width,
            _ => (done * width as u64 / total) as usize,
        };
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "{}  {database}.{table:<32} [{}{}] {done}/{total}",
            if terminal { "\r" } else { "" },
            "#".repeat(filled),
            " ".repeat(width - filled)
        );
        if done == total {
            let _ = writeln!(err);
        }
    })
}

fn add(report: &mut Report, database: &str, copied: Vec<CopiedTable>) {
    for t in copied {
        report.push((database.to_string(), t.table, t.source_rows, t.rows));
    }
}

pub async fn migrate_to_postgres(from: &Path, database_url: &str) -> Result<(), String> {
    if !from.join("main.db").exists() {
        return Err(format!(
            "{} holds no andibase data (no main.db); give the data dir of a SQLite installation",
            from.display()
        ));
    }
    let describe = |e: andibase_common::DomainError| e.to_string();
    // Opening the files brings them to this version's shape, as `serve` would.
    let source = Place {
        data_dir: from.to_path_buf(),
        database_url: None,
    }
    .open()
    .await?;
    let target = Place {
        data_dir: from.to_path_buf(),
        database_url: Some(database_url.to_string()),
    }
    .open()
    .await?;
    let mut report = Report::new();

    eprintln!("identity and tenancy (main.db → schema andibase)");
    let copied = target
        .main
        .replace_from_sqlite(
            &from.join("main.db"),
            Tables::AllBut(Vec::new()),
            progress_line("andibase".into()),
        )
        .await
        .map_err(describe)?;
    add(&mut report, "andibase", copied);

    let ids = source.workspaces.ids_on_disk();
    for (n, id) in ids.iter().enumerate() {
        eprintln!("workspace {id} ({} of {})", n + 1, ids.len());
        let (from_db, to_db) = (
            source.workspaces.get(id).await.map_err(describe)?,
            target.workspaces.get(id).await.map_err(describe)?,
        );
        let file = from.join("workspaces").join(format!("{id}.db"));
        let schema = format!("ws_{}", id.replace('-', ""));
        let records = andibase_data::record_tables(&from_db)
            .await
            .map_err(describe)?;
        let copied = to_db
            .replace_from_sqlite(
                &file,
                Tables::AllBut(records.clone()),
                progress_line(schema.clone()),
            )
            .await
            .map_err(describe)?;
        add(&mut report, &schema, copied);
        let remade = andibase_data::remake_record_tables(&to_db)
            .await
            .map_err(describe)?;
        let copied = to_db
            .replace_from_sqlite(&file, Tables::Only(remade), progress_line(schema.clone()))
            .await
            .map_err(describe)?;
        add(&mut report, &schema, copied);
        andibase_data::index_record_tables(&to_db)
            .await
            .map_err(describe)?;

        let spaces = from.join("workspaces").join(format!("{id}.spaces"));
        for entry in std::fs::read_dir(&spaces).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(space) = name.strip_suffix(".kip.db") else {
                continue;
            };
            let schema = andibase_memory::Memory::graph_schema_of(id, space);
            eprintln!("  memory space {space} (schema {schema})");
            let (url, path, graph_schema) =
                (database_url.to_string(), entry.path(), schema.clone());
            let (had, now) = tokio::task::spawn_blocking(move || {
                let mut graph = andibase_kip::store::PostgresGraph::open(&url, &graph_schema)?;
                let had = graph.replace_from_sqlite(&path)?;
                Ok::<_, andibase_kip::KipError>((had, graph.counts()?))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            report.push((
                schema.clone(),
                "kip_concepts".into(),
                had.0 as u64,
                now.0 as u64,
            ));
            report.push((schema, "kip_links".into(), had.1 as u64, now.1 as u64));
        }
    }

    let wrong: Vec<_> = report
        .iter()
        .filter(|(_, _, had, now)| had != now)
        .collect();
    let rows: u64 = report.iter().map(|(_, _, _, now)| now).sum();
    if !wrong.is_empty() {
        for (db, table, had, now) in &wrong {
            eprintln!("  {db}.{table}: {had} rows in the file, {now} in PostgreSQL");
        }
        return Err(format!(
            "{} of {} tables differ after the copy; run it again",
            wrong.len(),
            report.len()
        ));
    }
    println!(
        "verified: {} tables, {rows} rows, {} workspaces copied into PostgreSQL. Serve it with \
         --database-url and ANDIBASE_SECRET_KEY set to the key the files were sealed with (the \
         contents of {}, unless they were served with ANDIBASE_SECRET_KEY).",
        report.len(),
        ids.len(),
        from.join("secret.key").display()
    );
    Ok(())
}
