//! Home Assistant's side of the bridge: commands in (checked by the rules of
//! [`command`](crate::outputs::mqtt::command)), run through the [`Controller`](crate::outputs::Controller),
//! outcomes and states out; and Home Assistant's birth message.

use rumqttc::Publish;
use serde_json::json;

use super::{Bridge, Finished, Out};
use crate::outputs::mqtt::command::{self, Rejection};
use crate::outputs::mqtt::state::{status_of, Confirmed, Pending};
use crate::outputs::mqtt::view::Msg;
use crate::outputs::source::{ArmAction, CommandOutcome, ControlCommand};

impl Bridge {
    pub(super) fn on_publish(&mut self, p: Publish) {
        if p.topic == self.view.topics.ha_status() {
            if p.payload.as_ref() == b"online" {
                tracing::info!("home assistant is online; publishing discovery again");
                self.view.forget();
                self.republish(None);
            }
            return;
        }
        let Some((account, section)) = self.view.topics.parse_command(&p.topic) else {
            return;
        };
        match self.accept(&account, section, &p) {
            Ok(cmd) => self.start(account, section, cmd),
            Err(Rejection::Retained) => {
                tracing::info!(account = %account, section, "retained mqtt command ignored");
                metrics::counter!(crate::metrics::names::MQTT_COMMANDS_TOTAL, "result" => "retained")
                    .increment(1);
            }
            Err(r) => {
                tracing::warn!(account = %account, section, reason = %r, "mqtt command refused");
                self.result(&account, section, None, r.as_str(), &r.to_string());
            }
        }
    }

    fn accept(
        &self,
        account: &str,
        section: u8,
        p: &Publish,
    ) -> Result<command::Command, Rejection> {
        if p.retain {
            return Err(Rejection::Retained);
        }
        let cmd = command::parse(&p.payload)?;
        let now = crate::clock::now_ms();
        command::check(&cmd, p.retain, now, self.cfg.command_max_age_secs)?;
        if !self.control.contains(&account.to_ascii_lowercase()) {
            return Err(Rejection::NotAllowed(account.to_string()));
        }
        if self
            .view
            .pending
            .contains_key(&(account.to_string(), section))
        {
            return Err(Rejection::Busy);
        }
        Ok(cmd)
    }

    fn start(&mut self, account: String, section: u8, cmd: command::Command) {
        tracing::info!(account = %account, section, action = cmd.action.as_str(), "mqtt command");
        self.view
            .pending
            .insert((account.clone(), section), Pending::of(cmd.action));
        self.republish(Some(&account));
        let controller = self.sources.controller.clone();
        let tx = self.done_tx.clone();
        let command = ControlCommand {
            account: account.clone(),
            action: cmd.action,
            section,
            password: cmd.code,
            actor: "mqtt".into(),
        };
        self.tracker.spawn(async move {
            let outcome = controller.execute(command).await;
            let _ = tx.send(Finished {
                account,
                section,
                action: cmd.action,
                outcome,
            });
        });
    }

    pub(super) fn on_finished(&mut self, f: Finished) {
        let key = (f.account.clone(), f.section);
        self.view.pending.remove(&key);
        if f.outcome == CommandOutcome::Done {
            let before = self
                .sources
                .panels
                .panel(&f.account)
                .map_or(-1, |p| status_of(&p, f.section));
            self.view.confirm(key, Confirmed::new(f.action, before));
        }
        tracing::info!(account = %f.account, section = f.section, action = f.action.as_str(),
            outcome = f.outcome.as_str(), "mqtt command finished");
        let (name, msg) = (f.outcome.as_str(), f.outcome.message());
        self.result(&f.account, f.section, Some(f.action), name, &msg);
    }

    /// Publish a command result and the panel's state again (the previous one when the
    /// command did not change it).
    fn result(
        &mut self,
        account: &str,
        section: u8,
        action: Option<ArmAction>,
        result: &str,
        message: &str,
    ) {
        metrics::counter!(crate::metrics::names::MQTT_COMMANDS_TOTAL, "result" => result.to_string())
            .increment(1);
        let payload = json!({
            "account": account,
            "section": section,
            "action": action.map(|a| a.as_str()),
            "result": result,
            "message": message,
            "time_ms": crate::clock::now_ms(),
        });
        let m = Msg {
            topic: self.view.topics.command_result(account),
            payload: payload.to_string(),
            retain: false,
        };
        self.outbox.push_back(Out::Msg(m, None));
        self.view.forget_state(account);
        self.republish(Some(account));
    }
}
