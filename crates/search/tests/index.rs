//! The index fed through its observer hook, without a store or a node: the writer applies
//! batches in the background, `wait_for` sees them, and a venue or provider change re-indexes
//! the courses that use it.

use prospectus_model::{Record, RecordKind, Uuid};
use prospectus_search::{Index, Near, Query, Sort};
use prospectus_store::{Observer, Update};
use std::time::Duration;

const ORIGIN: &str = "E09000028";
const WAIT: Duration = Duration::from_secs(30);

fn feed(index: &Index, records: Vec<Record>, first_seq: u64) -> u64 {
    let mut seq = first_seq;
    for r in records {
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
        seq += 1;
    }
    seq - 1
}

/// Questions are asked on 31 August 2026 under the GLA 2026-27 rules.
fn ctx() -> prospectus_model::Context {
    prospectus_model::Context {
        today: chrono::NaiveDate::from_ymd_opt(2026, 8, 31).expect("date"),
        default_rules: Some(prospectus_model::RuleSetId::Gla2026_27),
    }
}

fn q() -> Query {
    Query {
        limit: 100,
        funding: ctx(),
        ..Default::default()
    }
}

#[test]
fn changes_become_searchable_and_dependants_follow_their_venue() {
    let b = prospectus_dataset::generate(3, 300, Some(ORIGIN)).expect("generate");
    let index = Index::empty().expect("index");
    let last = feed(&index, b.clone().into_records(), 1);
    assert!(index.wait_for(ORIGIN, 1, last, WAIT));
    assert_eq!(index.len(), 300);
    assert_eq!(index.heads().get(ORIGIN), Some(&(1, last)));
    assert_eq!(index.search(&q()).expect("search").total, 300);

    // Move one physical venue far away: its courses leave a 2 km radius around Peckham.
    let venue = b
        .venues
        .iter()
        .find(|v| v.location.is_some())
        .expect("a physical venue")
        .clone();
    let loc = venue.location.expect("location");
    let near = |radius| Query {
        near: Some(Near::Point(loc)),
        radius_km: Some(radius),
        exclude_online: true,
        sort: Sort::Distance,
        ..q()
    };
    let before = index.search(&near(0.5)).expect("search");
    assert!(before.total > 0);
    let mut moved = venue.clone();
    moved.location = Some(prospectus_model::LatLon {
        lat: loc.lat + 1.0,
        lon: loc.lon,
    });
    let seq = feed(&index, vec![Record::Venue(moved)], last + 1);
    assert!(index.wait_for(ORIGIN, 1, seq, WAIT));
    let after = index.search(&near(0.5)).expect("search");
    assert!(
        after.total < before.total,
        "{} !< {}",
        after.total,
        before.total
    );

    // A delete removes the course; its old slot never answers again.
    let gone = b.courses[0].id;
    index.updated(&Update {
        kind: RecordKind::Course,
        id: gone,
        origin: ORIGIN.into(),
        seq: seq + 1,
        epoch: 1,
        feed_seq: seq + 1,
        unix_millis: 0,
        new: None,
    });
    assert!(index.wait_for(ORIGIN, 1, seq + 1, WAIT));
    let all = index.search(&q()).expect("search");
    assert_eq!(all.total, 299);
    let mut cursor = None;
    let mut ids: Vec<Uuid> = Vec::new();
    loop {
        let p = index
            .search(&Query {
                after: cursor,
                limit: 37,
                sort: Sort::StartDate,
                ..q()
            })
            .expect("page");
        ids.extend(p.hits.iter().map(|h| h.entry.course.id));
        match p.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 299);
    assert!(!ids.contains(&gone));
}

#[test]
fn bad_queries_name_the_field() {
    let index = Index::empty().expect("index");
    let cases = [
        ("page_size", Query { limit: 0, ..q() }),
        (
            "page_size",
            Query {
                limit: 1_000_000,
                ..q()
            },
        ),
        (
            "text",
            Query {
                text: "x".repeat(10_000),
                ..q()
            },
        ),
        (
            "radius_km",
            Query {
                near: Some(Near::Postcode("SE15".into())),
                radius_km: Some(-1.0),
                ..q()
            },
        ),
        (
            "postcode",
            Query {
                near: Some(Near::Postcode("ZZ99".into())),
                ..q()
            },
        ),
        (
            "sort",
            Query {
                sort: Sort::Distance,
                ..q()
            },
        ),
        (
            "eligible_only",
            Query {
                eligible_only: true,
                ..q()
            },
        ),
        (
            "boroughs[1]",
            Query {
                boroughs: vec![ORIGIN.into(), "nowhere".into()],
                ..q()
            },
        ),
    ];
    for (field, query) in cases {
        match index.search(&query) {
            Err(prospectus_search::SearchError::BadQuery { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn learner_filters_agree_with_the_evaluator_on_every_course() {
    use prospectus_model::{Employment, LearnerProfile, Level, evaluate};
    let b = prospectus_dataset::generate(11, 1500, None).expect("generate");
    let index = Index::empty().expect("index");
    let last = feed(&index, b.clone().into_records(), 1);
    assert!(index.wait_for(ORIGIN, 1, last, WAIT));
    let learners = [
        LearnerProfile {
            age: Some(30),
            borough: Some(ORIGIN.into()),
            employment: Some(Employment::Unemployed),
            ..Default::default()
        },
        LearnerProfile {
            age: Some(52),
            borough: Some("E09000025".into()),
            employment: Some(Employment::NotLooking),
            means_tested_benefits: Some(true),
            ..Default::default()
        },
        LearnerProfile {
            age: Some(20),
            borough: Some("E07000001".into()),
            highest_qualification: Some(Level::NonAccredited),
            employment: Some(Employment::Employed),
            annual_gross_earnings_pence: Some(1_500_000),
            ..Default::default()
        },
        LearnerProfile::default(),
    ];
    for l in learners {
        let evals: Vec<_> = b.courses.iter().map(|c| evaluate(c, &l, &ctx())).collect();
        for max in [0u32, 5_000, 20_000] {
            let want = evals
                .iter()
                .filter(|e| e.eligible() && e.fee_pence.is_some_and(|f| f <= max))
                .count();
            let got = index
                .search(&Query {
                    learner: Some(l.clone()),
                    eligible_only: true,
                    max_fee_pence: Some(max),
                    ..q()
                })
                .expect("search");
            assert_eq!(got.total, want, "max fee {max}");
            for h in &got.hits {
                let ev = h.evaluation.as_ref().expect("evaluation");
                assert!(ev.eligible() && ev.fee_pence.is_some_and(|f| f <= max));
                assert_eq!(h.fee_pence, ev.fee_pence);
            }
        }
        let cheapest = index
            .search(&Query {
                learner: Some(l.clone()),
                sort: Sort::Fee,
                ..q()
            })
            .expect("search");
        // Sorted by the cheapest route's fee (eligibility aside); a hit shows a fee only
        // when the learner is eligible.
        let route = |c: &prospectus_model::Course| {
            let mut open = c.clone();
            open.eligibility.clear();
            evaluate(&open, &l, &ctx()).fee_pence.expect("open course")
        };
        let mut fees: Vec<u32> = b.courses.iter().map(route).collect();
        fees.sort();
        let got: Vec<u32> = cheapest
            .hits
            .iter()
            .map(|h| route(&h.entry.course))
            .collect();
        assert_eq!(got, fees[..got.len()].to_vec());
        for h in &cheapest.hits {
            let ev = h.evaluation.as_ref().expect("evaluation");
            assert_eq!(h.fee_pence, ev.fee_pence);
            assert_eq!(h.fee_pence.is_some(), ev.eligible());
        }
    }
}

/// A steady stream of changes nobody waits for is committed about once per refresh interval,
/// not once per change (a receiving node paid tantivy's fixed per-commit cost for every
/// change of every other borough); a caller of `wait_for` is not held back by the interval.
#[test]
fn a_stream_of_changes_is_committed_once_per_refresh_and_a_waiter_is_not_held() {
    let b = prospectus_dataset::generate(5, 40, Some(ORIGIN)).expect("generate");
    let index = Index::empty().expect("index");
    let mut seq = feed(&index, b.clone().into_records(), 1);
    assert!(index.wait_for(ORIGIN, 1, seq, WAIT));
    let before = index.commits();
    // 20 changes 20 ms apart: each arrives after the writer has long finished the one
    // before (a commit of one course here takes a few ms), well within one refresh.
    for k in 0..20 {
        let mut c = b.courses[k % b.courses.len()].clone();
        c.title = format!("{} (change {k})", c.title);
        seq = feed(&index, vec![Record::Course(c)], seq + 1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = std::time::Instant::now() + WAIT;
    while index.heads().get(ORIGIN) != Some(&(1, seq)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never became visible"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let commits = index.commits() - before;
    assert!(commits <= 3, "{commits} commits for 20 changes in ~0.4 s");

    // Just after a commit, a change someone waits for is committed at once, not at the end
    // of the refresh interval (1 s).
    let mut c = b.courses[0].clone();
    c.title = "Waited for".into();
    seq = feed(&index, vec![Record::Course(c)], seq + 1);
    let started = std::time::Instant::now();
    assert!(index.wait_for(ORIGIN, 1, seq, WAIT));
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(700), "waited {waited:?}");
}
