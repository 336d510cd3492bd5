//! `ListEvents`: stored events by account, receive time, code (Contact ID `code` or SIA
//! `sia_code`) and zone, newest or oldest first, paged by sequence number. The page token is
//! `e:<seq of the last event of the page>`; the next page continues strictly after (or,
//! newest first, before) it, so events committed between calls never shift a page.

use tonic::Status;

use super::{convert, page_size, store_status, Ctx};
use crate::proto::v1 as pb;
use crate::store::EventQuery;

/// Prefix that marks an events page token.
const TOKEN_PREFIX: &str = "e:";

/// The seq a page token continues from.
fn parse_token(token: &str) -> Result<Option<i64>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "page_token {token:?} is not a ListEvents token (pass next_page_token back unchanged)"
            ))
        })
}

/// The store query for a request (page size + 1, to learn whether another page follows).
fn query(req: &pb::ListEventsRequest) -> Result<(EventQuery, usize), Status> {
    let size = page_size(req.page_size)?;
    let after = parse_token(&req.page_token)?;
    if req.from_ms < 0 {
        return Err(Status::invalid_argument(format!(
            "from_ms {} is negative (0 = no lower bound)",
            req.from_ms
        )));
    }
    if req.to_ms < 0 || (req.to_ms > 0 && req.to_ms < req.from_ms) {
        return Err(Status::invalid_argument(format!(
            "to_ms {} is before from_ms {} (0 = no upper bound)",
            req.to_ms, req.from_ms
        )));
    }
    let code = match u16::try_from(req.code) {
        Ok(0) => None,
        Ok(c) if c <= 9999 => Some(c),
        _ => {
            return Err(Status::invalid_argument(format!(
                "code {} is out of range (1..=9999, or 0 for every code)",
                req.code
            )))
        }
    };
    let sia_code = sia_code(&req.sia_code)?;
    let zone = match req.zone.map(u16::try_from) {
        None => None,
        Some(Ok(z)) if z <= 999 => Some(z),
        Some(_) => {
            return Err(Status::invalid_argument(format!(
                "zone {} is out of range (0..=999, or unset for every zone)",
                req.zone.unwrap_or_default()
            )))
        }
    };
    let newest_first = !req.oldest_first;
    let q = EventQuery {
        account: (!req.account.is_empty()).then(|| req.account.clone()),
        from_ms: (req.from_ms > 0).then_some(req.from_ms),
        to_ms: (req.to_ms > 0).then_some(req.to_ms),
        code,
        sia_code,
        zone,
        after_seq: if newest_first { None } else { after },
        before_seq: if newest_first { after } else { None },
        limit: size + 1,
        newest_first,
    };
    Ok((q, size))
}

/// The `sia_code` filter: empty for every code, else two letters (`BA`, `FA` …) matched
/// exactly as the panel sent them (SIA codes are upper case).
fn sia_code(text: &str) -> Result<Option<String>, Status> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Ok(Some(text.to_string()));
    }
    Err(Status::invalid_argument(format!(
        "sia_code {text:?} is not a SIA event code (two capital letters such as BA or FA, or empty for every code)"
    )))
}

/// `ListEvents`.
pub(crate) async fn list(
    ctx: &Ctx,
    req: pb::ListEventsRequest,
) -> Result<pb::ListEventsReply, Status> {
    let (q, size) = query(&req)?;
    let mut events = ctx
        .h
        .store
        .query_events(&q)
        .await
        .map_err(|e| store_status("listing events", &e))?;
    let more = events.len() > size;
    events.truncate(size);
    let next_page_token = match (more, events.last()) {
        (true, Some(last)) => format!("{TOKEN_PREFIX}{}", last.seq),
        _ => String::new(),
    };
    Ok(pb::ListEventsReply {
        events: events.iter().map(convert::event).collect(),
        next_page_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> pb::ListEventsRequest {
        pb::ListEventsRequest::default()
    }

    fn bad_field(r: pb::ListEventsRequest, field: &str) {
        let e = query(&r).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains(field), "{}", e.message());
    }

    #[test]
    fn defaults_are_every_event_newest_first_one_page_of_100() {
        let (q, size) = query(&req()).unwrap();
        assert_eq!(size, 100);
        assert_eq!(q.limit, 101);
        assert!(q.newest_first);
        assert!(q.account.is_none() && q.code.is_none() && q.from_ms.is_none());
    }

    #[test]
    fn the_token_bounds_the_next_page_in_the_listing_direction() {
        let r = pb::ListEventsRequest {
            page_token: "e:40".into(),
            ..req()
        };
        let (q, _) = query(&r).unwrap();
        assert_eq!((q.before_seq, q.after_seq), (Some(40), None));
        let r = pb::ListEventsRequest {
            oldest_first: true,
            ..r
        };
        let (q, _) = query(&r).unwrap();
        assert_eq!((q.before_seq, q.after_seq), (None, Some(40)));
    }

    #[test]
    fn bad_arguments_name_their_field() {
        bad_field(
            pb::ListEventsRequest {
                page_size: 5000,
                ..req()
            },
            "page_size",
        );
        bad_field(
            pb::ListEventsRequest {
                page_token: "x".into(),
                ..req()
            },
            "page_token",
        );
        bad_field(
            pb::ListEventsRequest {
                page_token: "e:-3".into(),
                ..req()
            },
            "page_token",
        );
        bad_field(
            pb::ListEventsRequest {
                code: 10000,
                ..req()
            },
            "code",
        );
        bad_field(pb::ListEventsRequest { code: -1, ..req() }, "code");
        for sia in ["B", "BAX", "ba", "1A", "Б"] {
            bad_field(
                pb::ListEventsRequest {
                    sia_code: sia.into(),
                    ..req()
                },
                "sia_code",
            );
        }
        bad_field(
            pb::ListEventsRequest {
                from_ms: -1,
                ..req()
            },
            "from_ms",
        );
        bad_field(
            pb::ListEventsRequest {
                from_ms: 10,
                to_ms: 5,
                ..req()
            },
            "to_ms",
        );
        bad_field(
            pb::ListEventsRequest {
                zone: Some(1000),
                ..req()
            },
            "zone",
        );
        bad_field(
            pb::ListEventsRequest {
                zone: Some(-1),
                ..req()
            },
            "zone",
        );
    }

    #[test]
    fn a_sia_code_is_a_filter_and_empty_is_none() {
        assert_eq!(query(&req()).unwrap().0.sia_code, None);
        let r = pb::ListEventsRequest {
            sia_code: "BA".into(),
            ..req()
        };
        assert_eq!(query(&r).unwrap().0.sia_code.as_deref(), Some("BA"));
    }

    #[test]
    fn zone_zero_is_a_filter_and_unset_is_none() {
        let (q, _) = query(&req()).unwrap();
        assert_eq!(q.zone, None);
        let r = pb::ListEventsRequest {
            zone: Some(0),
            ..req()
        };
        assert_eq!(query(&r).unwrap().0.zone, Some(0));
    }
}
