//! Routing: which channels (and, for WeChat, which recipients) one notification goes to,
//! from `[[notify.rules]]` and `[[notify.quiet]]`. Pure: a [`Router`] is built once from
//! the configuration and answers [`Router::targets`] for each notification the store is
//! about to record, so the outbox rows are known inside the same transaction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::config::{ChannelKind, NotifyConfig, RuleConfig, State};
use super::model::{Notification, What};

/// Longest account pattern.
const GLOB_MAX_LEN: usize = 64;

/// An account pattern: `*` matches any text, `?` one character; ASCII case is ignored, as
/// it is for accounts everywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    /// Check and compile a pattern.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() || pattern.len() > GLOB_MAX_LEN {
            return Err(format!(
                "account pattern {pattern:?} must be 1 to {GLOB_MAX_LEN} characters"
            ));
        }
        Ok(Glob {
            pattern: pattern.chars().map(|c| c.to_ascii_lowercase()).collect(),
        })
    }

    /// Whether `text` matches. Linear backtracking on the last `*`: no blow-up.
    pub fn matches(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
        let p = &self.pattern;
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some('*') => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                    pi += 1;
                    ti += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi.min(p.len())..].iter().all(|c| *c == '*')
    }
}

/// One destination of a notification: a channel, and the recipient for channels that send
/// one request per recipient (WeChat openids). Each target is one outbox row with its own
/// retries, so one unreachable recipient never re-sends to the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// Channel name.
    pub channel: String,
    /// Recipient within the channel, when the channel fans out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

struct Rule {
    config: RuleConfig,
    accounts: Vec<Glob>,
    except: Vec<Glob>,
}

struct Quiet {
    accounts: Vec<Glob>,
    from_ms: Option<i64>,
    until_ms: Option<i64>,
}

struct Channel {
    name: String,
    kind: ChannelKind,
    recipients: Vec<String>,
}

/// The compiled rules.
pub struct Router {
    rules: Vec<Rule>,
    quiet: Vec<Quiet>,
    channels: Vec<Channel>,
}

fn compile(patterns: &[String]) -> Vec<Glob> {
    // Patterns were validated with the configuration; one that is not valid matches nothing.
    patterns.iter().filter_map(|g| Glob::new(g).ok()).collect()
}

/// The rule state a notification kind answers to; `None` for kinds no rule routes.
fn state_of(what: What) -> Option<State> {
    match what {
        What::AlarmOpened | What::AlarmReminder => Some(State::Opened),
        What::AlarmEscalated => Some(State::Escalated),
        What::AlarmClosed => Some(State::Closed),
        What::PanelOffline => Some(State::Offline),
        What::PanelOnline => Some(State::Online),
        What::ControlOutcome => Some(State::Control),
        What::Test => None,
    }
}

impl Router {
    /// Compile the rules of a validated configuration.
    pub fn new(config: &NotifyConfig) -> Router {
        Router {
            rules: config
                .rules
                .iter()
                .map(|r| Rule {
                    accounts: compile(&r.accounts),
                    except: compile(&r.except_accounts),
                    config: r.clone(),
                })
                .collect(),
            quiet: config
                .quiet
                .iter()
                .map(|q| Quiet {
                    accounts: compile(&q.accounts),
                    from_ms: q.from.map(|d| d.unix_ms),
                    until_ms: q.until.map(|d| d.unix_ms),
                })
                .collect(),
            channels: config
                .channels
                .iter()
                .map(|c| Channel {
                    name: c.name.clone(),
                    kind: c.kind,
                    recipients: c.openids.clone(),
                })
                .collect(),
        }
    }

    /// Whether notifications for `account` at `time_ms` are silenced by `[[notify.quiet]]`.
    pub fn is_quiet(&self, account: &str, time_ms: i64) -> bool {
        self.quiet.iter().any(|q| {
            q.accounts.iter().any(|g| g.matches(account))
                && q.from_ms.is_none_or(|f| time_ms >= f)
                && q.until_ms.is_none_or(|u| time_ms < u)
        })
    }

    fn matching<'a>(&'a self, n: &'a Notification) -> impl Iterator<Item = &'a Rule> + 'a {
        let state = state_of(n.what);
        let quiet = self.is_quiet(&n.account, n.time_ms);
        self.rules.iter().filter(move |r| {
            !quiet
                && state.is_some_and(|s| r.config.states.contains(&s))
                && rule_matches(r, n)
                && (n.what != What::AlarmReminder || r.config.repeat_secs > 0)
        })
    }

    /// Every destination of `n`, without duplicates, in a stable order. Empty when no rule
    /// matches or the account is quiet.
    pub fn targets(&self, n: &Notification) -> Vec<Target> {
        let mut names = BTreeSet::new();
        for rule in self.matching(n) {
            names.extend(rule.config.channels.iter().map(String::as_str));
        }
        let mut out = Vec::new();
        for ch in self
            .channels
            .iter()
            .filter(|c| names.contains(c.name.as_str()))
        {
            if ch.kind == ChannelKind::Wechat {
                out.extend(ch.recipients.iter().map(|r| Target {
                    channel: ch.name.clone(),
                    recipient: Some(r.clone()),
                }));
            } else {
                out.push(Target {
                    channel: ch.name.clone(),
                    recipient: None,
                });
            }
        }
        out.sort();
        out
    }

    /// Seconds between reminders for the alarm that `opened` announced: the shortest
    /// `repeat_secs` among the rules that matched it and remind. `None`: no reminders.
    pub fn reminder_secs(&self, opened: &Notification) -> Option<u64> {
        let mut probe = opened.clone();
        probe.what = What::AlarmReminder;
        self.matching(&probe).map(|r| r.config.repeat_secs).min()
    }
}

fn rule_matches(rule: &Rule, n: &Notification) -> bool {
    let r = &rule.config;
    // Priorities belong to alarms; panel and control notifications have none to compare.
    let priority_ok = match r.max_priority {
        Some(max) if n.what.is_alarm() => n.priority >= 1 && n.priority <= max,
        _ => true,
    };
    let class_ok = r.classes.is_empty() || r.classes.contains(&n.class);
    let code_ok = (r.codes.is_empty() && r.sia_codes.is_empty())
        || r.codes.contains(&n.code)
        || n.sia_code
            .as_deref()
            .is_some_and(|s| r.sia_codes.iter().any(|c| c.eq_ignore_ascii_case(s)));
    let account_ok =
        rule.accounts.is_empty() || rule.accounts.iter().any(|g| g.matches(&n.account));
    let excepted = rule.except.iter().any(|g| g.matches(&n.account));
    priority_ok && class_ok && code_ok && account_ok && !excepted
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::model::NotificationId;

    #[test]
    fn globs_match_like_shell_patterns_ignoring_case() {
        let cases = [
            ("8612*", "861234", true),
            ("8612*", "8712", false),
            ("shop-??", "SHOP-12", true),
            ("shop-??", "shop-123", false),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*1", "111", true),
            ("1234", "1234", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(Glob::new(p).unwrap().matches(t), want, "{p} vs {t}");
        }
        assert!(Glob::new("").is_err());
    }

    fn router(toml_text: &str) -> Router {
        let c: NotifyConfig = toml::from_str(toml_text).unwrap();
        Router::new(&c)
    }

    fn alarm(account: &str, code: u16, priority: u8) -> Notification {
        let id = NotificationId::new("n").unwrap();
        let mut n = Notification::for_event(id, What::AlarmOpened, account, code, None, 1_000);
        n.priority = priority;
        n
    }

    const CHANNELS: &str = r#"
[[channels]]
name = "ding"
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=t"
[[channels]]
name = "wx"
kind = "wechat"
appid = "a"
secret = "s"
template_id = "t"
openids = ["o1", "o2"]
"#;

    #[test]
    fn rules_select_by_priority_class_code_account_and_state() {
        let r = router(&format!(
            "{CHANNELS}\n[[rules]]\nchannels = [\"ding\"]\nmax_priority = 2\nclasses = [\"alarm\"]\n\
             accounts = [\"86*\"]\nexcept_accounts = [\"8600\"]\n\
             [[rules]]\nchannels = [\"wx\"]\ncodes = [1110]\nstates = [\"opened\", \"closed\"]\n\
             repeat_secs = 0\n"
        ));
        let ding = Target {
            channel: "ding".into(),
            recipient: None,
        };
        assert_eq!(r.targets(&alarm("8611", 1130, 1)), vec![ding.clone()]);
        assert!(
            r.targets(&alarm("8611", 1130, 3)).is_empty(),
            "priority 3 > 2"
        );
        assert!(r.targets(&alarm("8600", 1130, 1)).is_empty(), "excepted");
        assert!(r.targets(&alarm("7711", 1130, 1)).is_empty(), "account");
        assert!(
            r.targets(&alarm("8611", 1301, 1)).is_empty(),
            "trouble class"
        );
        let fire = r.targets(&alarm("8611", 1110, 1));
        assert_eq!(fire.len(), 3, "{fire:?}");
        assert_eq!(fire[1].recipient.as_deref(), Some("o1"));
        let mut closed = alarm("8611", 1110, 1);
        closed.what = What::AlarmClosed;
        assert_eq!(
            r.targets(&closed).len(),
            2,
            "only the wechat rule has closed"
        );
        // Reminders follow opened rules that remind: the wechat rule has repeat_secs = 0.
        let mut reminder = alarm("8611", 1110, 1);
        reminder.what = What::AlarmReminder;
        assert_eq!(r.targets(&reminder), vec![ding]);
        assert_eq!(r.reminder_secs(&alarm("8611", 1110, 1)), Some(1800));
        assert_eq!(r.reminder_secs(&alarm("7711", 1110, 1)), None);
    }

    #[test]
    fn quiet_periods_silence_accounts_between_from_and_until() {
        let r = router(&format!(
            "{CHANNELS}\n[[rules]]\nchannels = [\"ding\"]\n\
             [[quiet]]\naccounts = [\"test-*\"]\n\
             [[quiet]]\naccounts = [\"12\"]\nfrom = \"1970-01-01T00:00:01Z\"\nuntil = \"1970-01-01T00:00:02Z\"\n"
        ));
        assert!(r.targets(&alarm("test-1", 1130, 1)).is_empty());
        assert!(
            r.targets(&alarm("12", 1130, 1)).is_empty(),
            "at 1 000 ms: quiet"
        );
        let mut later = alarm("12", 1130, 1);
        later.time_ms = 2_000;
        assert_eq!(r.targets(&later).len(), 1, "until is exclusive");
        assert!(!r.is_quiet("13", 1_000));
    }
}
