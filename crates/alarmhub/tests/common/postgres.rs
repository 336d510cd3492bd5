//! A throwaway PostgreSQL database per test: [`TestDb::create`] makes `alarmhub_t_…` on the
//! server at `ALARMHUB_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/postgres`, the
//! one CI starts) and drops it (`WITH (FORCE)`, closing connections a test left open) when
//! the value is dropped.
//!
//! When no server answers, [`TestDb::create`] returns `None` after printing a loud message,
//! and the test returns early — unless `ALARMHUB_REQUIRE_PG=1` (CI sets it), which turns the
//! missing server into a failure so a broken setup cannot pass silently.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

/// The server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("ALARMHUB_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// One database of one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    /// `postgres://…/alarmhub_t_…`: what `--store` / `[store] url` get.
    pub url: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

async fn admin() -> Result<tokio_postgres::Client, String> {
    let url = admin_url();
    let connect = tokio_postgres::connect(&url, NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .map_err(|_| format!("{url}: no answer within 5 s"))?
        .map_err(|e| format!("{url}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl TestDb {
    /// A fresh, empty database, or `None` (with a loud message) when no server answers.
    pub async fn create() -> Option<TestDb> {
        let client = match admin().await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("ALARMHUB_REQUIRE_PG").is_ok_and(|v| v == "1") {
                    panic!("ALARMHUB_REQUIRE_PG=1 but PostgreSQL is not reachable: {e}");
                }
                eprintln!(
                    "\n!!!!! SKIPPED: no PostgreSQL reachable ({e}).\n\
                     !!!!! Start one on 127.0.0.1:5432 (or set ALARMHUB_TEST_PG) to run this test.\n"
                );
                return None;
            }
        };
        let name = format!(
            "alarmhub_t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(TestDb { name, url })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: use a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(c) = admin().await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(e) = c.batch_execute(&sql).await {
                        eprintln!("dropping test database {name}: {e}");
                    }
                }
            });
        });
        let _ = done.join();
    }
}
