//! Reaching the database: the store URL (`postgres://USER@HOST/DB`, also a libpq
//! `key=value` string) parsed into a [`tokio_postgres::Config`], the name errors and logs use
//! for it (never the password), single connections (the writer's, the listener's) and the
//! read pool, and the mapping of driver errors to [`StoreError`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use crate::store::StoreError;

/// Longest a connection attempt may take before it is an error.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the read pool keeps at most.
const POOL_SIZE: usize = 8;
/// Longest a read waits for a pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// True when `url` names a PostgreSQL database rather than a SQLite directory.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A parsed store URL and how to name it.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: Config,
    /// `postgres://user@host:port/db`, without password: for errors and logs.
    pub(crate) name: Arc<str>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Target {
    /// Parse `url`; the error repeats the URL without its password.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        let mut config = Config::from_str(url).map_err(|e| StoreError::BadUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::BadUrl {
                url: redact(url),
                reason: "no host (write postgres://USER@HOST/DB)".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("alarmhub");
        let name = display_name(&config).into();
        Ok(Target { config, name })
    }

    pub(crate) fn err(
        &self,
        op: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |e| StoreError::Postgres {
            op,
            target: self.name.to_string(),
            source: Arc::new(e),
        }
    }

    /// One connection whose driver runs as its own task; notifications (LISTEN) are
    /// dropped — use [`Target::connect_listening`] for those.
    pub(crate) async fn connect(&self, op: &'static str) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(self.err(op))?;
        let name = Arc::clone(&self.name);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(database = %name, error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// One connection whose notifications (`NOTIFY` payloads) are sent to `tx`; the
    /// channel closes when the connection ends.
    pub(crate) async fn connect_listening(
        &self,
        op: &'static str,
        tx: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    ) -> Result<Client, StoreError> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(self.err(op))?;
        let name = Arc::clone(&self.name);
        tokio::spawn(async move {
            loop {
                let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
                match message {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if tx
                            .send((n.channel().to_owned(), n.payload().to_owned()))
                            .is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(database = %name, error = %e, "PostgreSQL listener ended");
                        break;
                    }
                    None => break,
                }
            }
        });
        Ok(client)
    }

    /// The read pool (connections opened on demand, checked cheaply on reuse).
    pub(crate) fn pool(&self) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            self.config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::PostgresPool {
                op: "create the connection pool",
                target: self.name.to_string(),
                reason: e.to_string(),
            })
    }

    /// A pooled connection for `op`.
    pub(crate) async fn get(
        &self,
        pool: &Pool,
        op: &'static str,
    ) -> Result<deadpool_postgres::Object, StoreError> {
        pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => self.err(op)(e),
            other => StoreError::PostgresPool {
                op,
                target: self.name.to_string(),
                reason: other.to_string(),
            },
        })
    }
}

/// `postgres://user@host:port/db` for a parsed configuration.
fn display_name(config: &Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// `url` with any password replaced by `****` (for error messages about a URL that does not
/// even parse).
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        // URL form, parsed or not: the password is between the first ':' of the user info
        // and the last '@' before the path.
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let user_info = &rest[..at];
            if let Some((user, _)) = user_info.split_once(':') {
                return format!("{scheme}://{user}:****{}", &rest[at..]);
            }
        }
        return url.to_owned();
    }
    // key=value form: drop the password pair.
    url.split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => "password=****".to_owned(),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_named_without_its_password() {
        let t = Target::parse("postgres://alice:s3cret@db.example:6543/hub").unwrap();
        assert_eq!(&*t.name, "postgres://alice@db.example:6543/hub");
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn a_url_that_does_not_parse_is_an_error_without_the_password() {
        let err = Target::parse("postgres://alice:s3cret@db:notaport/hub").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a usable PostgreSQL URL"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn redaction_hides_the_password_in_both_forms() {
        assert_eq!(redact("postgres://a:pw@h:1/d"), "postgres://a:****@h:1/d");
        assert_eq!(redact("postgres://a@h/d"), "postgres://a@h/d");
        assert_eq!(
            redact("host=h password=pw user=a"),
            "host=h password=**** user=a"
        );
    }

    #[test]
    fn only_postgres_schemes_are_postgres_urls() {
        assert!(is_postgres_url("postgres://u@h/d"));
        assert!(is_postgres_url("postgresql://u@h/d"));
        assert!(!is_postgres_url("/var/lib/alarmhub"));
    }
}
