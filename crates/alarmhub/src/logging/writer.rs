//! A log writer that never blocks the runtime: each formatted line goes into a bounded
//! queue drained by one thread that writes to standard error. When the queue is full
//! (standard error is a slow pipe: a supervisor, pm2, journald under pressure) the line is
//! dropped and counted (`alarmhub_log_lines_dropped_total`), so ACKs and `/healthz` keep
//! going whatever the reader of the log does.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use crate::metrics::names;

/// Lines queued at most (about 1 MiB of typical lines).
pub const QUEUE_LINES: usize = 4096;
/// Longest line kept whole; longer ones are cut (a frame echoed into a log line cannot
/// make one line huge).
const MAX_LINE: usize = 8192;
/// How long the guard waits for the queue to drain at exit.
const FLUSH_WAIT: Duration = Duration::from_secs(2);
/// After a write the thread lets lines gather this long before it looks again: while lines
/// come steadily (an alarm line per alarm event) it wakes at most 200 times a second, and
/// the threads that log need not wake it for each line (a futex call on a runtime worker).
const GATHER: Duration = Duration::from_millis(5);

/// The `MakeWriter` handed to the subscriber.
#[derive(Clone)]
pub struct NonBlocking {
    tx: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    /// Lines queued and not written yet.
    pending: Arc<AtomicU64>,
}

/// Flushes what is queued when dropped (at exit), waiting at most a moment.
pub struct Guard {
    pending: Arc<AtomicU64>,
}

/// A writer to standard error through a queue of `lines` lines, and its guard.
pub fn stderr(lines: usize) -> (NonBlocking, Guard) {
    let (tx, rx) = sync_channel::<Vec<u8>>(lines);
    let pending = Arc::new(AtomicU64::new(0));
    let left = Arc::clone(&pending);
    // Without the thread every line is dropped and counted; logging still never blocks.
    let _ = std::thread::Builder::new()
        .name("alarmhub-log".into())
        .spawn(move || drain(rx, std::io::stderr(), &left));
    let writer = NonBlocking {
        tx,
        dropped: Arc::new(AtomicU64::new(0)),
        pending: Arc::clone(&pending),
    };
    (writer, Guard { pending })
}

/// Write queued lines until every sender is gone; several waiting lines go out in one
/// write, and once the queue is empty the next lines gather for [`GATHER`] (a backlog is
/// written at once).
fn drain(rx: Receiver<Vec<u8>>, mut out: impl Write, pending: &AtomicU64) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Ok(line) = rx.recv() {
        batch.extend_from_slice(&line);
        let mut n = 1;
        let mut emptied = false;
        while batch.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(l) => {
                    batch.extend_from_slice(&l);
                    n += 1;
                }
                Err(_) => {
                    emptied = true;
                    break;
                }
            }
        }
        // Nowhere to report a failing standard error; the lines are gone either way.
        let _ = out.write_all(&batch);
        let _ = out.flush();
        batch.clear();
        pending.fetch_sub(n, Ordering::Relaxed);
        if emptied {
            std::thread::sleep(GATHER);
        }
    }
}

impl NonBlocking {
    /// Lines dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queue one line (cut at [`MAX_LINE`]); the buffer itself is queued, not a copy.
    fn send(&self, mut line: Vec<u8>) {
        if line.len() > MAX_LINE {
            line.truncate(MAX_LINE);
            line.extend_from_slice(b"...\n");
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(names::LOG_LINES_DROPPED_TOTAL).increment(1);
            }
        }
    }
}

/// One event's line: the formatter writes it with one or more `write` calls; it is queued
/// as one line when the event is done.
pub struct LineWriter {
    to: NonBlocking,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() < MAX_LINE + 1 {
            self.buf.extend_from_slice(b);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.to.send(std::mem::take(&mut self.buf));
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            to: self.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + FLUSH_WAIT;
        while self.pending.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (tx, rx) = sync_channel::<Vec<u8>>(2);
        let w = NonBlocking {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            pending: Arc::new(AtomicU64::new(0)),
        };
        let started = std::time::Instant::now();
        for _ in 0..1000 {
            let mut l = w.make_writer();
            l.write_all(b"line\n").unwrap_or_default();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never blocked");
        assert_eq!(w.dropped(), 998);
        let pending = Arc::clone(&w.pending);
        drop(w);
        let mut out = Vec::new();
        drain(rx, &mut out, &pending);
        assert_eq!(out, b"line\nline\n");
        assert_eq!(pending.load(Ordering::Relaxed), 0);
    }

    /// Counts the writes it is given.
    struct Writes(Arc<AtomicU64>, Vec<u8>);

    impl Write for Writes {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.fetch_add(1, Ordering::Relaxed);
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_that_come_steadily_are_gathered_into_few_writes_and_none_is_lost() {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE_LINES);
        let writes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&writes);
        let pending = Arc::new(AtomicU64::new(0));
        let left = Arc::clone(&pending);
        let drainer = std::thread::spawn(move || {
            let mut out = Writes(counted, Vec::new());
            drain(rx, &mut out, &left);
            out.1
        });
        // 100 lines, one every 0.5 ms: one write each without gathering.
        for _ in 0..100 {
            tx.send(b"line\n".to_vec()).unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
        drop(tx);
        let out = drainer.join().unwrap();
        assert_eq!(out.len(), 500, "every line written");
        let n = writes.load(Ordering::Relaxed);
        assert!(n <= 40, "{n} writes for 100 lines");
    }
}
