//! The join gate: when a node may publish again after any start. A node must never sign an
//! entry at a position a peer may already hold (a restored copy, a lost disk, a second process
//! with the same key), so at every start publishing waits until the peers have answered what
//! they hold of this node's own origin:
//!
//! - **restore** when a peer holds a signed checkpoint of the origin (verified with the node's
//!   own key): the node takes its own newer entries back, and publishes once *more than half*
//!   of the peers asked have answered and it holds at least the highest checkpoint any of
//!   them holds. One answer is never enough while most are unheard, even one holding exactly
//!   the node's position: a lagging peer (or a hostile member replaying one of our old
//!   checkpoints) may match a restored copy's position while other peers hold more; every
//!   publish reaches every live peer, so a majority that has seen no more is what a restart
//!   can trust. A peer gone for good is removed from the roster (re-read live) and is then no
//!   longer counted;
//! - **new member** when every configured peer has answered that it holds nothing signed of
//!   the origin;
//! - otherwise **wait**, saying so ("waiting for peers, N of M answered").
//!
//! A node with no peers, a node whose key was just created (nothing can be signed with it
//! yet), and `--new-member` on a data dir holding nothing of the origin publish at once. A
//! peer's answer is the first heads of its stream: only a checkpoint signed with this node's
//! key (or a key it replaced by `key rotate`, within its window) counts as "holds"; anything
//! else (no head, an unsigned position) is "holds nothing". A checkpoint signed with one of the
//! node's keys that no longer counts (revoked in the roster, or claiming a time outside the
//! key's window: a stolen key) cannot be taken back, but its position was used: when the gate
//! opens below such a position, publishing resumes in a new epoch beyond it.
//!
//! The peers asked are those the links run now ([`Join::set_peers`], kept in step with
//! `Links::set` when a roster reload adds or removes members); answers are keyed by peer URL,
//! so a link restarted by a reload replaces its earlier answer, never adds a second one.
//! Pure logic: the links feed it answers and the node's own cursor.

use std::collections::{BTreeMap, BTreeSet};

/// What one peer said it holds of this node's own origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No checkpoint of the origin signed with this node's key.
    Nothing,
    /// A verified checkpoint at `(epoch, seq)`.
    Holds(u64, u64),
    /// A checkpoint at `(epoch, seq)` signed with one of this node's keys that no longer counts
    /// (revoked, or outside its window): nothing to take back, but the position was used.
    Used(u64, u64),
}

/// Where the gate stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinState {
    /// Publishing is allowed.
    Open,
    /// Not every peer has answered, and none holds the origin.
    Waiting { answered: usize, expected: usize },
    /// A peer holds the origin beyond what this node holds: taking it back.
    Restoring {
        held: (u64, u64),
        best: (u64, u64),
        answered: usize,
        expected: usize,
    },
}

impl JoinState {
    /// What an admin (status, `/readyz`, a refused publish) is told; empty when open.
    pub fn describe(&self) -> String {
        match self {
            JoinState::Open => String::new(),
            JoinState::Waiting { answered, expected } => format!(
                "waiting for peers, {answered} of {expected} answered: publishing starts once every \
                 peer has said what it holds of this borough's entries (a peer gone for good: \
                 remove it from the roster); the first borough of a federation starts with \
                 --new-member"
            ),
            JoinState::Restoring {
                held,
                best,
                answered,
                expected,
            } => format!(
                "restoring this borough's own entries from peers: held epoch {} seq {}, a peer \
                 holds epoch {} seq {} ({answered} of {expected} peers answered)",
                held.0, held.1, best.0, best.1
            ),
        }
    }
}

/// The gate's inputs: the peers' answers (keyed by peer URL).
#[derive(Debug, Clone, Default)]
pub struct Join {
    /// The peers whose answers count (the links that run).
    peers: BTreeSet<String>,
    /// Open without asking (no peers, a new key, `--new-member` on an empty origin).
    open_anyway: bool,
    /// Opened once; stays open for the life of the process.
    opened: bool,
    answers: BTreeMap<String, Answer>,
}

impl Join {
    /// A gate for the peers at `peers` (URLs). `open_anyway` opens it at once.
    pub fn new(peers: &[String], open_anyway: bool) -> Join {
        Join {
            peers: peers.iter().cloned().collect(),
            open_anyway: open_anyway || peers.is_empty(),
            opened: false,
            answers: BTreeMap::new(),
        }
    }

    /// The peers asked from now on (a roster reload started or stopped links): a removed
    /// peer's answer no longer counts towards "every peer answered" nor the restore target
    /// (its `used` position still does), a new one is waited for.
    pub fn set_peers(&mut self, peers: &[String]) {
        self.peers = peers.iter().cloned().collect();
    }

    /// Records peer `url`'s answer. A later answer from the same peer (a new stream)
    /// replaces its earlier one.
    pub fn answer(&mut self, url: &str, a: Answer) {
        self.answers.insert(url.to_string(), a);
    }

    /// The answers of the peers asked now.
    fn current(&self) -> impl Iterator<Item = &Answer> {
        self.answers
            .iter()
            .filter(|(url, _)| self.peers.contains(*url))
            .map(|(_, a)| a)
    }

    pub fn is_open(&self) -> bool {
        self.opened || self.open_anyway
    }

    /// `(peers answered, peers expected)`.
    pub fn counts(&self) -> (usize, usize) {
        (self.current().count(), self.peers.len())
    }

    /// The highest checkpoint a peer holds, if any.
    pub fn best(&self) -> Option<(u64, u64)> {
        self.current()
            .filter_map(|a| match a {
                Answer::Holds(e, s) => Some((*e, *s)),
                Answer::Nothing | Answer::Used(..) => None,
            })
            .max()
    }

    /// The highest position any peer ever answered was signed with one of this node's keys,
    /// counted or not: publishing must never resume at or below it in its epoch.
    pub fn used(&self) -> Option<(u64, u64)> {
        self.answers
            .values()
            .filter_map(|a| match a {
                Answer::Holds(e, s) | Answer::Used(e, s) => Some((*e, *s)),
                Answer::Nothing => None,
            })
            .max()
    }

    /// Where the gate stands for a node holding `held` of its own origin.
    pub fn state(&self, held: (u64, u64)) -> JoinState {
        if self.is_open() {
            return JoinState::Open;
        }
        let (answered, expected) = self.counts();
        let all = answered >= expected;
        match self.best() {
            None if all => JoinState::Open,
            None => JoinState::Waiting { answered, expected },
            Some(best) if held < best => JoinState::Restoring {
                held,
                best,
                answered,
                expected,
            },
            // We hold at least what every answer holds: open once more than half have
            // answered (all, with one or two peers).
            Some(_) if all || answered * 2 > expected => JoinState::Open,
            Some(_) => JoinState::Waiting { answered, expected },
        }
    }

    /// Keeps the gate open from now on (called once `state` said `Open` and the caller has
    /// done what opening needs, e.g. starting a new epoch).
    pub fn mark_open(&mut self) {
        self.opened = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(urls: &[&str]) -> Vec<String> {
        urls.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn no_peers_or_override_is_open_at_once() {
        assert_eq!(Join::new(&[], false).state((0, 0)), JoinState::Open);
        assert_eq!(
            Join::new(&peers(&["b", "c"]), true).state((0, 0)),
            JoinState::Open
        );
    }

    #[test]
    fn waits_until_every_peer_says_it_holds_nothing() {
        let mut j = Join::new(&peers(&["b", "c"]), false);
        assert_eq!(
            j.state((0, 0)),
            JoinState::Waiting {
                answered: 0,
                expected: 2
            }
        );
        j.answer("b", Answer::Nothing);
        // One empty answer ends nothing: the other peer may hold the origin.
        assert_eq!(
            j.state((0, 0)),
            JoinState::Waiting {
                answered: 1,
                expected: 2
            }
        );
        j.answer("b", Answer::Nothing);
        assert!(!j.is_open(), "the same peer twice is still one answer");
        j.answer("c", Answer::Nothing);
        assert_eq!(j.state((0, 0)), JoinState::Open);
        assert!(!j.is_open(), "open only once marked");
        j.mark_open();
        j.answer("c", Answer::Holds(1, 9));
        assert_eq!(j.state((0, 0)), JoinState::Open, "stays open");
    }

    #[test]
    fn a_peer_ahead_is_restored_from_before_opening() {
        let mut j = Join::new(&peers(&["b", "c"]), false);
        j.answer("b", Answer::Nothing);
        j.answer("c", Answer::Holds(1, 334));
        assert!(matches!(j.state((1, 233)), JoinState::Restoring { .. }));
        assert!(j.state((1, 233)).describe().contains("seq 334"));
        assert_eq!(j.state((1, 334)), JoinState::Open);
    }

    #[test]
    fn one_peer_holding_our_position_is_not_enough_while_others_are_unheard() {
        // A restored copy at (1,233); b lags at exactly that position (or replays our old
        // checkpoint); c, not heard yet, holds (1,500). Opening on b alone would sign (1,234)
        // again.
        let mut j = Join::new(&peers(&["b", "c", "d"]), false);
        j.answer("b", Answer::Holds(1, 233));
        assert!(matches!(j.state((1, 233)), JoinState::Waiting { .. }));
        j.answer("c", Answer::Holds(1, 500));
        assert!(matches!(j.state((1, 233)), JoinState::Restoring { .. }));
        // Two of three have answered and we hold what they hold: a majority, open.
        assert_eq!(j.state((1, 500)), JoinState::Open);
    }

    #[test]
    fn a_majority_that_holds_no_more_opens_the_gate() {
        let mut j = Join::new(&peers(&["b", "c", "d", "e"]), false);
        j.answer("b", Answer::Holds(1, 500));
        j.answer("c", Answer::Holds(1, 500));
        assert!(
            matches!(j.state((1, 500)), JoinState::Waiting { .. }),
            "2 of 4"
        );
        j.answer("d", Answer::Nothing);
        assert_eq!(j.state((1, 500)), JoinState::Open, "3 of 4");
    }

    #[test]
    fn a_lagging_peer_alone_does_not_open_the_gate() {
        let mut j = Join::new(&peers(&["b", "c"]), false);
        j.answer("b", Answer::Holds(1, 200));
        assert!(matches!(j.state((1, 233)), JoinState::Waiting { .. }));
        // Every peer behind us: nobody holds more, open.
        j.answer("c", Answer::Holds(1, 100));
        assert_eq!(j.state((1, 233)), JoinState::Open);
    }

    #[test]
    fn a_later_epoch_counts_as_ahead() {
        let mut j = Join::new(&peers(&["b"]), false);
        j.answer("b", Answer::Holds(2, 1));
        assert!(matches!(j.state((1, 900)), JoinState::Restoring { .. }));
    }

    #[test]
    fn a_revoked_keys_position_opens_like_nothing_but_is_remembered_as_used() {
        let mut j = Join::new(&peers(&["b", "c"]), false);
        j.answer("b", Answer::Used(1, 900));
        assert!(matches!(j.state((1, 233)), JoinState::Waiting { .. }));
        j.answer("c", Answer::Holds(1, 233));
        assert_eq!(j.state((1, 233)), JoinState::Open);
        assert_eq!(j.best(), Some((1, 233)));
        assert_eq!(j.used(), Some((1, 900)), "the caller moves past it");
    }

    #[test]
    fn the_peers_asked_follow_the_links() {
        let mut j = Join::new(&peers(&["b", "c"]), false);
        j.answer("b", Answer::Nothing);
        // c leaves the roster before answering: b's answer is then every answer.
        j.set_peers(&peers(&["b"]));
        assert_eq!(j.counts(), (1, 1));
        assert_eq!(j.state((0, 0)), JoinState::Open);
        // d joins: it is waited for; a removed peer's answer never stands in for it.
        j.answer("c", Answer::Holds(1, 5));
        j.set_peers(&peers(&["b", "d"]));
        assert_eq!(j.counts(), (1, 2));
        assert_eq!(j.best(), None);
        assert_eq!(j.used(), Some((1, 5)));
        // A link restarted by a reload answers again: replaced, not counted twice.
        j.answer("b", Answer::Nothing);
        assert_eq!(j.counts(), (1, 2));
    }
}
