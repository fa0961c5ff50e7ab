//! `prospectus status`: a borough admin's view of replication, per origin and per peer.

use crate::args::Conn;
use anyhow::Result;
use prospectus_proto::v1 as w;
use prospectus_server::client::{self, AdminClient};
use std::process::ExitCode;

fn ago(millis: i64) -> String {
    if millis == 0 {
        return "never".into();
    }
    let s = (chrono::Utc::now().timestamp_millis() - millis).max(0) / 1000;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

pub async fn fetch(conn: &Conn) -> Result<w::StatusResponse> {
    let token = crate::read_token(&conn.token_file)?;
    let mut c = AdminClient::new(conn.channel().await?);
    Ok(c.status(client::authorized(w::StatusRequest {}, &token)?)
        .await
        .map_err(crate::publish::describe_status)?
        .into_inner())
}

pub async fn run(conn: Conn) -> Result<ExitCode> {
    let s = fetch(&conn).await?;
    outln!("node {}", s.origin)?;
    if s.recovering {
        outln!("PUBLISHING WAITS: {}", s.waiting_for)?;
    }
    outln!(
        "{:<10} {:<24} {:>5} {:>8} {:>8} {:<10} {:>6} {:<10} {:>5}",
        "origin",
        "borough",
        "epoch",
        "seq",
        "live",
        "checkpoint",
        "lag",
        "heard",
        "forks"
    )?;
    for o in &s.origins {
        let cp = if o.diverged {
            "DIVERGED".to_string()
        } else if o.checkpoint_verified {
            "verified".to_string()
        } else {
            format!("pending@{}", o.checkpoint_seq)
        };
        let lag = if o.behind_epoch {
            "epoch".to_string()
        } else {
            o.lag.to_string()
        };
        outln!(
            "{:<10} {:<24} {:>5} {:>8} {:>8} {:<10} {:>6} {:<10} {:>5}",
            o.origin,
            o.name,
            o.epoch,
            o.seq,
            o.live_count,
            cp,
            lag,
            ago(o.last_heard_millis),
            o.forks
        )?;
    }
    if !s.peers.is_empty() {
        outln!()?;
        outln!(
            "{:<32} {:<10} {:>10} {:>9}  last error",
            "peer",
            "link",
            "applied",
            "rejected"
        )?;
        for p in &s.peers {
            outln!(
                "{:<32} {:<10} {:>10} {:>9}  {}",
                p.url,
                if p.connected { "up" } else { "down" },
                p.applied,
                p.rejected,
                p.last_error
            )?;
        }
    }
    for f in &s.forks {
        let what = if f.refused_signed_checkpoint.is_empty() {
            "entry"
        } else {
            "checkpoint"
        };
        outln!(
            "FORK {} epoch {} seq {}: a second, different signed {what} was refused (a reused position)",
            f.origin,
            f.epoch,
            f.seq
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
