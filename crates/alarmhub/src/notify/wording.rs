//! The built-in wording: the zh-CN and English default texts for each kind of
//! notification (chat lines, e-mail bodies), and the digest that folds many
//! notifications into one message ("【汇总】12 条新报警：…").

use std::fmt::Write;

use super::model::What;
use super::template::{Context, Language, Template};

/// Render a built-in template text. Built-in texts are tested to parse; if one ever did
/// not, the raw text is better than no message.
fn render_builtin(source: &str, ctx: &Context<'_>) -> String {
    match Template::parse(source) {
        Ok(t) => t.render(ctx),
        Err(_) => source.to_string(),
    }
}

/// The built-in one-line text for a notification: chat messages and e-mail subjects.
pub fn default_line(what: What, language: Language) -> &'static str {
    match (language, what) {
        (Language::ZhCn, What::PanelOffline | What::PanelOnline) => "【{what}】{panel} {time}",
        (Language::ZhCn, What::ControlOutcome) => "【{what}】{panel} {detail} {time}",
        (Language::ZhCn, What::Test) => "【{what}】alarmhub 通知测试 {time}",
        (Language::ZhCn, _) => "【{what}】{panel} 防区{zone} {event} {time}",
        (Language::En, What::PanelOffline | What::PanelOnline) => "[{what}] {panel} {time}",
        (Language::En, What::ControlOutcome) => "[{what}] {panel} {detail} {time}",
        (Language::En, What::Test) => "[{what}] alarmhub notification test {time}",
        (Language::En, _) => "[{what}] {panel} zone {zone} {event} {time}",
    }
}

/// The built-in multi-line text: e-mail bodies.
pub fn default_body(language: Language) -> &'static str {
    match language {
        Language::ZhCn => {
            "{what}\n账号：{account}\n名称：{panel}\n事件：{event}（{event_en} {code}{sia}）\n\
             防区：{zone}  分区：{group}\n优先级：{priority}\n时间：{time}（UTC{offset}）\n\
             说明：{detail}\n编号：{id}\n"
        }
        Language::En => {
            "{what}\nAccount: {account}\nName: {panel}\nEvent: {event} ({code}{sia})\n\
             Zone: {zone}  Group: {group}\nPriority: {priority}\nTime: {time} (UTC{offset})\n\
             Detail: {detail}\nId: {id}\n"
        }
    }
}

/// Render `template`, or the built-in line for the notification's kind.
pub fn line(template: Option<&Template>, ctx: &Context<'_>) -> String {
    match template {
        Some(t) => t.render(ctx),
        None => render_builtin(default_line(ctx.notification.what, ctx.language), ctx),
    }
}

/// Render `template`, or the built-in multi-line body.
pub fn body(template: Option<&Template>, ctx: &Context<'_>) -> String {
    match template {
        Some(t) => t.render(ctx),
        None => render_builtin(default_body(ctx.language), ctx),
    }
}

/// Most lines a digest lists before "… and N more".
pub const DIGEST_MAX_LINES: usize = 10;
/// Most bytes of digest text: WeCom's text limit is 2048 bytes, the smallest of the
/// services; the rest say more.
pub const DIGEST_MAX_BYTES: usize = 1800;

/// The heading of a digest of `total` notifications: "【汇总】12 条新报警" / "12 new alarms".
pub fn digest_title(language: Language, total: usize, all_alarms: bool) -> String {
    match (language, all_alarms) {
        (Language::ZhCn, true) => format!("【汇总】{total} 条新报警"),
        (Language::ZhCn, false) => format!("【汇总】{total} 条新通知"),
        (Language::En, true) => format!("{total} new alarms"),
        (Language::En, false) => format!("{total} new notifications"),
    }
}

/// The digest text: the title, then one line per notification (already rendered, most
/// urgent first) up to the line and byte limits, then how many were left out.
pub fn digest_text(language: Language, lines: &[String], all_alarms: bool) -> String {
    let total = lines.len();
    let colon = if language == Language::ZhCn {
        "："
    } else {
        ":"
    };
    let mut out = format!("{}{colon}", digest_title(language, total, all_alarms));
    let mut shown = 0;
    for l in lines.iter().take(DIGEST_MAX_LINES) {
        // Leave room for the "… and N more" tail.
        if out.len() + l.len() + 1 > DIGEST_MAX_BYTES - 40 {
            break;
        }
        out.push('\n');
        out.push_str(l);
        shown += 1;
    }
    let rest = total - shown;
    if rest > 0 {
        out.push('\n');
        match language {
            Language::ZhCn => {
                let _ = write!(out, "…另有 {rest} 条");
            }
            Language::En => {
                let _ = write!(out, "… and {rest} more");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::model::{Notification, NotificationId};

    fn burglary() -> Notification {
        let id = NotificationId::new("ntf_a1_alarm_opened_0").unwrap();
        // 2026-11-29 04:00:01 UTC = 12:00:01 at +08:00.
        let mut n = Notification::for_event(id, What::AlarmOpened, "12", 1130, None, 0);
        n.time_ms = 1_795_924_801_000;
        n.utc_offset_secs = 8 * 3600;
        n.panel_name = "商铺12 北门".into();
        n.zone = 3;
        n
    }

    #[test]
    fn the_default_zh_line_reads_like_the_issue_example() {
        let n = burglary();
        let text = line(None, &Context::one(&n, Language::ZhCn));
        assert_eq!(text, "【报警】商铺12 北门 防区3 盗警 2026-11-29 12:00:01");
        let en = line(None, &Context::one(&n, Language::En));
        assert_eq!(
            en,
            "[Alarm] 商铺12 北门 zone 3 burglary alarm 2026-11-29 12:00:01"
        );
    }

    #[test]
    fn every_builtin_text_parses() {
        for lang in [Language::ZhCn, Language::En] {
            for what in [
                What::AlarmOpened,
                What::AlarmEscalated,
                What::AlarmClosed,
                What::AlarmReminder,
                What::PanelOffline,
                What::PanelOnline,
                What::ControlOutcome,
                What::Test,
            ] {
                Template::parse(default_line(what, lang)).unwrap();
            }
            Template::parse(default_body(lang)).unwrap();
        }
    }

    #[test]
    fn digests_list_the_first_lines_and_count_the_rest() {
        let lines: Vec<String> = (0..12).map(|i| format!("line {i}")).collect();
        let zh = digest_text(Language::ZhCn, &lines, true);
        assert!(zh.starts_with("【汇总】12 条新报警：\nline 0\n"), "{zh}");
        assert!(zh.ends_with("line 9\n…另有 2 条"), "{zh}");
        let en = digest_text(Language::En, &lines[..2], false);
        assert_eq!(en, "2 new notifications:\nline 0\nline 1");
        let long: Vec<String> = (0..10).map(|_| "长".repeat(200)).collect();
        let capped = digest_text(Language::ZhCn, &long, true);
        assert!(capped.len() <= DIGEST_MAX_BYTES, "{}", capped.len());
        assert!(capped.ends_with("…另有 8 条"), "{capped}");
    }
}
