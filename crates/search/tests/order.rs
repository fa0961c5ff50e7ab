//! The index never goes back in time: two updates of one course committed concurrently to a
//! real sled store reach the index's observer hook in whichever order their threads run, and
//! the index must end up serving the newer one.

use prospectus_model::{Record, RecordKind};
use prospectus_search::{Index, Query};
use prospectus_store::{Change, NodeKey, Observer, Scope, Store, Update};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const ORIGIN: &str = "E09000028";
const WAIT: Duration = Duration::from_secs(30);

/// Stands in for a writer thread that is descheduled between its commit and its notify: it
/// holds up the older update of each pair (the first seq after `base`, then every other one)
/// for a while, inside the observer chain.
struct Preempted {
    base: AtomicU64,
}

impl Observer for Preempted {
    fn updated(&self, u: &Update) {
        let base = self.base.load(Ordering::SeqCst);
        if u.kind == RecordKind::Course && u.seq > base && (u.seq - base) % 2 == 1 {
            std::thread::sleep(Duration::from_millis(40));
        }
    }
}

/// Publishes `records` as one batch; the batch's last seq.
fn publish_all(store: &Store, records: Vec<Record>) -> u64 {
    let setup: Vec<Change> = records.into_iter().map(Change::Upsert).collect();
    store
        .publish(&Scope::Admin, None, &setup[..])
        .expect("setup")
        .last_seq
}

fn served_title(index: &Index) -> String {
    let page = index
        .search(&Query {
            limit: 10,
            ..Default::default()
        })
        .expect("search");
    assert_eq!(page.hits.len(), 1);
    page.hits[0].entry.course.title.clone()
}

#[test]
fn two_concurrent_updates_of_one_course_never_leave_the_older_one_served() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(tmp.path(), ORIGIN, NodeKey::generate()).expect("store"));
    let preempted = Arc::new(Preempted {
        base: AtomicU64::new(u64::MAX),
    });
    store.add_observer(preempted.clone());
    let index = Index::open(&store).expect("index");
    let b = prospectus_dataset::generate(5, 1, Some(ORIGIN)).expect("generate");
    let course = b.courses[0].clone();
    let base = publish_all(&store, b.clone().into_records());
    preempted.base.store(base, Ordering::SeqCst);

    let mut wrong = Vec::new();
    for round in 0..50 {
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|side| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let mut c = course.clone();
                c.title = format!("round {round} {side}");
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .publish(&Scope::Admin, None, &[Change::Upsert(Record::Course(c))])
                        .expect("publish")
                })
            })
            .collect();
        let receipts: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("join"))
            .collect();
        let last = receipts.iter().map(|r| r.last_seq).max().expect("two");
        assert!(index.wait_for(ORIGIN, 1, last, WAIT));
        let held = store.get_live(RecordKind::Course, course.id).expect("get");
        let Some(Record::Course(newest)) = held.and_then(|s| s.record) else {
            panic!("course gone");
        };
        let served = served_title(&index);
        if served != newest.title {
            wrong.push(format!(
                "{round}: serves {served:?}, store holds {:?}",
                newest.title
            ));
        }
    }
    assert!(wrong.is_empty(), "index went back in time: {wrong:#?}");
}

#[test]
fn an_older_update_arriving_late_never_replaces_a_newer_one() {
    let b = prospectus_dataset::generate(6, 1, Some(ORIGIN)).expect("generate");
    let index = Index::empty().expect("index");
    let mut seq = 0;
    for r in b.clone().into_records() {
        seq += 1;
        index.updated(&Update {
            kind: r.kind(),
            id: r.id(),
            origin: ORIGIN.into(),
            epoch: 1,
            seq,
            feed_seq: seq,
            unix_millis: 0,
            new: Some(r),
        });
    }
    let mut newer = b.courses[0].clone();
    newer.title = "newer".into();
    let mut older = b.courses[0].clone();
    older.title = "older".into();
    for (s, c) in [(seq + 2, newer), (seq + 1, older)] {
        index.updated(&Update {
            kind: RecordKind::Course,
            id: c.id,
            origin: ORIGIN.into(),
            epoch: 1,
            seq: s,
            feed_seq: s,
            unix_millis: 0,
            new: Some(Record::Course(c)),
        });
    }
    assert!(index.wait_for(ORIGIN, 1, seq + 2, WAIT));
    assert_eq!(served_title(&index), "newer");
}

/// A rebuild into an empty index queues no deletes (its ids can have no doc yet); a course
/// changed after such a rebuild must still replace its doc, not add a second one.
#[test]
fn a_course_changed_after_a_rebuild_is_served_once_at_its_new_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(tmp.path(), ORIGIN, NodeKey::generate()).expect("store"));
    let b = prospectus_dataset::generate(7, 20, Some(ORIGIN)).expect("generate");
    publish_all(&store, b.clone().into_records());
    let index = Index::open(&store).expect("index");
    let all = |index: &Index| {
        index
            .search(&Query {
                limit: 100,
                ..Default::default()
            })
            .expect("search")
    };
    assert_eq!(all(&index).total, 20);
    for round in 0..3 {
        let mut c = b.courses[round].clone();
        c.title = format!("changed in round {round}");
        let r = store
            .publish(
                &Scope::Admin,
                None,
                &[Change::Upsert(Record::Course(c.clone()))],
            )
            .expect("publish");
        assert!(index.wait_for(ORIGIN, 1, r.last_seq, WAIT));
        let page = all(&index);
        let of_c: Vec<_> = page
            .hits
            .iter()
            .filter(|h| h.entry.course.id == c.id)
            .map(|h| h.entry.course.title.clone())
            .collect();
        assert_eq!(page.total, 20, "round {round}: {} hits", page.total);
        assert_eq!(of_c, vec![c.title.clone()], "round {round}");
    }
}
