//! The tokio side of a Sur-Gard output: the TCP connection to the central station (it
//! connects to us in `mode = "listen"`, we connect to it with backoff in `mode = "connect"`),
//! the [`Link`] rules around it, and the [`Feed`] that brings events from the log in order
//! and moves the cursor only past what the central station ACKed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::codec::{encode_event, Header};
use super::link::{Action, Link, LinkTiming};
use super::status::{LinkState, Reporter};
use crate::config::{AutomationConfig, AutomationMode};
use crate::outputs::backoff::Backoff;
use crate::outputs::feed::Feed;
use crate::outputs::source::{CursorStore, EventLog};

/// A write to the central station that blocks this long drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect attempt limit in `mode = "connect"`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// At a clean stop, how long a message the central station has not answered yet waits for
/// its ACK, so the confirmation is saved and a restart does not send it again.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Everything one Sur-Gard output needs.
pub struct SurgardOutput {
    pub(crate) config: AutomationConfig,
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) cursors: Arc<dyn CursorStore>,
    /// Lower-case panel account → `cms_account`.
    pub(crate) cms_accounts: Arc<HashMap<String, String>>,
    pub(crate) reporter: Reporter,
}

/// How a connection ended.
enum End {
    /// Stop requested.
    Shutdown,
    /// The central station closed the connection, or it broke.
    Closed(String),
    /// A new central-station connection replaces this one (`mode = "listen"`).
    Replaced(TcpStream, String),
}

/// The cursor name of an output.
pub fn cursor_name(config: &AutomationConfig) -> String {
    format!("automation:{}", config.name)
}

impl SurgardOutput {
    /// Run until `cancel`; errors are logged and retried, never returned.
    pub async fn run(self, cancel: CancellationToken) {
        let name = cursor_name(&self.config);
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut feed = loop {
            match Feed::open(&name, self.log.clone(), self.cursors.clone()).await {
                Ok(f) => break f,
                Err(e) => {
                    tracing::warn!(output = %self.config.name, error = %e, "sur-gard output cannot read its cursor; retrying");
                    if pause(&cancel, backoff.next_delay()).await {
                        return;
                    }
                }
            }
        };
        self.reporter.backlog(&feed);
        match self.config.mode {
            AutomationMode::Listen => self.listen(&mut feed, &cancel).await,
            AutomationMode::Connect => self.connect(&mut feed, &cancel).await,
        }
        if let Err(e) = feed.save_if_due(true).await {
            tracing::warn!(output = %self.config.name, error = %e, "sur-gard cursor not saved at stop");
        }
    }

    async fn listen(&self, feed: &mut Feed, cancel: &CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let listener = loop {
            match TcpListener::bind(self.config.listen).await {
                Ok(l) => break l,
                Err(e) => {
                    tracing::error!(output = %self.config.name, listen = %self.config.listen, error = %e, "sur-gard output cannot listen; retrying");
                    if pause(cancel, backoff.next_delay()).await {
                        return;
                    }
                }
            }
        };
        let bound = listener.local_addr().unwrap_or(self.config.listen);
        self.reporter.listening(bound);
        tracing::info!(output = %self.config.name, listen = %bound, "sur-gard output waiting for the central station");
        let mut next: Option<(TcpStream, String)> = None;
        loop {
            let (stream, peer) = match next.take() {
                Some(c) => c,
                None => tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = listener.accept() => match r {
                        Ok((s, a)) => (s, a.to_string()),
                        Err(e) => {
                            tracing::warn!(output = %self.config.name, error = %e, "accept failed");
                            if pause(cancel, Duration::from_millis(100)).await { return; }
                            continue;
                        }
                    },
                },
            };
            match self
                .session(stream, &peer, Some(&listener), feed, cancel)
                .await
            {
                End::Shutdown => return,
                End::Closed(why) => {
                    tracing::warn!(output = %self.config.name, peer = %peer, reason = %why, "central station disconnected");
                    self.reporter.state(LinkState::Waiting, None);
                }
                End::Replaced(s, p) => {
                    tracing::info!(output = %self.config.name, old = %peer, new = %p, "a new central-station connection replaces the old one");
                    next = Some((s, p));
                }
            }
        }
    }

    async fn connect(&self, feed: &mut Feed, cancel: &CancellationToken) {
        let target = self.config.target.clone().unwrap_or_default();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        loop {
            self.reporter.state(LinkState::Connecting, None);
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&target));
            let stream = tokio::select! {
                _ = cancel.cancelled() => return,
                r = attempt => r,
            };
            let why = match stream {
                Ok(Ok(s)) => {
                    backoff.reset();
                    match self.session(s, &target, None, feed, cancel).await {
                        End::Shutdown => return,
                        End::Closed(why) | End::Replaced(_, why) => why,
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connect timed out".to_string(),
            };
            tracing::warn!(output = %self.config.name, target = %target, reason = %why, "central station unreachable; reconnecting");
            if pause(cancel, backoff.next_delay()).await {
                return;
            }
        }
    }

    fn header(&self) -> Header {
        Header {
            receiver: self.config.receiver.clone(),
            line: self.config.line.clone(),
        }
    }

    fn timing(&self) -> LinkTiming {
        LinkTiming {
            ack_timeout: Duration::from_secs(self.config.ack_timeout_secs),
            heartbeat: Duration::from_secs(self.config.heartbeat_secs),
            max_resends: self.config.max_resends,
        }
    }

    /// One central-station connection, until it ends.
    async fn session(
        &self,
        mut stream: TcpStream,
        peer: &str,
        listener: Option<&TcpListener>,
        feed: &mut Feed,
        cancel: &CancellationToken,
    ) -> End {
        let _ = stream.set_nodelay(true);
        tracing::info!(output = %self.config.name, peer = %peer, "central station connected");
        self.reporter.state(LinkState::Up, Some(peer));
        let mut link = Link::new(self.timing(), now());
        let mut buf = [0u8; 256];
        let mut source_retry: Option<Instant> = None;
        loop {
            let idle = match self
                .feed_link(&mut stream, feed, &mut link, &mut source_retry)
                .await
            {
                Ok(idle) => idle,
                Err(why) => return End::Closed(why),
            };
            let wait_log = idle && link.ready();
            let actions = tokio::select! {
                _ = cancel.cancelled() => {
                    self.finish(&mut stream, feed, &mut link, &mut buf).await;
                    return End::Shutdown;
                }
                r = stream.read(&mut buf) => match r {
                    Ok(0) => return End::Closed("closed by the central station".into()),
                    Ok(n) => {
                        let t = now();
                        buf[..n].iter().flat_map(|b| link.on_byte(t, *b)).collect()
                    }
                    Err(e) => return End::Closed(e.to_string()),
                },
                _ = tokio::time::sleep_until(Instant::from_std(link.deadline())) => link.poll(now()),
                _ = feed.wait_for_more(), if wait_log => Vec::new(),
                _ = sleep_until_opt(source_retry), if source_retry.is_some() => {
                    source_retry = None;
                    Vec::new()
                }
                r = accept_opt(listener) => match r {
                    Ok((s, a)) => return End::Replaced(s, a),
                    Err(_) => Vec::new(),
                },
            };
            if let Err(why) = self.apply(&mut stream, feed, actions).await {
                return End::Closed(why);
            }
        }
    }

    /// A clean stop: wait up to [`STOP_GRACE`] for the ACK of a message in flight (sending
    /// nothing new), then save what is confirmed.
    async fn finish(
        &self,
        stream: &mut TcpStream,
        feed: &mut Feed,
        link: &mut Link,
        buf: &mut [u8],
    ) {
        let deadline = Instant::now() + STOP_GRACE;
        while !link.ready() {
            let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(buf)).await else {
                break;
            };
            if n == 0 {
                break;
            }
            let t = now();
            let actions: Vec<Action> = buf[..n].iter().flat_map(|b| link.on_byte(t, *b)).collect();
            for a in actions {
                if let Action::Acked(seq) = a {
                    feed.confirm(seq);
                    self.reporter.acked(feed);
                }
            }
        }
        if let Err(e) = feed.save_if_due(true).await {
            tracing::warn!(output = %self.config.name, error = %e, "sur-gard cursor not saved at stop");
        }
    }

    /// Give the link the next event when it is ready, write what it says, save the cursor
    /// when due. `Ok(true)`: nothing left to send.
    async fn feed_link(
        &self,
        stream: &mut TcpStream,
        feed: &mut Feed,
        link: &mut Link,
        source_retry: &mut Option<Instant>,
    ) -> Result<bool, String> {
        let mut out = Vec::new();
        let mut idle = false;
        if link.ready() && source_retry.is_none() {
            match self.next_message(&self.header(), feed, link).await {
                Ok(Some(actions)) => out = actions,
                Ok(None) => idle = true,
                Err(e) => {
                    tracing::warn!(output = %self.config.name, error = %e, "cannot read the event log; retrying in 1 s");
                    *source_retry = Some(Instant::now() + Duration::from_secs(1));
                }
            }
        }
        self.apply(stream, feed, out).await?;
        // While a backlog drains the save is coalesced; once idle it is immediate.
        if let Err(e) = feed.save_if_due(idle).await {
            tracing::warn!(output = %self.config.name, error = %e, "sur-gard cursor not saved; will retry");
        }
        Ok(idle)
    }

    /// Send the head of the feed, skipping events the central station cannot take.
    /// `Ok(None)`: nothing to send.
    async fn next_message(
        &self,
        header: &Header,
        feed: &mut Feed,
        link: &mut Link,
    ) -> Result<Option<Vec<Action>>, crate::outputs::source::SourceError> {
        while let Some(event) = feed.head().await? {
            let cms = self
                .cms_accounts
                .get(&event.event.account.to_ascii_lowercase());
            match encode_event(header, &event, cms.map(String::as_str)) {
                Ok(bytes) => return Ok(Some(link.send_event(now(), event.seq, bytes))),
                Err(skip) => {
                    self.reporter.skipped(&event, &skip);
                    feed.confirm(event.seq);
                }
            }
        }
        self.reporter.backlog(feed);
        Ok(None)
    }

    /// Carry out the link's actions.
    async fn apply(
        &self,
        stream: &mut TcpStream,
        feed: &mut Feed,
        actions: Vec<Action>,
    ) -> Result<(), String> {
        for a in actions {
            match a {
                Action::Send(bytes) => {
                    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await {
                        Ok(Ok(())) => self.reporter.sent(),
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("write timed out".into()),
                    }
                }
                Action::Acked(seq) => {
                    feed.confirm(seq);
                    self.reporter.acked(feed);
                }
                Action::Failed => {
                    tracing::error!(output = %self.config.name, "central station stopped answering; link failed, sending heartbeats");
                    self.reporter.state(LinkState::Failed, None);
                }
                Action::Restored => {
                    tracing::info!(output = %self.config.name, "central station answers again; link restored");
                    self.reporter.state(LinkState::Up, None);
                }
            }
        }
        Ok(())
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Sleep `d` unless cancelled first; `true` when cancelled.
async fn pause(cancel: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn accept_opt(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, String)> {
    match listener {
        Some(l) => l.accept().await.map(|(s, a)| (s, a.to_string())),
        None => std::future::pending().await,
    }
}

/// A handle to watch the link from outside (console, tests).
pub type StatusWatch = watch::Receiver<super::status::LinkStatus>;
