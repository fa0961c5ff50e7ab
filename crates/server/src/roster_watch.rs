//! Re-reads the roster while the node runs — on SIGHUP (`systemctl reload`) and when the
//! file's contents change (checked every few seconds) — so adding a member or a key, or
//! revoking one, needs no restart of any node. A new roster is parsed and checked whole
//! before it replaces the one in force, in one step; one that fails is logged at error with
//! the reason and changes nothing.

use crate::peers::{Fed, Links, roster_peers};
use prospectus_federation::{KeyStanding, Roster};
use prospectus_store::Store;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a re-read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Same contents as last read: nothing to do.
    Unchanged,
    /// The new roster is in force.
    Applied,
    /// It did not parse or failed a check; the roster in force stays.
    Refused,
}

/// What the file held when last read, so each change is acted on (and logged) once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(Vec<u8>),
    Error(String),
}

pub struct RosterWatch {
    path: PathBuf,
    fed: Arc<Fed>,
    links: Arc<Links>,
    /// Links follow the roster's endpoints (no `--peer` list was given).
    follow_endpoints: bool,
    insecure_dev: bool,
    last: Mutex<Seen>,
}

impl RosterWatch {
    /// `text` is what the roster in force was parsed from.
    pub fn new(
        path: PathBuf,
        fed: Arc<Fed>,
        links: Arc<Links>,
        follow_endpoints: bool,
        insecure_dev: bool,
        text: Vec<u8>,
    ) -> Self {
        RosterWatch {
            path,
            fed,
            links,
            follow_endpoints,
            insecure_dev,
            last: Mutex::new(Seen::Text(text)),
        }
    }

    /// Reads the file; if it changed since the last read (or `forced`, on SIGHUP, which
    /// applies it even unchanged), parses and checks it and puts it in force. Blocking (file read, a scan of held entries).
    pub fn reload(&self, forced: bool) -> Reload {
        let path = self.path.display().to_string();
        let seen = match std::fs::read(&self.path) {
            Ok(t) => Seen::Text(t),
            Err(e) => Seen::Error(e.to_string()),
        };
        {
            let Ok(mut last) = self.last.lock() else {
                return Reload::Unchanged;
            };
            if *last == seen && !forced {
                return Reload::Unchanged;
            }
            *last = seen.clone();
        }
        let roster = match seen {
            Seen::Error(e) => Err(format!("cannot read it: {e}")),
            Seen::Text(t) => match String::from_utf8(t) {
                Ok(text) => Roster::parse(&text)
                    .map_err(|e| e.to_string())
                    .and_then(|r| self.check(r)),
                Err(_) => Err("not UTF-8 text".to_string()),
            },
        };
        let roster = match roster {
            Ok(r) => r,
            Err(reason) => {
                metrics::counter!(crate::metrics::ROSTER_RELOADS, "result" => "error").increment(1);
                tracing::error!(
                    %path, %reason,
                    "roster reload failed: keeping the roster in force (nothing of the new file was applied)"
                );
                return Reload::Refused;
            }
        };
        let own = self.fed.store.origin().to_string();
        warn_own_key(&roster, &self.fed.store, &path);
        let generation = self.fed.roster.replace(roster);
        let current = self.fed.roster.current();
        // Links subscribe again under the new roster (entries refused under the old one, e.g.
        // signed by a key it did not list yet, are offered again).
        self.fed.roster_changed.send_replace(generation);
        let (started, stopped) = if self.follow_endpoints {
            self.links.set(&roster_peers(&current, &own))
        } else {
            (Vec::new(), Vec::new())
        };
        metrics::counter!(crate::metrics::ROSTER_RELOADS, "result" => "ok").increment(1);
        tracing::info!(
            %path,
            members = current.members().len(),
            keys = current.key_count(),
            revoked = current.revoked_count(),
            generation,
            links_started = ?started,
            links_stopped = ?stopped,
            "roster reloaded"
        );
        record(&current, &self.fed.store);
        Reload::Applied
    }

    /// What the roster must satisfy besides parsing: peer endpoints this node may dial.
    fn check(&self, roster: Roster) -> Result<Roster, String> {
        if self.follow_endpoints {
            for m in roster.members() {
                if m.origin == self.fed.store.origin() {
                    continue;
                }
                crate::transport::check_url(&m.endpoint, self.insecure_dev).map_err(|e| {
                    format!(
                        "member {} endpoint {}: {e}",
                        m.origin,
                        m.endpoint.chars().take(200).collect::<String>()
                    )
                })?;
            }
        }
        Ok(roster)
    }
}

/// A roster in force that does not let this node sign is a silent outage (peers refuse all it
/// publishes): said at error, naming the key id. Start-up refuses it (`preflight`); a reload
/// cannot be refused for it, since the federation's roster is the truth.
fn warn_own_key(roster: &Roster, store: &Store, path: &str) {
    let own = store.origin();
    let key_id = store.key().key_id();
    if roster.member(own).is_none() {
        tracing::error!(
            %path, borough = %own, %key_id,
            "the roster in force no longer lists this node's borough: peers using it refuse everything this node publishes"
        );
        return;
    }
    let standing = roster.key_standing(own, key_id, chrono::Utc::now().timestamp_millis());
    let why = match standing {
        KeyStanding::Valid => return,
        KeyStanding::NotListed => "does not list it",
        KeyStanding::Revoked => "marks it revoked",
        KeyStanding::NotYetValid => "makes it valid only from a later time",
        KeyStanding::Expired => "says its valid_until has passed",
    };
    tracing::error!(
        %path, borough = %own, %key_id, public_key = %store.key().public_hex(),
        "the roster in force {why} for this node's origin key {key_id}: peers using it refuse everything this node publishes; list the key (or rotate with `prospectus key rotate`)"
    );
}

/// Gauges for the roster in force, and the count of held entries signed by revoked keys.
pub fn record(roster: &Roster, store: &Store) {
    metrics::gauge!(crate::metrics::ROSTER_MEMBERS).set(roster.members().len() as f64);
    metrics::gauge!(crate::metrics::ROSTER_KEYS).set(roster.key_count() as f64);
    metrics::gauge!(crate::metrics::ROSTER_REVOKED_KEYS).set(roster.revoked_count() as f64);
    let held = match roster.held_by_revoked(store) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot count entries signed by revoked keys");
            return;
        }
    };
    for m in roster.members() {
        let n = held
            .iter()
            .find(|(o, _)| *o == m.origin)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(crate::metrics::HELD_REVOKED, "origin" => m.origin.clone()).set(n as f64);
        if n > 0 {
            tracing::warn!(
                origin = %m.origin, entries = n,
                "this node holds entries signed by a key now revoked (accepted before the revocation; kept until the origin republishes them with a valid key)"
            );
        }
    }
}

/// Re-reads the roster on SIGHUP and, every `poll` (if set), when the file changed. Without a
/// roster file SIGHUP is logged and ignored (it never stops the node).
pub fn spawn(
    watch: Option<Arc<RosterWatch>>,
    poll: Option<Duration>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the roster is re-read only when the file changes");
                None
            }
        };
        let mut tick = poll.map(|every| {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let forced = tokio::select! {
                _ = next_hup(&mut hup) => true,
                _ = next_tick(&mut tick) => false,
                _ = stopping.changed() => return,
            };
            let Some(w) = watch.clone() else {
                tracing::info!("SIGHUP: no roster file configured; nothing to reload");
                continue;
            };
            if forced {
                tracing::info!("SIGHUP: re-reading the roster");
            }
            if let Err(e) = tokio::task::spawn_blocking(move || w.reload(forced)).await {
                tracing::error!(error = %e, "roster reload task failed");
            }
        }
    });
}

async fn next_hup(hup: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(s) = hup
        && s.recv().await.is_some()
    {
        return;
    }
    std::future::pending().await
}

async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
