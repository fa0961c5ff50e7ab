//! Which peer a node takes each origin's entries from, so that each change reaches each node
//! about once instead of once per peer. Per origin one *source* peer: the origin itself while
//! its link is up, otherwise the connected peer whose verified signed checkpoint of the origin
//! is highest. Every other link carries that origin's signed heads only, so lag stays visible:
//! while the node is behind what a connected peer's signed checkpoint proves (or holds a
//! history that diverged from a verified checkpoint), its source must close the gap at a
//! plausible rate: in each [`GRACE`] window, the whole gap if it is under [`MIN_RATE`] ×
//! grace positions, else at least that many. A source that withholds, trickles, or is itself
//! stuck is passed over for a while and another is chosen; a source whose link drops is
//! replaced at once. A big catch-up from an honest peer (thousands of entries a second) keeps
//! its source however large the gap. A snapshot being received holds the position still until
//! it ends, so while one comes its distinct records staged count as the progress
//! ([`Sources::staged`]).
//!
//! Heads of an origin after a stream's first come from its source and from one *witness* per
//! origin (another connected peer, preferring one that has proved it holds the origin), not
//! from every link: that keeps the bytes per change near one entry in a full mesh. Witnesses
//! rotate every [`ROTATE`], so a withholding source cannot rely on one silent accomplice.
//!
//! Only positions proven by a verified checkpoint enter here (a peer's unsigned epoch/seq
//! never does; the links check signatures before calling [`Sources::proven`]). Pure logic:
//! the links feed it what they learn and the time, and ask which origins to subscribe to.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The window in which a source must close the gap to a connected peer's signed checkpoint
/// (or, for a gap of more than [`MIN_RATE`] × grace positions, advance that many).
pub const GRACE: Duration = Duration::from_secs(3);
/// Positions a second a source closing a big gap must advance by at least: far below what an
/// honest peer delivers (a bootstrap runs at thousands of entries a second, and positions
/// advance at least as fast as entries arrive, compaction skipping some), far above a trickle.
pub const MIN_RATE: u64 = 1_000;
/// How long a replaced source is passed over for that origin.
pub const PASS_OVER: Duration = Duration::from_secs(60);
/// How often each origin's witness moves to the next peer.
pub const ROTATE: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct Peer {
    /// The roster origin whose endpoint this link's URL is (from our own roster, never from
    /// what the peer says).
    origin: Option<String>,
    connected: bool,
    /// Per origin, the highest position a verified checkpoint from this peer proves.
    proven: BTreeMap<String, (u64, u64)>,
    /// Per origin (roster origins only: the link reports what it asked for), the distinct
    /// records of a snapshot being received on this link: progress a position cannot show.
    staged: BTreeMap<String, u64>,
}

/// What this node holds of an origin, as source choice judges it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    pub at: (u64, u64),
    /// The history held diverged from the origin's verified checkpoint: behind whatever its
    /// position (only a snapshot from a source mends it).
    pub diverged: bool,
}

#[derive(Debug, Clone)]
struct Choice {
    peer: String,
    /// The current window of being behind a connected peer's signed checkpoint.
    behind: Option<Window>,
}

/// A window in which the source must advance: since when, what the node held then and the
/// gap to the best proof then (`u64::MAX`: unknown, another epoch or a diverged history).
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    held: (u64, u64),
    /// Records staged by snapshots of the origin then.
    staged: u64,
    gap: u64,
}

/// Positions from `from` to `to` (an epoch change counts as any number).
fn advanced(from: (u64, u64), to: (u64, u64)) -> u64 {
    match to.0.cmp(&from.0) {
        std::cmp::Ordering::Greater => u64::MAX,
        std::cmp::Ordering::Equal => to.1.saturating_sub(from.1),
        std::cmp::Ordering::Less => 0,
    }
}

/// The source per origin, over the links the node runs (keyed by peer URL).
#[derive(Debug)]
pub struct Sources {
    grace: Duration,
    pass_over: Duration,
    peers: BTreeMap<String, Peer>,
    chosen: BTreeMap<String, Choice>,
    /// `(origin, peer)` → passed over until.
    passed_over: BTreeMap<(String, String), Instant>,
    /// Per origin, the link that sends its changed heads besides the source.
    witness: BTreeMap<String, String>,
    /// The origins of the last [`Sources::choose`].
    origins: Vec<String>,
    rotation: u64,
    rotated_at: Option<Instant>,
}

impl Default for Sources {
    fn default() -> Self {
        Sources::new(GRACE, PASS_OVER)
    }
}

impl Sources {
    pub fn new(grace: Duration, pass_over: Duration) -> Sources {
        Sources {
            grace,
            pass_over,
            peers: BTreeMap::new(),
            chosen: BTreeMap::new(),
            passed_over: BTreeMap::new(),
            witness: BTreeMap::new(),
            origins: Vec::new(),
            rotation: 0,
            rotated_at: None,
        }
    }

    /// The links run now, each with the roster origin its URL is the endpoint of. Others go.
    pub fn set_peers(&mut self, peers: &[(String, Option<String>)]) {
        self.peers
            .retain(|url, _| peers.iter().any(|(u, _)| u == url));
        for (url, origin) in peers {
            self.peers.entry(url.clone()).or_default().origin = origin.clone();
        }
        let peers = &self.peers;
        self.chosen.retain(|_, c| peers.contains_key(&c.peer));
        self.witness.retain(|_, w| peers.contains_key(w));
        self.passed_over.retain(|(_, p), _| peers.contains_key(p));
    }

    /// A link came up (what it proved on an earlier connection is forgotten) or went down
    /// (it stops being anyone's source).
    pub fn connected(&mut self, url: &str, up: bool) {
        if let Some(p) = self.peers.get_mut(url) {
            p.connected = up;
            p.proven.clear();
            p.staged.clear();
        }
        if !up {
            self.chosen.retain(|_, c| c.peer != url);
            self.witness.retain(|_, w| w != url);
        }
    }

    /// `url`'s verified checkpoint proves `pos` of `origin`. Returns true when this may change
    /// the choice at once (the origin has no source yet, or this is the origin's own link).
    pub fn proven(&mut self, url: &str, origin: &str, pos: (u64, u64)) -> bool {
        let Some(p) = self.peers.get_mut(url) else {
            return false;
        };
        let e = p.proven.entry(origin.to_string()).or_insert(pos);
        *e = (*e).max(pos);
        let own_link = p.origin.as_deref() == Some(origin);
        match self.chosen.get(origin) {
            None => true,
            Some(c) => own_link && c.peer != url,
        }
    }

    /// `url` has staged `records` distinct records of a snapshot of `origin` so far (0: none
    /// in progress). A snapshot holds the position still until it ends, so a big one from an
    /// honest peer keeps pace by its records instead.
    pub fn staged(&mut self, url: &str, origin: &str, records: u64) {
        if let Some(p) = self.peers.get_mut(url) {
            if records == 0 {
                p.staged.remove(origin);
            } else {
                p.staged.insert(origin.to_string(), records);
            }
        }
    }

    /// Records staged by the snapshots of `origin` in progress, over all links.
    fn staging(&self, origin: &str) -> u64 {
        self.peers
            .values()
            .filter_map(|p| p.staged.get(origin))
            .fold(0, |a, n| a.saturating_add(*n))
    }

    /// The source of `origin`, if any.
    pub fn source(&self, origin: &str) -> Option<&str> {
        self.chosen.get(origin).map(|c| c.peer.as_str())
    }

    /// The origins `url` is the source of (sorted).
    pub fn wanted(&self, url: &str) -> Vec<String> {
        self.chosen
            .iter()
            .filter(|(_, c)| c.peer == url)
            .map(|(o, _)| o.clone())
            .collect()
    }

    /// The origins whose changed heads are asked of `url` (sorted): those it witnesses, and,
    /// if it is up, every origin no link is the source of (whoever comes to hold one says so).
    pub fn witnessed(&self, url: &str) -> Vec<String> {
        let up = self.peers.get(url).is_some_and(|p| p.connected);
        self.origins
            .iter()
            .filter(|o| {
                self.witness.get(*o).is_some_and(|w| w == url)
                    || (up && !self.chosen.contains_key(*o))
            })
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    }

    /// What each link is asked for: `(entries of, heads of)`.
    fn asks(&self) -> BTreeMap<String, (Vec<String>, Vec<String>)> {
        self.peers
            .keys()
            .map(|u| (u.clone(), (self.wanted(u), self.witnessed(u))))
            .collect()
    }

    /// Another connected peer for `origin`'s heads: one that proved it holds the origin if
    /// any, taken in turn by the rotation.
    fn pick_witness(&self, origin: &str, now: Instant) -> Option<String> {
        let source = self.source(origin);
        let up: Vec<(&String, &Peer)> = self
            .peers
            .iter()
            .filter(|(u, p)| {
                p.connected && Some(u.as_str()) != source && !self.passed_over(origin, u, now)
            })
            .collect();
        let holding: Vec<&String> = up
            .iter()
            .filter(|(_, p)| p.proven.contains_key(origin))
            .map(|(u, _)| *u)
            .collect();
        let pool: Vec<&String> = if holding.is_empty() {
            up.iter().map(|(u, _)| *u).collect()
        } else {
            holding
        };
        if pool.is_empty() {
            return None;
        }
        // Spread over the peers: each origin starts at its own place in the turn.
        let spread = origin.bytes().map(u64::from).sum::<u64>();
        let i = (self.rotation.wrapping_add(spread) % pool.len() as u64) as usize;
        pool.get(i).map(|u| (*u).clone())
    }

    fn passed_over(&self, origin: &str, url: &str, now: Instant) -> bool {
        self.passed_over
            .get(&(origin.to_string(), url.to_string()))
            .is_some_and(|until| now < *until)
    }

    /// The best source for `origin` now: its own link if up; else the connected peer proving
    /// the highest position (ties: the current source, then the first URL). Peers passed over
    /// are used only when no other connected peer proves anything.
    fn best(&self, origin: &str, now: Instant) -> Option<String> {
        let current = self.chosen.get(origin).map(|c| c.peer.as_str());
        let pick = |allow_passed: bool| {
            let up = self.peers.iter().filter(|(u, p)| {
                p.connected && (allow_passed || !self.passed_over(origin, u, now))
            });
            if let Some((u, _)) = up
                .clone()
                .find(|(_, p)| p.origin.as_deref() == Some(origin))
            {
                return Some(u.clone());
            }
            up.filter_map(|(u, p)| p.proven.get(origin).map(|pos| (*pos, u)))
                .max_by(|(a, ua), (b, ub)| {
                    a.cmp(b)
                        .then_with(|| {
                            (Some(ua.as_str()) == current).cmp(&(Some(ub.as_str()) == current))
                        })
                        .then_with(|| ub.cmp(ua))
                })
                .map(|(_, u)| u.clone())
        };
        pick(false).or_else(|| pick(true))
    }

    /// The highest position a connected peer not passed over for `origin` proves.
    fn target(&self, origin: &str, now: Instant) -> Option<(u64, u64)> {
        self.peers
            .iter()
            .filter(|(u, p)| p.connected && !self.passed_over(origin, u, now))
            .filter_map(|(_, p)| p.proven.get(origin))
            .max()
            .copied()
    }

    /// How far `held` is behind the best proof of `origin`, if it is (`u64::MAX`: unknown).
    fn gap(&self, origin: &str, held: Held, now: Instant) -> Option<u64> {
        let target = self.target(origin, now)?;
        if held.diverged {
            return Some(u64::MAX);
        }
        (target > held.at).then(|| match advanced(held.at, target) {
            0 => u64::MAX,
            g => g,
        })
    }

    /// Re-decides every origin's source: `origins` are the roster's origins to take from
    /// peers (not this node's own), `held` what this node holds of each. While the node is
    /// behind a connected peer's signed checkpoint (or diverged), each grace window the source
    /// must close the gap, or advance by [`MIN_RATE`] × grace positions if the gap is larger;
    /// one that does not is passed over and replaced. Returns the links whose set of origins
    /// changed (they subscribe again).
    pub fn choose(
        &mut self,
        now: Instant,
        origins: &[String],
        held: impl Fn(&str) -> Held,
    ) -> BTreeSet<String> {
        let before = self.asks();
        match self.rotated_at {
            Some(t) if now.duration_since(t) >= ROTATE => {
                self.rotation = self.rotation.wrapping_add(1);
                self.rotated_at = Some(now);
                self.witness.clear();
            }
            Some(_) => {}
            None => self.rotated_at = Some(now),
        }
        self.passed_over.retain(|_, until| now < *until);
        self.origins = origins.to_vec();
        self.chosen.retain(|o, _| origins.contains(o));
        // What a source closing a big gap must advance by in one window.
        let step = MIN_RATE.saturating_mul(self.grace.as_secs().max(1));
        for origin in origins {
            let held = held(origin);
            let gap = self.gap(origin, held, now);
            let staged = self.staging(origin);
            let window = gap.map(|gap| Window {
                since: now,
                held: held.at,
                staged,
                gap,
            });
            let grace = self.grace;
            let mut replace = false;
            if let Some(c) = self.chosen.get_mut(origin) {
                c.behind = match (c.behind, window) {
                    (_, None) => None,
                    (None, w) => w,
                    (Some(w), next) if now.duration_since(w.since) >= grace => {
                        // Kept pace over the window (positions, or records of a snapshot
                        // being received): a new one from here; else replaced.
                        let progress = advanced(w.held, held.at)
                            .saturating_add(staged.saturating_sub(w.staged));
                        if progress >= w.gap.min(step) {
                            next
                        } else {
                            replace = true;
                            Some(w)
                        }
                    }
                    (w, _) => w,
                };
            }
            if replace && let Some(c) = self.chosen.remove(origin) {
                self.passed_over
                    .insert((origin.clone(), c.peer), now + self.pass_over);
            }
            let best = self.best(origin, now);
            let keep = self
                .chosen
                .get(origin)
                .is_some_and(|c| !self.passed_over(origin, &c.peer, now))
                && best.as_deref().is_some_and(|b| {
                    // The origin's own link takes over from a relay; otherwise stay put.
                    let own = self.peers.get(b).and_then(|p| p.origin.as_deref()) == Some(origin);
                    !own || self.source(origin) == Some(b)
                });
            if !keep {
                match best {
                    Some(peer) => {
                        self.chosen.insert(
                            origin.clone(),
                            Choice {
                                peer,
                                behind: window,
                            },
                        );
                    }
                    None => {
                        self.chosen.remove(origin);
                    }
                }
            }
        }
        // Witnesses of the origins with a source: kept while still fit (up, not the source,
        // not passed over), else anew.
        self.witness
            .retain(|o, _| origins.contains(o) && self.chosen.contains_key(o));
        for origin in origins.iter().filter(|o| self.chosen.contains_key(*o)) {
            let fit = self.witness.get(origin).is_some_and(|w| {
                self.peers.get(w).is_some_and(|p| p.connected)
                    && self.source(origin) != Some(w.as_str())
                    && !self.passed_over(origin, w, now)
            });
            if !fit {
                match self.pick_witness(origin, now) {
                    Some(w) => {
                        self.witness.insert(origin.clone(), w);
                    }
                    None => {
                        self.witness.remove(origin);
                    }
                }
            }
        }
        let after = self.asks();
        after
            .iter()
            .filter(|(u, a)| before.get(*u) != Some(a))
            .map(|(u, _)| u.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "E09000001";
    const Y: &str = "E09000002";

    fn at(epoch: u64, seq: u64) -> Held {
        Held {
            at: (epoch, seq),
            diverged: false,
        }
    }

    fn origins() -> Vec<String> {
        vec![X.to_string(), Y.to_string()]
    }

    /// Links: "x" is X's own endpoint, "y" Y's, "r1"/"r2" relays (no roster origin).
    fn mesh() -> Sources {
        let mut s = Sources::new(Duration::from_secs(3), Duration::from_secs(60));
        s.set_peers(&[
            ("x".into(), Some(X.into())),
            ("y".into(), Some(Y.into())),
            ("r1".into(), None),
            ("r2".into(), None),
        ]);
        s
    }

    #[test]
    fn the_origin_itself_is_the_source_while_its_link_is_up() {
        let mut s = mesh();
        for u in ["x", "y", "r1", "r2"] {
            s.connected(u, true);
        }
        s.proven("r1", X, (1, 9));
        let t = Instant::now();
        let changed = s.choose(t, &origins(), |_| at(0, 0));
        assert_eq!(s.source(X), Some("x"));
        assert_eq!(s.source(Y), Some("y"));
        assert_eq!(s.wanted("x"), vec![X.to_string()]);
        assert!(s.wanted("r1").is_empty());
        // Every link is asked something new: entries (x, y) or witnessing.
        assert!(changed.contains("x") && changed.contains("y"));
        // Each origin has one witness, not its source.
        for o in [X, Y] {
            let w: Vec<_> = ["x", "y", "r1", "r2"]
                .into_iter()
                .filter(|u| s.witnessed(u).contains(&o.to_string()))
                .collect();
            assert_eq!(w.len(), 1, "{o}: {w:?}");
            assert_ne!(Some(w[0]), s.source(o));
        }
        // Nothing new: nothing changes.
        assert!(s.choose(t, &origins(), |_| at(0, 0)).is_empty());
    }

    #[test]
    fn origin_down_takes_the_highest_verified_relay_and_the_origin_takes_back_over() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        s.proven("r1", X, (1, 5));
        s.proven("r2", X, (1, 7));
        let t = Instant::now();
        s.choose(t, &origins(), |_| at(1, 7));
        assert_eq!(s.source(X), Some("r2"));
        // Nobody proves anything of Y and its own link is down: no source.
        assert_eq!(s.source(Y), None);
        // r2's link drops: r1 at once.
        s.connected("r2", false);
        let changed = s.choose(t, &origins(), |_| at(1, 7));
        assert_eq!(s.source(X), Some("r1"));
        // (r2's link is down: it subscribes anew whenever it comes back.)
        assert!(changed.contains("r1"));
        // The origin comes back: it is the source again.
        s.connected("x", true);
        assert!(s.proven("x", X, (1, 8)));
        s.choose(t, &origins(), |_| at(1, 7));
        assert_eq!(s.source(X), Some("x"));
        assert_eq!(s.wanted("r1"), Vec::<String>::new());
    }

    #[test]
    fn a_source_that_withholds_is_replaced_after_the_grace_and_passed_over() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        let t = Instant::now();
        // r1 proves more than r2 (a replayed genuine checkpoint) but sends nothing.
        s.proven("r1", X, (1, 10));
        s.proven("r2", X, (1, 4));
        s.choose(t, &origins(), |_| at(0, 0));
        assert_eq!(s.source(X), Some("r1"));
        // Within the grace: kept.
        s.choose(t + Duration::from_secs(2), &origins(), |_| at(0, 0));
        assert_eq!(s.source(X), Some("r1"));
        // Past it, still at nothing: r2, even though r1 proves more.
        let changed = s.choose(t + Duration::from_secs(4), &origins(), |_| at(0, 0));
        assert_eq!(s.source(X), Some("r2"));
        assert!(changed.contains("r1") && changed.contains("r2"));
        // r2 delivers what it proved; r1 stays passed over for the origin.
        s.choose(t + Duration::from_secs(5), &origins(), |_| at(1, 4));
        assert_eq!(s.source(X), Some("r2"));
        // ... and is not blamed for the claim of r1 (passed over).
        s.choose(t + Duration::from_secs(9), &origins(), |_| at(1, 4));
        assert_eq!(s.source(X), Some("r2"));
        // After the pass-over r1 may be chosen again.
        s.choose(t + Duration::from_secs(70), &origins(), |_| at(1, 4));
        assert!(s.source(X).is_some());
    }

    #[test]
    fn a_source_that_keeps_up_is_never_replaced() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        let t = Instant::now();
        s.proven("r1", X, (1, 1));
        s.choose(t, &origins(), |_| at(1, 1));
        assert_eq!(s.source(X), Some("r1"));
        for k in 2..20u64 {
            // r2 is one step ahead each time; the node catches up within the grace.
            s.proven("r2", X, (1, k));
            s.proven("r1", X, (1, k));
            let now = t + Duration::from_secs(k * 2);
            assert!(s.choose(now, &origins(), |_| at(1, k - 1)).is_empty());
            s.choose(now + Duration::from_secs(1), &origins(), |_| at(1, k));
            assert_eq!(s.source(X), Some("r1"), "step {k}");
        }
    }

    #[test]
    fn a_big_catch_up_at_a_plausible_rate_keeps_its_source() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        let t = Instant::now();
        s.proven("r1", X, (1, 100_000));
        s.proven("r2", X, (1, 100_000));
        s.choose(t, &origins(), |_| at(0, 0));
        let first = s.source(X).map(str::to_string);
        // A bootstrap of 100k at ~5k a second (a debug build on a loaded machine: slower
        // still, but thousands): twenty seconds, one choice a second, never replaced.
        for k in 1..=20u64 {
            let changed = s.choose(t + Duration::from_secs(k), &origins(), |_| at(1, k * 5_000));
            assert!(changed.is_empty(), "second {k}");
        }
        assert_eq!(s.source(X).map(str::to_string), first);
    }

    #[test]
    fn a_source_that_trickles_is_replaced_however_big_the_gap() {
        for gap in [40u64, 100_000] {
            let mut s = mesh();
            s.connected("r1", true);
            s.connected("r2", true);
            let t = Instant::now();
            s.proven("r1", X, (1, gap));
            s.choose(t, &origins(), |_| at(1, 0));
            assert_eq!(s.source(X), Some("r1"));
            s.proven("r2", X, (1, gap));
            // One entry every second: something new at every choice, never near the proof.
            for k in 1..=3u64 {
                s.choose(t + Duration::from_secs(k), &origins(), |_| at(1, k));
            }
            assert_eq!(s.source(X), Some("r2"), "gap {gap}");
            // r2 closes a small gap at once, a big one at a plausible rate: kept.
            for k in 4..=10u64 {
                let held = (k * 20_000).min(gap);
                s.choose(t + Duration::from_secs(k), &origins(), |_| at(1, held));
                assert_eq!(s.source(X), Some("r2"), "gap {gap}, second {k}");
            }
        }
    }

    #[test]
    fn a_big_snapshot_keeps_its_source_while_its_records_come() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        let t = Instant::now();
        s.proven("r1", X, (1, 100_000));
        s.proven("r2", X, (1, 100_000));
        s.choose(t, &origins(), |_| at(1, 10));
        let first = s.source(X).map(str::to_string).expect("a source");
        // The node's cursor is below the source's floor: it takes X whole, ~5k records a
        // second, and its position moves only at the end.
        for k in 1..=20u64 {
            s.staged(&first, X, k * 5_000);
            let changed = s.choose(t + Duration::from_secs(k), &origins(), |_| at(1, 10));
            assert!(changed.is_empty(), "second {k}");
        }
        // The snapshot stalls: replaced.
        for k in 21..=24u64 {
            s.choose(t + Duration::from_secs(k), &origins(), |_| at(1, 10));
        }
        assert_ne!(s.source(X), Some(first.as_str()));
        // A link that goes takes what it staged with it.
        s.connected(&first, false);
        assert_eq!(s.staging(X), 0);
    }

    #[test]
    fn a_diverged_history_counts_as_behind_even_at_the_proven_position() {
        let mut s = mesh();
        s.connected("r1", true);
        s.connected("r2", true);
        let t = Instant::now();
        s.proven("r1", X, (1, 20));
        s.choose(t, &origins(), |_| at(1, 0));
        assert_eq!(s.source(X), Some("r1"));
        s.proven("r2", X, (1, 20));
        // r1 brings the node to the proven position, but the set it sent diverges.
        assert!(
            s.choose(t + Duration::from_secs(1), &origins(), |_| at(1, 20))
                .is_empty()
        );
        let diverged = |_: &str| Held {
            at: (1, 20),
            diverged: true,
        };
        s.choose(t + Duration::from_secs(2), &origins(), diverged);
        s.choose(t + Duration::from_secs(4), &origins(), diverged);
        assert_eq!(s.source(X), Some("r1"), "within the grace");
        s.choose(t + Duration::from_secs(5), &origins(), diverged);
        assert_eq!(s.source(X), Some("r2"));
        // Mended (r2's snapshot): no longer behind, kept.
        s.choose(t + Duration::from_secs(6), &origins(), |_| at(1, 20));
        s.choose(t + Duration::from_secs(30), &origins(), |_| at(1, 20));
        assert_eq!(s.source(X), Some("r2"));
    }

    #[test]
    fn the_witness_prefers_a_peer_holding_the_origin_and_rotates() {
        let mut s = mesh();
        for u in ["x", "y", "r1", "r2"] {
            s.connected(u, true);
        }
        s.proven("r2", X, (1, 1));
        let t = Instant::now();
        s.choose(t, &origins(), |_| at(1, 1));
        assert_eq!(s.witnessed("r2"), vec![X.to_string()]);
        s.proven("r1", X, (1, 1));
        // Kept until the rotation, then taken in turn among those holding X.
        s.choose(t + Duration::from_secs(10), &origins(), |_| at(1, 1));
        assert_eq!(s.witnessed("r2"), vec![X.to_string()]);
        let mut seen = BTreeSet::new();
        for k in 1..=4u64 {
            s.choose(t + ROTATE * k as u32, &origins(), |_| at(1, 1));
            let w: Vec<_> = ["r1", "r2"]
                .into_iter()
                .filter(|u| s.witnessed(u).contains(&X.to_string()))
                .collect();
            assert_eq!(w.len(), 1);
            seen.insert(w[0]);
        }
        assert_eq!(seen.len(), 2, "both holders take a turn");
        // The witness's link drops: another at once.
        let w = if s.witnessed("r1").is_empty() {
            "r2"
        } else {
            "r1"
        };
        s.connected(w, false);
        s.choose(t + ROTATE * 4 + Duration::from_secs(1), &origins(), |_| {
            at(1, 1)
        });
        assert!(!s.witnessed(if w == "r1" { "r2" } else { "r1" }).is_empty());
    }

    #[test]
    fn links_that_go_take_their_choices_with_them() {
        let mut s = mesh();
        s.connected("r1", true);
        s.proven("r1", X, (1, 3));
        let t = Instant::now();
        s.choose(t, &origins(), |_| at(0, 0));
        assert_eq!(s.source(X), Some("r1"));
        s.set_peers(&[("r2".into(), None)]);
        assert_eq!(s.source(X), None);
        assert!(!s.proven("r1", X, (1, 4)), "an unknown link proves nothing");
        // Origins leaving the roster lose their source.
        s.connected("r2", true);
        s.proven("r2", Y, (1, 1));
        s.choose(t, &origins(), |_| at(0, 0));
        assert_eq!(s.source(Y), Some("r2"));
        s.choose(t, &[X.to_string()], |_| at(0, 0));
        assert_eq!(s.source(Y), None);
    }
}
