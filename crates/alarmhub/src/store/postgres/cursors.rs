//! The cursors area: named cursors (consumer groups, outputs), one row each, shared by every
//! node so a group resumes where it stopped whichever node its members reach.

use tokio_postgres::Client;

use super::connect::Target;
use crate::store::StoreError;

/// The cursor named `name`.
pub(crate) async fn get(
    client: &Client,
    target: &Target,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    let row = client
        .query_opt("SELECT cursor FROM ah_cursors WHERE name = $1", &[&name])
        .await
        .map_err(target.err("read cursor"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Record the cursor named `name`.
pub(crate) async fn set(
    client: &Client,
    target: &Target,
    name: &str,
    seq: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO ah_cursors (name, cursor, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, \
             updated_at_ms = excluded.updated_at_ms",
            &[&name, &seq, &now_ms],
        )
        .await
        .map_err(target.err("save cursor"))?;
    Ok(())
}
