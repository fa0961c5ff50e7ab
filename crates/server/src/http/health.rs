//! `/metrics`, `/healthz` and `/readyz`: what the admin's Prometheus and load balancer read.

use super::{HttpState, json_response};
use crate::metrics;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` checks. Set by `node::start` as each part comes up.
#[derive(Default)]
pub struct Readiness {
    pub store_open: AtomicBool,
    pub index_built: AtomicBool,
    pub roster_loaded: AtomicBool,
}

#[tracing::instrument(skip_all)]
pub(super) async fn metrics_text(State(st): State<HttpState>) -> Response {
    let Some(handle) = metrics::handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    let st2 = st.clone();
    let gauges = tokio::task::spawn_blocking(move || scrape_gauges(&st2)).await;
    if let Ok(Err(e)) | Err(e) = gauges.map_err(|e| e.to_string()) {
        tracing::warn!(error = %e, "metrics gauges");
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// State gauges, computed at scrape time.
fn scrape_gauges(st: &HttpState) -> Result<(), String> {
    ::metrics::gauge!("prospectus_index_courses").set(st.index.len() as f64);
    let bytes = st.store.size_on_disk().map_err(|e| e.to_string())?;
    ::metrics::gauge!("prospectus_store_bytes").set(bytes as f64);
    let best = st.fed.heads.all();
    let own = st.store.origin().to_string();
    for o in st.store.origins().map_err(|e| e.to_string())? {
        let labels = [("origin", o.origin.clone())];
        ::metrics::gauge!("prospectus_origin_live_records", &labels).set(o.live_count as f64);
        ::metrics::gauge!("prospectus_origin_seq", &labels).set(o.seq as f64);
        ::metrics::gauge!(metrics::FORKS, &labels).set(o.forks as f64);
        if o.origin == own && !st.fed.joining() {
            continue;
        }
        let lag = lag(best.get(&o.origin).copied(), (o.epoch, o.seq));
        ::metrics::gauge!(metrics::LAG, &labels).set(lag as f64);
    }
    // Origins a peer reported that this node holds nothing of yet.
    for (origin, head) in best {
        if origin != own
            && st
                .store
                .origin_info(&origin)
                .map(|i| i.seq == 0 && i.epoch == 0)
                .unwrap_or(true)
        {
            ::metrics::gauge!(metrics::LAG, "origin" => origin).set(lag(Some(head), (0, 0)) as f64);
        }
    }
    Ok(())
}

/// Entries between what this node holds and the best head a peer reported. Across an epoch
/// change the whole new epoch is counted (its entries are numbered from 1).
fn lag(best: Option<(u64, u64)>, held: (u64, u64)) -> u64 {
    match best {
        None => 0,
        Some(b) if b <= held => 0,
        Some((be, bs)) if be == held.0 => bs - held.1,
        Some((_, bs)) => bs,
    }
}

pub(super) async fn healthz() -> Response {
    json_response(json!({"status": "ok"}))
}

pub(super) async fn readyz(State(st): State<HttpState>) -> Response {
    let store = st.ready.store_open.load(Ordering::SeqCst);
    let index = st.ready.index_built.load(Ordering::SeqCst);
    let roster = st.ready.roster_loaded.load(Ordering::SeqCst);
    let fed = st.fed.clone();
    let join = tokio::task::spawn_blocking(move || fed.gate())
        .await
        .unwrap_or(prospectus_federation::JoinState::Waiting {
            answered: 0,
            expected: 0,
        });
    let publishing = join == prospectus_federation::JoinState::Open;
    let ready = store && index && roster && publishing;
    let mut not_ready = Vec::new();
    for (ok, what) in [
        (store, "store not open".to_string()),
        (index, "search index not built".to_string()),
        (roster, "roster not loaded".to_string()),
        (publishing, join.describe()),
    ] {
        if !ok {
            not_ready.push(what);
        }
    }
    let body = json!({
        "ready": ready,
        "not_ready": not_ready,
        "store_open": store,
        "index_built": index,
        "roster_loaded": roster,
        "publishing": publishing,
        "index_courses": st.index.len(),
        "index_opened": st.index.opened().to_string(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_entries_behind() {
        assert_eq!(lag(None, (1, 5)), 0);
        assert_eq!(lag(Some((1, 5)), (1, 5)), 0);
        assert_eq!(lag(Some((1, 9)), (1, 5)), 4);
        assert_eq!(lag(Some((2, 3)), (1, 5)), 3);
        assert_eq!(lag(Some((1, 3)), (1, 5)), 0);
    }
}
