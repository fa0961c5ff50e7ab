//! The generator: deterministic, valid, realistic in shape, and round-trippable through both
//! offer-file formats.

use prospectus_dataset::{
    BASE_DATE, Bundle, GenerateError, generate, read_csv, read_json, write_csv, write_json,
};
use prospectus_model::{Category, Condition, DeliveryMode, Level, Start, validate_record};
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn same_seed_same_bytes_different_seed_differs() {
    let a = write_json(&generate(7, 500, None).unwrap());
    let b = write_json(&generate(7, 500, None).unwrap());
    assert_eq!(a, b);
    let c = write_json(&generate(8, 500, None).unwrap());
    assert_ne!(a, c);
    let d = write_json(&generate(7, 500, Some("E09000028")).unwrap());
    assert_ne!(a, d);
    assert_eq!(d, write_json(&generate(7, 500, Some("southwark")).unwrap()));
}

#[test]
fn every_record_is_valid() {
    for seed in 1..=5 {
        let bundle = generate(seed, 2000, None).unwrap();
        assert_eq!(bundle.courses.len(), 2000);
        for r in bundle.clone().into_records() {
            if let Err(e) = validate_record(&r) {
                panic!("seed {seed}: {} {}: {e}", r.kind(), r.id());
            }
        }
        bundle.validate().unwrap();
    }
}

#[test]
fn references_resolve_and_ids_are_unique() {
    let b = generate(3, 3000, None).unwrap();
    let providers: BTreeSet<_> = b.providers.iter().map(|p| p.id).collect();
    let venues: BTreeMap<_, _> = b.venues.iter().map(|v| (v.id, v)).collect();
    assert_eq!(providers.len(), b.providers.len());
    assert_eq!(venues.len(), b.venues.len());
    let mut ids = BTreeSet::new();
    for v in &b.venues {
        assert!(providers.contains(&v.provider_id));
    }
    for c in &b.courses {
        assert!(ids.insert(c.id), "duplicate course id");
        assert!(providers.contains(&c.provider_id));
        for r in &c.runs {
            assert!(ids.insert(r.id), "duplicate run id");
            let v = venues[&r.venue_id];
            assert_eq!(
                v.provider_id, c.provider_id,
                "run at another provider's venue"
            );
            assert_eq!(v.is_virtual(), c.delivery == DeliveryMode::Online);
        }
    }
}

#[test]
fn the_data_has_london_shape() {
    let b = generate(11, 20_000, None).unwrap();
    let n = b.courses.len() as f64;
    let share = |f: &dyn Fn(&prospectus_model::Course) -> bool| {
        b.courses.iter().filter(|c| f(c)).count() as f64 / n
    };
    let near = |x: f64, want: f64, tol: f64, what: &str| {
        assert!(
            (x - want).abs() <= tol,
            "{what}: {x:.3}, expected about {want}"
        );
    };

    // Every borough has its council adult learning service and physical venues in it.
    for borough in prospectus_geo::boroughs() {
        let name = format!("{} Adult Learning", borough.name);
        assert!(b.providers.iter().any(|p| p.name == name), "{name}");
    }
    for v in b.venues.iter().filter(|v| !v.is_virtual()) {
        let a = v.address.as_ref().unwrap();
        let out = prospectus_geo::outward_code(&a.postcode).unwrap();
        assert!(
            prospectus_geo::borough_of_outcode(&out).is_some(),
            "{}",
            a.postcode
        );
        let c = prospectus_geo::outcode_centroid(&out).unwrap();
        let l = v.location.unwrap();
        assert!((l.lat - c.lat).abs() <= 0.0101 && (l.lon - c.lon).abs() <= 0.0101);
    }
    let virtual_venues = b.venues.iter().filter(|v| v.is_virtual()).count();
    assert_eq!(
        virtual_venues,
        b.providers.len(),
        "one virtual venue per provider"
    );
    let step_free = b
        .venues
        .iter()
        .filter(|v| v.accessibility.step_free)
        .count();
    assert!(step_free > 0 && step_free < b.venues.len());

    near(share(&|c| c.fees.full_fee_pence == 0), 0.4, 0.03, "free");
    near(
        share(&|c| c.delivery == DeliveryMode::Blended),
        0.10,
        0.03,
        "blended",
    );
    near(
        share(&|c| c.delivery == DeliveryMode::Classroom),
        0.70,
        0.04,
        "classroom",
    );
    near(
        share(&|c| c.delivery == DeliveryMode::Online),
        0.20,
        0.04,
        "online",
    );
    let mh_cats = [
        Category::WellbeingMentalHealth,
        Category::ArtsCrafts,
        Category::Gardening,
    ];
    let in_mh_cats: Vec<_> = b
        .courses
        .iter()
        .filter(|c| mh_cats.contains(&c.categories[0]))
        .collect();
    let mh = in_mh_cats.iter().filter(|c| c.mental_health_focus).count() as f64;
    near(
        mh / in_mh_cats.len() as f64,
        0.30,
        0.06,
        "mental-health focus in wellbeing/arts/gardening",
    );

    let runs: Vec<_> = b.courses.iter().flat_map(|c| &c.runs).collect();
    let rn = runs.len() as f64;
    let rshare = |f: &dyn Fn(&&prospectus_model::Run) -> bool| {
        runs.iter().filter(|r| f(r)).count() as f64 / rn
    };
    near(
        rshare(&|r| r.start == Start::Rolling),
        0.22,
        0.06,
        "rolling",
    );
    near(rshare(&|r| r.is_full()), 0.10, 0.03, "full");
    near(
        rshare(&|r| r.places_left.is_none()),
        0.15,
        0.03,
        "untracked places",
    );
    assert!(
        runs.iter()
            .filter(|r| r.is_full())
            .all(|r| r.waiting_weeks.is_some())
    );
    for r in &runs {
        if let Start::On(d) = r.start {
            assert!(
                d >= BASE_DATE && d <= BASE_DATE + chrono::Days::new(190),
                "{d}"
            );
        }
        if let Some(w) = r.weeks {
            assert!((1..=36).contains(&w));
        }
    }
    for c in &b.courses {
        assert!(c.last_verified < BASE_DATE);
        assert!(c.last_verified >= BASE_DATE - chrono::Days::new(400));
        if c.categories[0] == Category::Esol {
            assert!(c.level <= Level::L2, "{}", c.title);
        }
    }

    // Titles vary.
    let titles: BTreeSet<_> = b.courses.iter().map(|c| c.title.as_str()).collect();
    assert!(titles.len() > 1500, "only {} distinct titles", titles.len());
    // Eligibility: mostly London residents, a few borough-funded.
    near(
        share(&|c| {
            c.eligibility
                .iter()
                .any(|r| r.condition == Condition::ResidentInLondon)
        }),
        0.75,
        0.08,
        "London residents",
    );
    assert!(b.courses.iter().any(|c| {
        c.eligibility
            .iter()
            .any(|r| matches!(r.condition, Condition::ResidentInBorough { .. }))
    }));
    assert!(
        b.courses
            .iter()
            .any(|c| c.fees.concessions.iter().any(|k| k.template.is_none()))
    );
}

#[test]
fn one_borough_only() {
    let b = generate(1, 300, Some("E09000028")).unwrap();
    assert!(
        b.providers
            .iter()
            .any(|p| p.name == "Southwark Adult Learning")
    );
    for v in b.venues.iter().filter(|v| !v.is_virtual()) {
        let out = prospectus_geo::outward_code(&v.address.as_ref().unwrap().postcode).unwrap();
        assert_eq!(
            prospectus_geo::borough_of_outcode(&out).unwrap().gss_code,
            "E09000028"
        );
    }
    assert_eq!(
        generate(1, 10, Some("Atlantis")),
        Err(GenerateError::UnknownBorough("Atlantis".into()))
    );
}

#[test]
fn zero_courses_still_lists_providers_and_venues() {
    let b = generate(1, 0, None).unwrap();
    assert!(b.courses.is_empty());
    assert!(b.providers.len() >= 33 * 5);
    assert!(b.venues.len() > b.providers.len());
}

#[test]
fn json_round_trip() {
    let b = generate(5, 1500, None).unwrap();
    let text = write_json(&b);
    let back: Bundle = read_json(&text).unwrap();
    assert_eq!(back, b);
    assert_eq!(write_json(&back), text);
}

#[test]
fn csv_round_trip() {
    for seed in 1..=3 {
        let b = generate(seed, 2000, None).unwrap();
        let text = write_csv(&b.courses).unwrap();
        let back = read_csv(&text).unwrap();
        assert_eq!(back.courses, b.courses, "seed {seed}");
        back.validate(prospectus_dataset::BASE_DATE).unwrap();
        assert_eq!(write_csv(&back.courses).unwrap(), text);
        let rows: usize = b.courses.iter().map(|c| c.runs.len()).sum();
        assert_eq!(text.lines().count(), rows + 1);
    }
}

#[test]
fn two_boroughs_with_one_seed_share_no_id() {
    let ids = |b: &Bundle| -> BTreeSet<uuid::Uuid> {
        b.providers
            .iter()
            .map(|p| p.id)
            .chain(b.venues.iter().map(|v| v.id))
            .chain(
                b.courses
                    .iter()
                    .flat_map(|c| std::iter::once(c.id).chain(c.runs.iter().map(|r| r.id))),
            )
            .collect()
    };
    let southwark = ids(&generate(1, 200, Some("E09000028")).unwrap());
    let lambeth = ids(&generate(1, 200, Some("E09000022")).unwrap());
    assert!(!southwark.is_empty() && !lambeth.is_empty());
    let shared: Vec<_> = southwark.intersection(&lambeth).collect();
    assert!(shared.is_empty(), "ids in both boroughs: {shared:?}");
}

#[test]
fn providers_and_venues_round_trip_through_their_sheets() {
    use prospectus_dataset::{
        read_providers_csv, read_venues_csv, write_providers_csv, write_venues_csv,
    };
    let b = generate(4, 300, Some("E09000028")).unwrap();
    let providers = read_providers_csv(&write_providers_csv(&b.providers)).unwrap();
    assert_eq!(providers.records, b.providers);
    let venues = read_venues_csv(&write_venues_csv(&b.venues)).unwrap();
    assert_eq!(venues.records, b.venues);
    assert!(b.venues.iter().any(|v| v.is_virtual()) && b.venues.iter().any(|v| !v.is_virtual()));
}
