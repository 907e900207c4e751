//! `klaxon export` and `klaxon import`: the whole install as one JSON file, to move it to
//! another database (SQLite to PostgreSQL, or a new server). The format is `db::transfer`'s.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::db::transfer::{self, Counts};
use crate::db::{DatabaseUrl, Db};

/// What was moved, for the one line the command prints.
#[derive(Debug)]
pub struct Summary {
    /// The database, as it may be shown (without a password).
    pub database: String,
    pub counts: Counts,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.counts.iter().map(|(_, rows)| rows).sum()
    }
}

/// Writes every table of the database to `output`, or to standard output when `None`. The
/// file is created readable by its owner only: it holds password hashes and secrets.
pub async fn export(database_url: &str, output: Option<PathBuf>) -> anyhow::Result<Summary> {
    let url = DatabaseUrl::parse(database_url)?;
    let shown = url.redacted();
    if let DatabaseUrl::Sqlite(path) = &url {
        // Opening a missing SQLite file would create an empty database and export that.
        anyhow::ensure!(path.exists(), "no database at {shown}: nothing to export");
    }
    let db = open(database_url).await?;
    let written = output.clone();
    let result = db
        .run(move |conn| match &written {
            Some(path) => {
                let mut out = BufWriter::new(create_private(path)?);
                let counts = transfer::export(conn, &mut out)?;
                out.into_inner()
                    .map_err(|e| e.into_error())?
                    .sync_all()
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(counts)
            }
            None => transfer::export(conn, &mut BufWriter::new(std::io::stdout())),
        })
        .await;
    match result {
        Ok(counts) => Ok(Summary {
            database: shown,
            counts,
        }),
        Err(error) => {
            if let Some(path) = output {
                // A partial file must not pass for an export.
                let _ = std::fs::remove_file(path);
            }
            Err(error.context(format!("cannot export {shown}")))
        }
    }
}

/// Reads a file written by `export` (`-`: standard input) into the database, which must be
/// new: migrated, or not even that, but without data. Nothing is kept when anything fails.
pub async fn import(database_url: &str, input: &Path) -> anyhow::Result<Summary> {
    let shown = DatabaseUrl::parse(database_url)?.redacted();
    // The file first: a mistyped name should not leave a new, empty database behind.
    let reader: Box<dyn Read + Send> = if input == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(input).with_context(|| format!("cannot read {}", input.display()))?)
    };
    let db = open(database_url).await?;
    let counts = db
        .run(move |conn| {
            transfer::import(conn, BufReader::with_capacity(1 << 16, reader))
                .map_err(anyhow::Error::from)
        })
        .await
        .with_context(|| format!("cannot import {} into {shown}", input.display()))?;
    Ok(Summary {
        database: shown,
        counts,
    })
}

async fn open(database_url: &str) -> anyhow::Result<Db> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || Db::connect(&url, 1)).await?
}

fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}
