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
            seq,
            old: None,
            new: Some(r),
        });
        seq += 1;
    }
    seq - 1
}

fn q() -> Query {
    Query {
        limit: 100,
        ..Default::default()
    }
}

#[test]
fn changes_become_searchable_and_dependants_follow_their_venue() {
    let b = prospectus_dataset::generate(3, 300, Some(ORIGIN)).expect("generate");
    let index = Index::empty().expect("index");
    let last = feed(&index, b.clone().into_records(), 1);
    assert!(index.wait_for(ORIGIN, last, WAIT));
    assert_eq!(index.len(), 300);
    assert_eq!(index.heads().get(ORIGIN), Some(&last));
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
    assert!(index.wait_for(ORIGIN, seq, WAIT));
    let after = index.search(&near(0.5)).expect("search");
    assert!(after.total < before.total, "{} !< {}", after.total, before.total);

    // A delete removes the course; its old slot never answers again.
    let gone = b.courses[0].id;
    index.updated(&Update {
        kind: RecordKind::Course,
        id: gone,
        origin: ORIGIN.into(),
        seq: seq + 1,
        old: Some(Record::Course(b.courses[0].clone())),
        new: None,
    });
    assert!(index.wait_for(ORIGIN, seq + 1, WAIT));
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
        ("page_size", Query { limit: 1_000_000, ..q() }),
        ("text", Query { text: "x".repeat(10_000), ..q() }),
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
        ("sort", Query { sort: Sort::Distance, ..q() }),
        ("eligible_only", Query { eligible_only: true, ..q() }),
        ("boroughs[1]", Query { boroughs: vec![ORIGIN.into(), "nowhere".into()], ..q() }),
    ];
    for (field, query) in cases {
        match index.search(&query) {
            Err(prospectus_search::SearchError::BadQuery { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}
