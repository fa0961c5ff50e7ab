//! Property tests for the evaluator, validation and serde, over generated courses and learners.
//!
//! Courses are "valid-ish": they draw from every `Condition` variant and from fees that may be
//! misconfigured (a concession above the full fee, empty condition lists), because the evaluator
//! promises an answer for any course, valid or not.

use chrono::{NaiveDate, NaiveTime};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use prospectus_model::{
    Address, Category, Concession, Condition, Course, DeliveryMode, Document, Employment, Fees,
    LOW_WAGE_THRESHOLD_PENCE, LatLon, LearnerProfile, Level, Record, Requirement, Residency, Run,
    Start, Support, Template, UnmetReason, Uuid, Venue, Weekday, evaluate, is_valid_postcode,
    validate_record,
};

// ---------------------------------------------------------------- strategies

/// Borough codes, including case and whitespace variants and non-London codes.
fn arb_borough() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "E09000028",
            "e09000028",
            " E09000028 ",
            "E09000022",
            "E09000001",
            "E08000003",
            "W06000015",
            "",
        ])
        .prop_map(String::from),
        "E09[0-9]{6}",
        ".{0,10}",
    ]
}

fn arb_pence() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(LOW_WAGE_THRESHOLD_PENCE),
        Just(LOW_WAGE_THRESHOLD_PENCE - 1),
        0u32..100_000,
        0u32..5_000_000,
        any::<u32>(),
    ]
}

fn arb_age() -> impl Strategy<Value = u8> {
    prop_oneof![16u8..=26, 55u8..=70, any::<u8>()]
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        (option::of(arb_age()), option::of(arb_age()))
            .prop_map(|(min, max)| Condition::Age { min, max }),
        vec(arb_borough(), 0..3).prop_map(|boroughs| Condition::ResidentInBorough { boroughs }),
        Just(Condition::ResidentInLondon),
        vec(select(Residency::ALL), 0..3).prop_map(|any_of| Condition::ResidencyStatus { any_of }),
        Just(Condition::Unemployed),
        Just(Condition::MeansTestedBenefits),
        arb_pence().prop_map(|max_annual_gross_pence| Condition::LowWage {
            max_annual_gross_pence
        }),
        select(Level::ALL).prop_map(|level| Condition::NoQualificationAtOrAbove { level }),
        Just(Condition::ReferredBySocialPrescriber),
        Just(Condition::FirstLanguageNotEnglish),
    ]
}

fn arb_documents() -> impl Strategy<Value = Vec<Document>> {
    vec(select(Document::ALL), 0..4)
}

fn arb_concession() -> impl Strategy<Value = Concession> {
    (
        ".{0,20}",
        option::of(select(Template::ALL)),
        vec(arb_condition(), 0..4),
        arb_pence(),
        arb_documents(),
    )
        .prop_map(
            |(name, template, conditions, fee_pence, documents)| Concession {
                name,
                template,
                conditions,
                fee_pence,
                documents,
            },
        )
}

fn arb_requirement() -> impl Strategy<Value = Requirement> {
    (arb_condition(), arb_documents()).prop_map(|(condition, documents)| Requirement {
        condition,
        documents,
    })
}

fn arb_uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn arb_date() -> impl Strategy<Value = NaiveDate> {
    // 1900-01-01 ..= 2100-12-31 in days from the common era.
    (693_596i32..=766_644).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("in range"))
}

fn arb_time() -> impl Strategy<Value = NaiveTime> {
    (0u32..24, 0u32..60, 0u32..60)
        .prop_map(|(h, m, s)| NaiveTime::from_hms_opt(h, m, s).expect("in range"))
}

fn arb_run() -> impl Strategy<Value = Run> {
    (
        arb_uuid(),
        arb_uuid(),
        prop_oneof![Just(Start::Rolling), arb_date().prop_map(Start::On)],
        vec(select(Weekday::ALL), 0..4),
        arb_time(),
        arb_time(),
        option::of(any::<u16>()),
        option::of(any::<u32>()),
        option::of(any::<u16>()),
    )
        .prop_map(
            |(
                id,
                venue_id,
                start,
                days,
                start_time,
                end_time,
                weeks,
                places_left,
                waiting_weeks,
            )| {
                Run {
                    id,
                    venue_id,
                    start,
                    days,
                    start_time,
                    end_time,
                    weeks,
                    places_left,
                    waiting_weeks,
                }
            },
        )
}

fn arb_fees() -> impl Strategy<Value = Fees> {
    (arb_pence(), vec(arb_concession(), 0..5)).prop_map(|(full_fee_pence, concessions)| Fees {
        full_fee_pence,
        concessions,
    })
}

fn arb_course() -> impl Strategy<Value = Course> {
    let head = (
        arb_uuid(),
        arb_uuid(),
        ".{0,30}",
        ".{0,60}",
        vec(select(Category::ALL), 0..4),
        select(Level::ALL),
        select(DeliveryMode::ALL),
        any::<bool>(),
        vec(select(Support::ALL), 0..3),
        "[a-z]{2,3}|.{0,4}",
    );
    let tail = (
        vec(arb_run(), 0..3),
        arb_fees(),
        vec(arb_requirement(), 0..4),
        option::of(".{0,30}"),
        option::of(".{0,30}"),
        arb_date(),
    );
    (head, tail).prop_map(
        |(
            (
                id,
                provider_id,
                title,
                description,
                categories,
                level,
                delivery,
                mh,
                support,
                language,
            ),
            (runs, fees, eligibility, url, contact_email, last_verified),
        )| Course {
            id,
            provider_id,
            title,
            description,
            categories,
            level,
            delivery,
            mental_health_focus: mh,
            support,
            language,
            runs,
            fees,
            eligibility,
            url,
            contact_email,
            last_verified,
        },
    )
}

fn arb_learner() -> impl Strategy<Value = LearnerProfile> {
    (
        option::of(arb_age()),
        option::of(arb_borough()),
        option::of(select(Residency::ALL)),
        option::of(select(Employment::ALL)),
        option::of(arb_pence()),
        option::of(any::<bool>()),
        option::of(select(Level::ALL)),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(
            |(
                age,
                borough,
                residency,
                employment,
                annual_gross_earnings_pence,
                means_tested_benefits,
                highest_qualification,
                referred_by_social_prescriber,
                first_language_english,
            )| LearnerProfile {
                age,
                borough,
                residency,
                employment,
                annual_gross_earnings_pence,
                means_tested_benefits,
                highest_qualification,
                referred_by_social_prescriber,
                first_language_english,
            },
        )
}

/// `learner` with each field whose mask bit is set forgotten (turned to `None`).
fn forget(learner: &LearnerProfile, mask: [bool; 9]) -> LearnerProfile {
    fn f<T: Clone>(v: &Option<T>, drop: bool) -> Option<T> {
        if drop { None } else { v.clone() }
    }
    LearnerProfile {
        age: f(&learner.age, mask[0]),
        borough: f(&learner.borough, mask[1]),
        residency: f(&learner.residency, mask[2]),
        employment: f(&learner.employment, mask[3]),
        annual_gross_earnings_pence: f(&learner.annual_gross_earnings_pence, mask[4]),
        means_tested_benefits: f(&learner.means_tested_benefits, mask[5]),
        highest_qualification: f(&learner.highest_qualification, mask[6]),
        referred_by_social_prescriber: f(&learner.referred_by_social_prescriber, mask[7]),
        first_language_english: f(&learner.first_language_english, mask[8]),
    }
}

// ---------------------------------------------------------------- oracles

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotStated,
}

/// The evaluator's verdict on one condition, read through the public API: a course whose only
/// eligibility condition is `cond`.
fn verdict(cond: &Condition, learner: &LearnerProfile) -> Verdict {
    let mut probe = base_course();
    probe.eligibility = vec![Requirement {
        condition: cond.clone(),
        documents: vec![],
    }];
    let e = evaluate(&probe, learner);
    match e.unmet.as_slice() {
        [] => Verdict::Met,
        [u] if u.reason == UnmetReason::NotMet => Verdict::NotMet,
        [_] => Verdict::NotStated,
        more => panic!("one condition gave {} unmet entries", more.len()),
    }
}

fn base_course() -> Course {
    Course {
        id: Uuid::from_u128(1),
        provider_id: Uuid::from_u128(2),
        title: "t".into(),
        description: "d".into(),
        categories: vec![Category::Maths],
        level: Level::L1,
        delivery: DeliveryMode::Online,
        mental_health_focus: false,
        support: vec![],
        language: "en".into(),
        runs: vec![],
        fees: Fees {
            full_fee_pence: 0,
            concessions: vec![],
        },
        eligibility: vec![],
        url: None,
        contact_email: None,
        last_verified: NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"),
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) Nobody pays more than the full fee.
    #[test]
    fn fee_never_exceeds_full_fee(course in arb_course(), learner in arb_learner()) {
        let e = evaluate(&course, &learner);
        prop_assert!(e.fee_pence <= e.full_fee_pence);
        prop_assert_eq!(e.full_fee_pence, course.fees.full_fee_pence);
        for p in &e.possible_concessions {
            prop_assert!(p.fee_pence < e.fee_pence);
        }
    }

    /// (b) Adding a concession the learner satisfies, anywhere in the list, never raises the fee:
    /// the fee becomes the cheaper of the old fee and the new concession's (capped at full).
    #[test]
    fn adding_a_satisfied_concession_never_raises_the_fee(
        course in arb_course(),
        learner in arb_learner(),
        candidates in vec(arb_condition(), 0..5),
        fee in arb_pence(),
        at in any::<prop::sample::Index>(),
    ) {
        let before = evaluate(&course, &learner);
        let conditions: Vec<Condition> = candidates
            .into_iter()
            .filter(|c| verdict(c, &learner) == Verdict::Met)
            .collect();
        let added = Concession {
            name: "added".into(),
            template: None,
            conditions,
            fee_pence: fee,
            documents: vec![Document::ReferralLetter],
        };
        let mut more = course.clone();
        let pos = at.index(more.fees.concessions.len() + 1);
        more.fees.concessions.insert(pos, added);
        let after = evaluate(&more, &learner);
        prop_assert!(after.fee_pence <= before.fee_pence);
        let cap = fee.min(course.fees.full_fee_pence);
        prop_assert_eq!(after.fee_pence, before.fee_pence.min(cap));
        prop_assert!(after.concession.is_some());
        // Eligibility does not depend on the fee rules.
        prop_assert_eq!(after.unmet, before.unmet);
    }

    /// (c) Removing a concession never lowers the fee.
    #[test]
    fn removing_a_concession_never_lowers_the_fee(
        course in arb_course(),
        learner in arb_learner(),
        at in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!course.fees.concessions.is_empty());
        let before = evaluate(&course, &learner);
        let mut fewer = course.clone();
        let i = at.index(fewer.fees.concessions.len());
        fewer.fees.concessions.remove(i);
        let after = evaluate(&fewer, &learner);
        prop_assert!(after.fee_pence >= before.fee_pence);
        // Removing a concession that was not applied changes nothing about the fee.
        if before.concession.as_ref().map(|c| c.index) != Some(i) {
            prop_assert_eq!(after.fee_pence, before.fee_pence);
        }
    }

    /// (d) Total and deterministic on any course, including invalid ones.
    #[test]
    fn evaluate_is_total_and_deterministic(course in arb_course(), learner in arb_learner()) {
        let valid = validate_record(&Record::Course(course.clone())).is_ok();
        let a = evaluate(&course, &learner);
        let b = evaluate(&course.clone(), &learner.clone());
        prop_assert_eq!(&a, &b);
        prop_assert!(a.fee_pence <= course.fees.full_fee_pence, "valid course: {}", valid);
    }

    /// (d) A concession priced above the full fee still never raises the fee.
    #[test]
    fn overpriced_concessions_are_capped(
        mut course in arb_course(),
        learner in arb_learner(),
        extra in 1u32..=u32::MAX,
    ) {
        let full = course.fees.full_fee_pence;
        for c in &mut course.fees.concessions {
            c.fee_pence = full.saturating_add(extra);
        }
        let e = evaluate(&course, &learner);
        prop_assert_eq!(e.fee_pence, full);
        prop_assert!(e.possible_concessions.is_empty());
    }

    /// (e) Eligible exactly when nothing is unmet; unmet conditions come from the course, in order.
    #[test]
    fn eligible_iff_nothing_unmet(course in arb_course(), learner in arb_learner()) {
        let e = evaluate(&course, &learner);
        prop_assert_eq!(e.eligible, e.unmet.is_empty());
        let mut rest = course.eligibility.iter().map(|r| &r.condition);
        for u in &e.unmet {
            prop_assert!(rest.any(|c| c == &u.condition), "unmet not a subsequence of eligibility");
            let want = match u.reason {
                UnmetReason::NotMet => Verdict::NotMet,
                UnmetReason::NotStated => Verdict::NotStated,
            };
            prop_assert_eq!(verdict(&u.condition, &learner), want);
        }
        let failing = course
            .eligibility
            .iter()
            .filter(|r| verdict(&r.condition, &learner) != Verdict::Met)
            .count();
        prop_assert_eq!(e.unmet.len(), failing);
    }

    /// (f) An applied concession has all its conditions met: on its own it gives the same fee.
    #[test]
    fn applied_concession_stands_on_its_own(course in arb_course(), learner in arb_learner()) {
        let e = evaluate(&course, &learner);
        match &e.concession {
            None => {
                // Nothing satisfied: the learner pays full.
                prop_assert_eq!(e.fee_pence, course.fees.full_fee_pence);
            }
            Some(applied) => {
                let c = &course.fees.concessions[applied.index];
                prop_assert_eq!(&applied.name, &c.name);
                prop_assert_eq!(applied.template, c.template);
                for cond in &c.conditions {
                    prop_assert_eq!(verdict(cond, &learner), Verdict::Met);
                }
                prop_assert_eq!(e.fee_pence, c.fee_pence.min(course.fees.full_fee_pence));
                for d in &c.documents {
                    prop_assert!(e.documents.contains(d));
                }
                let mut alone = course.clone();
                alone.fees.concessions = vec![c.clone()];
                let e2 = evaluate(&alone, &learner);
                prop_assert_eq!(e2.fee_pence, e.fee_pence);
                prop_assert_eq!(e2.concession.map(|a| a.index), Some(0));
                // No satisfied concession earlier in the list is as cheap (ties go earliest).
                for (i, other) in course.fees.concessions.iter().enumerate() {
                    let ok = other.conditions.iter().all(|x| verdict(x, &learner) == Verdict::Met);
                    if ok {
                        let f = other.fee_pence.min(course.fees.full_fee_pence);
                        prop_assert!(f >= e.fee_pence);
                        if i < applied.index {
                            prop_assert!(f > e.fee_pence);
                        }
                    }
                }
            }
        }
    }

    /// Documents have no repeats: eligibility proofs first, then the applied concession's.
    #[test]
    fn documents_are_unique_and_ordered(course in arb_course(), learner in arb_learner()) {
        let e = evaluate(&course, &learner);
        let mut expected: Vec<Document> = Vec::new();
        let concession_docs = e
            .concession
            .as_ref()
            .map(|a| course.fees.concessions[a.index].documents.clone())
            .unwrap_or_default();
        for d in course.eligibility.iter().flat_map(|r| &r.documents).chain(&concession_docs) {
            if !expected.contains(d) {
                expected.push(*d);
            }
        }
        prop_assert_eq!(e.documents, expected);
    }

    /// (g) Stating more can only turn NotStated into Met or NotMet; a stated verdict never changes.
    #[test]
    fn stating_more_only_resolves_not_stated(
        course in arb_course(),
        learner in arb_learner(),
        mask in any::<[bool; 9]>(),
    ) {
        let less = forget(&learner, mask);
        for cond in course
            .eligibility
            .iter()
            .map(|r| &r.condition)
            .chain(course.fees.concessions.iter().flat_map(|c| &c.conditions))
        {
            let (before, after) = (verdict(cond, &less), verdict(cond, &learner));
            prop_assert!(
                before == Verdict::NotStated || before == after,
                "{:?}: {:?} became {:?}", cond, before, after
            );
        }
        let (e_less, e_more) = (evaluate(&course, &less), evaluate(&course, &learner));
        // The unmet list can only shrink, and what stays NotMet was already NotMet or NotStated.
        prop_assert!(e_more.unmet.len() <= e_less.unmet.len());
        for u in e_less.unmet.iter().filter(|u| u.reason == UnmetReason::NotMet) {
            prop_assert!(e_more.unmet.contains(u), "a NotMet verdict was lost: {:?}", u);
        }
        if e_less.eligible {
            prop_assert!(e_more.eligible);
        }
        // A concession already earned stays earned, so the fee can only fall.
        prop_assert!(e_more.fee_pence <= e_less.fee_pence);
    }

    /// (h) Serde JSON round trip is the identity for courses.
    #[test]
    fn course_json_round_trip(course in arb_course()) {
        let json = serde_json::to_string(&course).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Course = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, course);
    }

    /// (h) Serde JSON round trip is the identity for learner profiles.
    #[test]
    fn learner_json_round_trip(learner in arb_learner()) {
        let json = serde_json::to_string(&learner).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: LearnerProfile = serde_json::from_str(&json)
            .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert!(back == learner, "round trip changed the profile: {}", json);
    }

    /// Validation is total too: any course gets an answer, never a panic.
    #[test]
    fn validate_course_is_total(course in arb_course()) {
        let r = validate_record(&Record::Course(course));
        if let Err(e) = r {
            prop_assert!(!e.0.is_empty());
        }
    }

    /// Validation of venues is total, whatever the postcode and coordinates.
    #[test]
    fn validate_venue_is_total(
        postcode in ".{0,10}",
        lines in vec(".{0,10}", 0..3),
        lat in any::<f64>(),
        lon in any::<f64>(),
        url in option::of(".{0,20}"),
    ) {
        let venue = Venue {
            id: Uuid::from_u128(3),
            provider_id: Uuid::from_u128(2),
            name: "v".into(),
            address: Some(Address { lines, town: "London".into(), postcode }),
            location: Some(LatLon { lat, lon }),
            accessibility: Default::default(),
            virtual_url: url,
        };
        let _ = validate_record(&Record::Venue(venue));
    }

    /// The postcode check never panics and ignores case and spacing.
    #[test]
    fn postcode_check_is_total_and_normalising(s in "\\PC{0,9}") {
        let v = is_valid_postcode(&s);
        // Whitespace anywhere is ignored.
        let spaced: String = s.chars().flat_map(|c| [c, ' ']).collect();
        prop_assert_eq!(is_valid_postcode(&spaced), v);
        // So is ASCII case.
        prop_assert_eq!(is_valid_postcode(&s.to_ascii_lowercase()), v);
        prop_assert_eq!(is_valid_postcode(&s.to_ascii_uppercase()), v);
        // Anything accepted is plain ASCII.
        if v {
            prop_assert!(s.is_ascii());
        }
    }

    /// Every well-formed postcode shape is accepted, with or without the space.
    #[test]
    fn well_formed_postcodes_are_accepted(
        outward in "[A-Z]{1,2}[0-9]([0-9]|[A-Z])?",
        inward in "[0-9][A-Z]{2}",
    ) {
        prop_assert!(is_valid_postcode(&outward));
        let full = format!("{outward} {inward}");
        let compact = format!("{outward}{inward}").to_lowercase();
        let truncated = format!("{outward} {}", &inward[..2]);
        prop_assert!(is_valid_postcode(&full), "{}", full);
        prop_assert!(is_valid_postcode(&compact), "{}", compact);
        prop_assert!(!is_valid_postcode(&truncated), "{}", truncated);
    }

    /// A template's concession passes validation on every course it accepts.
    #[test]
    fn template_concessions_validate_where_they_apply(
        template in select(Template::ALL),
        level in select(Level::ALL),
        categories in vec(select(Category::ALL), 1..4),
        fee in 0u32..=30_000,
    ) {
        let mut categories = categories;
        categories.dedup();
        let mut c = base_course();
        c.runs = vec![Run {
            id: Uuid::from_u128(9),
            venue_id: Uuid::from_u128(8),
            start: Start::Rolling,
            days: vec![],
            start_time: NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
            end_time: NaiveTime::from_hms_opt(11, 0, 0).expect("time"),
            weeks: None,
            places_left: None,
            waiting_weeks: None,
        }];
        c.level = level;
        c.categories = categories.clone();
        c.categories.sort();
        c.categories.dedup();
        c.fees.full_fee_pence = 30_000;
        match template.concession(level, &categories, fee) {
            Ok(con) => {
                c.fees.concessions = vec![con];
                let r = validate_record(&Record::Course(c));
                prop_assert!(r.is_ok(), "{}: {:?}", template, r);
            }
            Err(e) => {
                prop_assert_eq!(e.template, template);
                // Forcing it on anyway is caught at the template path.
                c.fees.concessions = vec![Concession {
                    name: template.label().into(),
                    template: Some(template),
                    conditions: vec![Condition::Unemployed],
                    fee_pence: fee,
                    documents: vec![],
                }];
                let err = validate_record(&Record::Course(c)).expect_err("refused template");
                prop_assert!(err.0.iter().any(|v| v.field == "fees.concessions[0].template"));
            }
        }
    }
}
