//! The console's files, compiled into the binary with `include_str!` (no CDN, no bundler,
//! nothing fetched at run time): the page shell, one script and one style sheet. The page's
//! language is chosen from the `alarmhub_lang` cookie (the switch on the page), else
//! `Accept-Language` (`zh*` → `zh-CN`, anything else English).

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const I18N_JS: &str = include_str!("assets/i18n.js");
const ALARMS_JS: &str = include_str!("assets/alarms.js");
const OUTPUTS_JS: &str = include_str!("assets/outputs.js");
const USERS_JS: &str = include_str!("assets/users.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The strict policy every console answer carries: only the console's own files.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";

/// `zh-CN` or `en` for a request.
pub fn language(headers: &HeaderMap) -> &'static str {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == "alarmhub_lang")
                .map(|(_, v)| v.trim().to_string())
        });
    match cookie.as_deref() {
        Some("zh-CN") => return "zh-CN",
        Some("en") => return "en",
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first language the browser names decides (quality values are in preference order
    // in practice).
    let first = accept
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if first.starts_with("zh") {
        "zh-CN"
    } else {
        "en"
    }
}

/// `GET /`: the page shell in the request's language.
pub async fn index(headers: HeaderMap) -> Response {
    let lang = language(&headers);
    let body = INDEX.replace("{{LANG}}", lang);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `GET /console/assets/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    let (body, ctype) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "i18n.js" => (I18N_JS, "text/javascript; charset=utf-8"),
        "alarms.js" => (ALARMS_JS, "text/javascript; charset=utf-8"),
        "outputs.js" => (OUTPUTS_JS, "text/javascript; charset=utf-8"),
        "users.js" => (USERS_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such console file\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            // Files change with the binary; a restart after an upgrade must not serve stale ones.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_language_follows_accept_language_unless_the_switch_chose_one() {
        assert_eq!(language(&headers(&[])), "en");
        let zh = headers(&[(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.8")]);
        assert_eq!(language(&zh), "zh-CN");
        let en = headers(&[(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")]);
        assert_eq!(language(&en), "en");
        let switched = headers(&[
            (header::ACCEPT_LANGUAGE, "zh-CN"),
            (header::COOKIE, "alarmhub_lang=en"),
        ]);
        assert_eq!(language(&switched), "en");
    }

    #[test]
    fn every_page_file_is_embedded_and_names_no_outside_host() {
        for f in [
            INDEX, APP_JS, I18N_JS, ALARMS_JS, OUTPUTS_JS, USERS_JS, APP_CSS,
        ] {
            assert!(!f.is_empty());
            assert!(!f.contains("http://") && !f.contains("https://"), "a URL");
        }
        for script in [
            "app.js",
            "i18n.js",
            "alarms.js",
            "outputs.js",
            "users.js",
            "app.css",
        ] {
            assert!(
                INDEX.contains(&format!("/console/assets/{script}")),
                "{script}"
            );
        }
    }
}
