//! The texts of one message, from the channel's templates and language: the one-line text
//! (chat messages, e-mail subjects), the multi-line body (e-mail), and for digests the
//! title and the list of folded notifications.

use super::Outgoing;
use crate::notify::config::ChannelConfig;
use crate::notify::template::{Context, Language, Template};
use crate::notify::wording;

/// A channel's templates.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// The one-line text; built-in when `None`.
    pub line: Option<Template>,
    /// E-mail subject; the one-line text when `None`.
    pub subject: Option<Template>,
    /// E-mail body; built-in when `None`.
    pub body: Option<Template>,
    /// Language of the built-in texts.
    pub language: Language,
}

impl Texts {
    /// The templates of a channel.
    pub fn of(c: &ChannelConfig) -> Texts {
        Texts {
            line: c.template.clone(),
            subject: c.subject.clone(),
            body: c.body.clone(),
            language: c.language,
        }
    }

    /// The context templates render against: the first (most urgent) notification, with
    /// the count of notifications the message stands for.
    pub fn context<'a>(&self, out: &'a Outgoing) -> Option<Context<'a>> {
        out.notifications.first().map(|n| Context {
            notification: n,
            language: self.language,
            count: out.notifications.len(),
        })
    }

    fn lines(&self, out: &Outgoing) -> Vec<String> {
        out.notifications
            .iter()
            .map(|n| wording::line(self.line.as_ref(), &Context::one(n, self.language)))
            .collect()
    }

    fn all_alarms(out: &Outgoing) -> bool {
        out.notifications.iter().all(|n| n.what.is_alarm())
    }

    /// The message text: one line, or a digest.
    pub fn message(&self, out: &Outgoing) -> String {
        if out.is_digest() {
            return wording::digest_text(self.language, &self.lines(out), Self::all_alarms(out));
        }
        self.lines(out).pop().unwrap_or_default()
    }

    /// The e-mail subject.
    pub fn subject(&self, out: &Outgoing) -> String {
        match self.context(out) {
            Some(_) if out.is_digest() => wording::digest_title(
                self.language,
                out.notifications.len(),
                Self::all_alarms(out),
            ),
            Some(ctx) => match &self.subject {
                Some(t) => t.render(&ctx),
                None => wording::line(self.line.as_ref(), &ctx),
            },
            None => String::new(),
        }
    }

    /// The e-mail body.
    pub fn body(&self, out: &Outgoing) -> String {
        match self.context(out) {
            Some(_) if out.is_digest() => self.message(out),
            Some(ctx) => wording::body(self.body.as_ref(), &ctx),
            None => String::new(),
        }
    }
}
