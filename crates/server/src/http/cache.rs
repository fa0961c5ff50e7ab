//! Conditional GETs for the ORUK endpoints: aggregators poll, and most polls find nothing new.
//!
//! Every ORUK answer is a function of the index's catalog generation, the request (path and
//! query) and the date (cost options are described under the current academic year's rules).
//! So the `ETag` is a hash of those plus a random per-start value (a restarted node's tags
//! never match an old one's), and `Last-Modified` is when the catalog last changed. A request
//! whose `If-None-Match` names the current tag (or, without one, whose `If-Modified-Since` is
//! not older than the last change) gets `304` without running the handler.

use super::HttpState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::hash::{DefaultHasher, Hash, Hasher};

struct Validators {
    generation: u64,
    etag: String,
    /// Whole seconds, as HTTP dates are.
    last_modified_secs: i64,
}

fn validators(st: &HttpState, req: &Request) -> Validators {
    let (generation, changed) = {
        let cat = st.index.catalog();
        (cat.generation(), cat.changed_millis())
    };
    let today = prospectus_store::today();
    let mut h = DefaultHasher::new();
    req.uri().path().hash(&mut h);
    req.uri().query().unwrap_or("").hash(&mut h);
    today.hash(&mut h);
    Validators {
        generation,
        // Weak: the gzip and br encodings of one answer carry the same tag.
        etag: format!("W/\"{:x}-{generation:x}-{:x}\"", st.boot, h.finish()),
        last_modified_secs: last_modified_secs(changed, today),
    }
}

/// When an answer last changed: the catalog's last change, or the start of `today` (UTC, as
/// `today()` is) if later, since the date is part of every answer. So an `If-Modified-Since`
/// from before the date turned (an academic-year rollover) never gets a stale `304`.
fn last_modified_secs(changed_millis: i64, today: chrono::NaiveDate) -> i64 {
    let start_of_day = today.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
    changed_millis.div_euclid(1000).max(start_of_day)
}

fn http_date(secs: i64) -> Option<HeaderValue> {
    let t = DateTime::<Utc>::from_timestamp(secs, 0)?;
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

/// RFC 9110 §13.1: `If-None-Match` decides when present; `If-Modified-Since` only without it.
fn not_modified(headers: &HeaderMap, v: &Validators) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else {
            return false;
        };
        // Weak comparison (§8.8.3.2): the opaque tags match, `W/` aside.
        let ours = v.etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == ours);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| DateTime::parse_from_rfc2822(h).ok())
        .is_some_and(|since| v.last_modified_secs <= since.timestamp())
}

fn set_validators(headers: &mut HeaderMap, v: &Validators) {
    if let Ok(tag) = HeaderValue::from_str(&v.etag) {
        headers.insert(header::ETAG, tag);
    }
    if let Some(d) = http_date(v.last_modified_secs) {
        headers.insert(header::LAST_MODIFIED, d);
    }
}

/// The middleware: 304 when the client's copy is current; validators on a 200 that was
/// answered from the same generation they describe.
pub(super) async fn conditional(State(st): State<HttpState>, req: Request, next: Next) -> Response {
    let v = validators(&st, &req);
    if not_modified(req.headers(), &v) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        set_validators(resp.headers_mut(), &v);
        return resp;
    }
    let mut resp = next.run(req).await;
    // A change committed while the handler ran may or may not be in the answer: no tag then.
    // A stream reads the catalog as it goes: no single generation to name.
    let streamed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"application/x-ndjson"));
    if resp.status() == StatusCode::OK
        && !streamed
        && st.index.catalog().generation() == v.generation
    {
        set_validators(resp.headers_mut(), &v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_modified_at_the_latest_at_the_start_of_its_day() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 8, 1).expect("date");
        let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        // The catalog last changed the day before: the answer still changed at midnight.
        assert_eq!(last_modified_secs((midnight - 3600) * 1000, day), midnight);
        // A change later today is the answer's last change.
        assert_eq!(
            last_modified_secs((midnight + 60) * 1000 + 999, day),
            midnight + 60
        );
        let v = Validators {
            generation: 1,
            etag: "W/\"x\"".into(),
            last_modified_secs: last_modified_secs((midnight - 3600) * 1000, day),
        };
        let since = |secs: i64| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MODIFIED_SINCE, http_date(secs).expect("date"));
            h
        };
        // A copy fetched yesterday after the last change is not current today.
        assert!(!not_modified(&since(midnight - 60), &v));
        assert!(not_modified(&since(midnight + 60), &v));
    }
}
