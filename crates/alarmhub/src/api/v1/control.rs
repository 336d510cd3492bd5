//! `Control`: arm, arm stay, disarm, emergency and type query for a whole host or one
//! section, through the daemon's control path ([`crate::control::Control`]), which finds the
//! panel's session, waits for the host's ACK and stores the command with its outcome.

use tonic::Status;

use super::Ctx;
use panel_proto::build::Command;

use crate::control::{remote_command, ControlRequest};
use crate::proto::v1 as pb;

/// The request as the control path takes it; bad arguments name their field.
fn request(req: pb::ControlRequest, requested_by: String) -> Result<ControlRequest, Status> {
    if req.account.is_empty() {
        return Err(Status::invalid_argument("account is empty"));
    }
    let command = remote_command(&req.action).ok_or_else(|| {
        Status::invalid_argument(format!(
            "action {:?} is unknown (arm_away, arm_stay, disarm, emergency, query_type)",
            req.action
        ))
    })?;
    let section = u8::try_from(req.section)
        .ok()
        .filter(|s| *s <= 3)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "section {} is out of range (0 = whole host, 1..=3)",
                req.section
            ))
        })?;
    let command = match command {
        // An empty password asks the control path for the account's configured one.
        Command::Disarm { .. } => Command::Disarm {
            password: req.password,
        },
        other => other,
    };
    Ok(ControlRequest {
        account: req.account,
        command,
        section,
        requested_by,
    })
}

/// `Control`: the outcome is the reply, whatever it is (`panel_offline`, `timed_out` …);
/// only malformed requests are errors.
pub(crate) async fn run(
    ctx: &Ctx,
    req: pb::ControlRequest,
    requested_by: String,
) -> Result<pb::ControlReply, Status> {
    let req = request(req, requested_by)?;
    let outcome = ctx.h.control.execute(req).await;
    Ok(pb::ControlReply {
        outcome: outcome.as_str().to_string(),
        message: outcome.message(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str, section: i32) -> pb::ControlRequest {
        pb::ControlRequest {
            account: "A1".into(),
            action: action.into(),
            section,
            password: String::new(),
        }
    }

    #[test]
    fn requests_map_to_the_control_path() {
        let r = request(req("arm_stay", 2), "grpc:x".into()).unwrap();
        assert_eq!(
            (r.command, r.section, r.requested_by.as_str()),
            (Command::ArmStay, 2, "grpc:x")
        );
        let disarm = pb::ControlRequest {
            password: "123456".into(),
            ..req("disarm", 0)
        };
        let r = request(disarm, String::new()).unwrap();
        assert_eq!(
            r.command,
            Command::Disarm {
                password: "123456".into()
            }
        );
    }

    #[test]
    fn bad_arguments_name_their_field() {
        for (r, field) in [
            (req("explode", 0), "action"),
            (req("enter_set_mode", 0), "action"),
            (req("arm_away", 4), "section"),
            (req("arm_away", -1), "section"),
            (
                pb::ControlRequest {
                    account: String::new(),
                    ..req("disarm", 0)
                },
                "account",
            ),
        ] {
            let e = request(r, String::new()).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().contains(field), "{}", e.message());
        }
    }
}
