//! The RPDE change feed of services (`/feeds/services`), read from the store's local change feed.

use super::error::{ApiError, ApiResult, bad};
use super::params::{MAX_PER_PAGE, parse_u64, parse_uuid};
use super::records::CachedRecords;
use super::{HttpState, blocking, default_rules, json_response};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use prospectus_model::{Record, RecordKind, Uuid};
use prospectus_oruk::{self as oruk, Detail, Meta};
use serde_json::json;

const DEFAULT_FEED_LIMIT: usize = 500;

/// RPDE feed of services. `modified` is this node's local change-feed position (an integer,
/// strictly increasing, never a wall clock), `id` the course id: following `next` from the
/// start visits every course's latest state once, deletions included.
#[tracing::instrument(skip_all)]
pub(super) async fn feed_services(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Query(pairs) = q.map_err(|e| bad("query", e.body_text()))?;
    let mut after: u64 = 0;
    let mut after_id: Option<Uuid> = None;
    let mut limit = DEFAULT_FEED_LIMIT;
    for (k, v) in &pairs {
        match k.as_str() {
            "afterTimestamp" => after = parse_u64(k, v, 0, u64::MAX)?,
            "afterId" => after_id = Some(parse_uuid(k, v)?),
            "limit" => limit = parse_u64(k, v, 1, MAX_PER_PAGE)? as usize,
            _ => {}
        }
    }
    if after_id.is_some() && !pairs.iter().any(|(k, _)| k == "afterTimestamp") {
        return Err(bad("afterId", "afterId needs afterTimestamp"));
    }
    // Links come from the configured public URL, never from the request's Host header.
    let base = st.public_url.clone();
    blocking(st.blocking.clone(), move || {
        let mut items = Vec::new();
        let mut pos = after;
        let mut last: Option<(u64, Uuid)> = None;
        let recs = CachedRecords::new(&st.store);
        'scan: loop {
            let chunk = st
                .store
                .changes_after(pos, 1000)
                .map_err(|e| match e.into() {
                    ApiError::FeedExpired { message, .. } => ApiError::FeedExpired {
                        message,
                        restart: format!("{base}/feeds/services"),
                    },
                    other => other,
                })?;
            if chunk.is_empty() {
                break;
            }
            for it in chunk {
                pos = it.pos;
                if it.kind != RecordKind::Course {
                    continue;
                }
                let mut item = json!({
                    "id": it.id.to_string(),
                    "kind": "Service",
                    "modified": it.pos,
                });
                // A position whose record is gone (removed by a snapshot re-sync, or unreadable)
                // is a deletion.
                match it
                    .stored
                    .and_then(|s| s.record.map(|r| (r, s.origin, s.unix_millis)))
                {
                    Some((Record::Course(c), origin, modified_millis)) => {
                        let meta = Meta {
                            origin,
                            modified_millis,
                            default_rules: default_rules(),
                        };
                        item["state"] = json!("updated");
                        item["data"] = oruk::service(&c, &meta, &recs, Detail::Full);
                    }
                    Some(_) => continue,
                    None => item["state"] = json!("deleted"),
                }
                last = Some((it.pos, it.id));
                items.push(item);
                if items.len() >= limit {
                    break 'scan;
                }
            }
        }
        let (next_ts, next_id) = match (last, after_id) {
            (Some((t, id)), _) => (t, Some(id)),
            (None, id) => (after, id),
        };
        let mut next = format!("{base}/feeds/services?afterTimestamp={next_ts}");
        if let Some(id) = next_id {
            next.push_str(&format!("&afterId={id}"));
        }
        if limit != DEFAULT_FEED_LIMIT {
            next.push_str(&format!("&limit={limit}"));
        }
        Ok(json_response(json!({
            "next": next,
            "items": items,
            "license": "https://creativecommons.org/licenses/by/4.0/",
        })))
    })
    .await
}
