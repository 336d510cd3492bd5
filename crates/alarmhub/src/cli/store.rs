//! `alarmhub store vacuum` and `alarmhub store backup FILE`: upkeep of the SQLite database
//! in the data directory, for administrators, whether the daemon runs or not. `backup` uses
//! SQLite's online backup API (a consistent copy while panels keep reporting); `vacuum`
//! gives the space of removed events back to the file system.
//!
//! Exit status: 0 done, 2 an unusable data directory or target.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use rusqlite::{Connection, OpenFlags};

use super::admin::{data_dir, DataDirArgs};
use crate::store::DB_FILE;

/// `alarmhub store …`
#[derive(Subcommand, Debug, Clone)]
pub enum StoreCmd {
    /// Rebuild the database file to return free space (after retention removed events).
    Vacuum {
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Copy the database to FILE with SQLite's online backup API (the daemon may run).
    Backup {
        /// The copy to write (must not exist).
        file: PathBuf,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

/// Run a `store` command.
pub fn main(cmd: StoreCmd) -> ExitCode {
    match run(cmd) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("alarmhub: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: StoreCmd) -> Result<String, String> {
    match cmd {
        StoreCmd::Vacuum { dir } => {
            let path = data_dir(&dir)?.join(DB_FILE);
            let conn = open(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            let before = size(&path);
            conn.execute_batch("VACUUM")
                .map_err(|e| format!("{}: vacuum: {e}", path.display()))?;
            Ok(format!(
                "{}: vacuumed ({} → {} bytes)",
                path.display(),
                before,
                size(&path)
            ))
        }
        StoreCmd::Backup { file, dir } => {
            let path = data_dir(&dir)?.join(DB_FILE);
            if file.exists() {
                return Err(format!(
                    "{}: exists already; choose a new file",
                    file.display()
                ));
            }
            let src = open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let mut dst = Connection::open(&file)
                .map_err(|e| format!("{}: cannot create: {e}", file.display()))?;
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)
                .map_err(|e| format!("backup to {}: {e}", file.display()))?;
            backup
                .run_to_completion(256, Duration::from_millis(5), None)
                .map_err(|e| format!("backup to {}: {e}", file.display()))?;
            Ok(format!(
                "{} backed up to {}",
                path.display(),
                file.display()
            ))
        }
    }
}

fn open(path: &std::path::Path, flags: OpenFlags) -> Result<Connection, String> {
    if !path.exists() {
        return Err(format!(
            "{}: no database here (see --data-dir)",
            path.display()
        ));
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

fn size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
