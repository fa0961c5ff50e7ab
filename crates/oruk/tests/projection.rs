//! The projection on hand-made records: ids stable and derived, nothing null, the edge cases
//! of runs (rolling, self-paced) and venues (virtual, physical) mapped as docs/oruk-mapping.md says.

use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{
    Accessibility, Address, Concession, Condition, Course, DeliveryMode, Document, Fees, LatLon,
    Level, Provider, Requirement, Run, Start, Venue, Weekday,
};
use prospectus_oruk::{self as oruk, Detail, Meta, Records, derived_id};
use serde_json::Value;
use uuid::Uuid;

struct Recs(Provider, Vec<Venue>);

impl Records for Recs {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        (self.0.id == id).then(|| self.0.clone())
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.1.iter().find(|v| v.id == id).cloned()
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn fixture() -> (Course, Recs) {
    let provider = Provider {
        id: id(1),
        name: "Peckham Community Learning".into(),
        ukprn: Some("10012345".into()),
        charity_number: None,
        description: None,
        email: None,
        phone: Some("020 7000 0000".into()),
        website: None,
        last_verified: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
    };
    let hall = Venue {
        id: id(2),
        provider_id: id(1),
        name: "Peckham Library".into(),
        address: Some(Address {
            lines: vec!["122 Peckham Hill Street".into(), "Second floor".into()],
            town: "London".into(),
            postcode: "SE15 5JR".into(),
        }),
        location: Some(LatLon {
            lat: 51.4735,
            lon: -0.0692,
        }),
        accessibility: Accessibility {
            step_free: true,
            hearing_loop: true,
            ..Default::default()
        },
        virtual_url: None,
    };
    let online = Venue {
        id: id(3),
        provider_id: id(1),
        name: "Online classroom".into(),
        address: None,
        location: None,
        accessibility: Accessibility::default(),
        virtual_url: Some("https://learn.example.org/room".into()),
    };
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let course = Course {
        id: id(10),
        provider_id: id(1),
        title: "Digital skills for beginners".into(),
        description: "Email, video calls and staying safe online.".into(),
        categories: vec![prospectus_model::Category::Digital],
        level: Level::Entry,
        delivery: DeliveryMode::Blended,
        mental_health_focus: true,
        support: vec![prospectus_model::Support::QuietSpace],
        language: "en".into(),
        runs: vec![
            Run {
                id: id(20),
                venue_id: id(2),
                start: Start::On(NaiveDate::from_ymd_opt(2027, 1, 11).unwrap()),
                days: vec![Weekday::Mon, Weekday::Wed],
                start_time: t(18),
                end_time: t(20),
                weeks: Some(10),
                places_left: Some(0),
                waiting_weeks: Some(3),
            },
            Run {
                id: id(21),
                venue_id: id(3),
                start: Start::Rolling,
                days: vec![],
                start_time: t(9),
                end_time: t(17),
                weeks: None,
                places_left: None,
                waiting_weeks: None,
            },
        ],
        fees: Fees {
            full_fee_pence: 12_050,
            concessions: vec![Concession {
                name: "Benefits".into(),
                template: None,
                conditions: vec![Condition::MeansTestedBenefits],
                fee_pence: 0,
                documents: vec![Document::ProofOfBenefits, Document::ProofOfIdentityAndAge],
            }],
        },
        eligibility: vec![
            Requirement {
                condition: Condition::Age {
                    min: Some(19),
                    max: None,
                },
                documents: vec![Document::ProofOfIdentityAndAge],
            },
            Requirement {
                condition: Condition::Age {
                    min: Some(16),
                    max: Some(64),
                },
                documents: vec![],
            },
        ],
        url: None,
        contact_email: Some("digital@example.org".into()),
        last_verified: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        funding_rules: None,
    };
    (course, Recs(provider, vec![hall, online]))
}

fn meta() -> Meta {
    Meta {
        origin: "E09000028".into(),
        modified_millis: 1_790_000_000_000,
        default_rules: prospectus_model::RuleSetId::Gla2026_27,
    }
}

fn assert_no_null(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("null at {path}"),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| assert_no_null(x, &format!("{path}[{i}]"))),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| assert_no_null(x, &format!("{path}.{k}"))),
        _ => {}
    }
}

#[test]
fn a_full_service_is_nested_stable_and_has_no_nulls() {
    let (c, recs) = fixture();
    let v = oruk::service(&c, &meta(), &recs, Detail::Full);
    assert_no_null(&v, "service");
    assert_eq!(v, oruk::service(&c, &meta(), &recs, Detail::Full));
    assert_eq!(v["id"], id(10).to_string());
    assert_eq!(v["minimum_age"], 19);
    assert_eq!(v["maximum_age"], 64);
    assert_eq!(v["last_modified"], "2026-09-21T14:13:20Z");
    assert_eq!(
        v["organization"]["description"],
        "Peckham Community Learning"
    );
    assert_eq!(
        v["organization"]["organization_identifiers"][0]["identifier_scheme"],
        "GB-UKPRN"
    );
    assert!(v.get("accreditations").is_some());
    assert_eq!(v["service_areas"][0]["name"], "Southwark");

    let sals = v["service_at_locations"].as_array().unwrap();
    let hall = &sals[0]["location"];
    assert_eq!(hall["location_type"], "physical");
    assert_eq!(hall["addresses"][0]["address_1"], "122 Peckham Hill Street");
    assert_eq!(hall["addresses"][0]["address_2"], "Second floor");
    assert_eq!(hall["addresses"][0]["postal_code"], "SE15 5JR");
    assert_eq!(
        hall["addresses"][0]["id"],
        derived_id(id(2), "address").to_string()
    );
    assert_eq!(hall["accessibility"].as_array().unwrap().len(), 2);
    let online = &sals[1]["location"];
    assert_eq!(online["location_type"], "virtual");
    assert!(online.get("addresses").is_none());

    let s = &v["schedules"];
    assert_eq!(s[0]["id"], derived_id(id(20), "schedule").to_string());
    assert_eq!(s[0]["byday"], "MO,WE");
    assert_eq!(s[0]["valid_from"], "2027-01-11");
    assert_eq!(s[0]["valid_to"], "2027-03-21");
    assert_eq!(s[0]["attending_type"], "in_person");
    assert_eq!(s[0]["notes"], "Full; typical wait 3 weeks");
    assert!(
        s[1].get("valid_from").is_none(),
        "rolling start has no date"
    );
    assert!(s[1].get("byday").is_none(), "self-paced has no days");
    assert_eq!(s[1]["attending_type"], "online");

    let costs = v["cost_options"].as_array().unwrap();
    assert_eq!(costs.len(), 2);
    assert_eq!(costs[0]["amount"], 120.5);
    assert_eq!(costs[1]["amount"], 0.0);
    let docs = v["required_documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2, "documents once each");

    let terms: Vec<&str> = v["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["taxonomy_term"]["term"].as_str().unwrap())
        .collect();
    assert_eq!(
        terms,
        [
            "digital",
            "entry",
            "blended",
            "evening",
            "quiet-space",
            "mental-health"
        ]
    );
}

#[test]
fn minimal_and_summary_forms_carry_only_their_fields() {
    let (c, recs) = fixture();
    let m = oruk::service(&c, &meta(), &recs, Detail::Minimal);
    let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "last_modified", "name", "status"]);
    let s = oruk::service(&c, &meta(), &recs, Detail::Summary);
    assert!(s.get("service_at_locations").is_none());
    assert!(s.get("organization").is_some());
    assert!(s["organization"].get("organization_identifiers").is_none());
}

#[test]
fn terms_and_taxonomies_are_found_by_their_ids() {
    for t in oruk::TAXONOMIES {
        assert_eq!(oruk::taxonomy_by_id(t.id()), Some(t));
        let j = t.to_json(true);
        assert_eq!(
            j["taxonomy_terms"].as_array().unwrap().len(),
            t.terms().len()
        );
    }
    assert_eq!(oruk::taxonomy_by_id(Uuid::nil()), None);
    assert_eq!(oruk::term_by_id(Uuid::nil()), None);
}
