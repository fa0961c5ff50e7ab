//! Property tests for the evaluator, validation and serde, over generated courses and learners.
//!
//! Courses are "valid-ish": they draw from every `Condition` variant and from fees that may be
//! misconfigured (a concession above the full fee, empty condition lists), because the evaluator
//! promises an answer for any course, valid or not.
//!
//! The evaluator is asked on 31 August of 2025 (`common::ctx`), the GLA 2025-26 reference date,
//! so a stated age is exactly the funding rules' age unless a property moves the date.

mod common;

use common::{ctx, eval};

use chrono::{NaiveDate, NaiveTime};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use prospectus_model::{
    Address, AgeBand, Answer, Category, Concession, Condition, Context, Course, DeliveryMode,
    Document, Employment, Evaluation, Fact, Fees, LatLon, LearnerProfile, Level, Record,
    Requirement, Residency, RuleSet, RuleSetId, Run, Start, Support, Template, UnmetReason, Uuid,
    Venue, Weekday, evaluate, is_valid_postcode, validate_record, validate_record_at,
};

/// Every low-wage threshold compiled in, and one below each: the edges that matter.
fn thresholds() -> Vec<u32> {
    RuleSet::get(RuleSetId::Gla2024_25);
    prospectus_model::RULE_SETS
        .iter()
        .filter_map(|r| r.low_wage_threshold_pence.value)
        .flat_map(|t| [t, t - 1])
        .collect()
}

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
        select(thresholds()),
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
        (any::<bool>(), any::<bool>())
            .prop_map(|(english, maths)| Condition::NoGcseGrade4 { english, maths }),
        Just(Condition::ClaimingJobseekerBenefits),
        Just(Condition::InWorkBenefits),
        Just(Condition::UkResident3Years),
        select(AgeBand::ALL).prop_map(|band| Condition::FundingAge { band }),
        option::of(arb_pence()).prop_map(|max_annual_gross_pence| Condition::FundingLowWage {
            max_annual_gross_pence
        }),
        Just(Condition::FundingUnemployed),
        Just(Condition::FundingResidency),
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
        option::of(select(RuleSetId::ALL)),
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
            (runs, fees, eligibility, url, contact_email, last_verified, funding_rules),
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
            funding_rules,
        },
    )
}

/// Dates of birth around the ages that matter on 31 August 2025.
fn arb_dob() -> impl Strategy<Value = NaiveDate> {
    // 1940-01-01 ..= 2010-12-31.
    (708_018i32..=733_771).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).expect("in range"))
}

fn arb_learner() -> impl Strategy<Value = LearnerProfile> {
    let head = (
        // A date of birth, and whether the age is given too (then consistent with it).
        option::of((arb_dob(), any::<bool>())),
        option::of(arb_age()),
        option::of(arb_borough()),
        option::of(select(Residency::ALL)),
        option::of(select(Employment::ALL)),
        option::of(arb_pence()),
        option::of(any::<bool>()),
        option::of(select(Level::ALL)),
    );
    let tail = (
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    );
    (head, tail).prop_map(
        |(
            (dob, age, borough, residency, employment, earnings, benefits, highest),
            (referred, english, gcse_e, gcse_m, claiming, in_work, three),
        )| {
            let today = ctx().today;
            let (date_of_birth, age) = match dob {
                Some((d, with_age)) => {
                    let years = today.years_since(d).and_then(|y| u8::try_from(y).ok());
                    (Some(d), if with_age { years } else { None })
                }
                None => (None, age),
            };
            LearnerProfile {
                age,
                date_of_birth,
                borough,
                residency,
                employment,
                annual_gross_earnings_pence: earnings,
                means_tested_benefits: benefits,
                highest_qualification: highest,
                referred_by_social_prescriber: referred,
                first_language_english: english,
                gcse_english_grade4: gcse_e,
                gcse_maths_grade4: gcse_m,
                claiming_jobseeker_benefits: claiming,
                in_work_benefits: in_work,
                uk_resident_3_years: three,
            }
        },
    )
}

const FACTS: usize = 15;

/// `learner` with each field whose mask bit is set forgotten (turned to `None`).
fn forget(learner: &LearnerProfile, mask: [bool; FACTS]) -> LearnerProfile {
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
        date_of_birth: f(&learner.date_of_birth, mask[9]),
        gcse_english_grade4: f(&learner.gcse_english_grade4, mask[10]),
        gcse_maths_grade4: f(&learner.gcse_maths_grade4, mask[11]),
        claiming_jobseeker_benefits: f(&learner.claiming_jobseeker_benefits, mask[12]),
        in_work_benefits: f(&learner.in_work_benefits, mask[13]),
        uk_resident_3_years: f(&learner.uk_resident_3_years, mask[14]),
    }
}

/// The facts an answer names for field `i` of [`forget`]'s mask.
fn facts_of(i: usize) -> Vec<Fact> {
    match i % FACTS {
        0 => vec![Fact::Age],
        1 => vec![Fact::Borough],
        2 => vec![Fact::Residency],
        3 => vec![Fact::Employment],
        4 => vec![Fact::Earnings],
        5 => vec![Fact::MeansTestedBenefits],
        6 => vec![Fact::HighestQualification],
        7 => vec![Fact::ReferredBySocialPrescriber],
        8 => vec![Fact::FirstLanguageEnglish],
        9 => vec![Fact::Age, Fact::DateOfBirth],
        10 => vec![Fact::GcseEnglish],
        11 => vec![Fact::GcseMaths],
        12 => vec![Fact::ClaimingJobseekerBenefits],
        13 => vec![Fact::InWorkBenefits],
        _ => vec![Fact::UkResident3Years],
    }
}

/// `learner` with exactly field `i` forgotten.
fn forget_one(learner: &LearnerProfile, i: usize) -> LearnerProfile {
    let mut mask = [false; FACTS];
    mask[i % FACTS] = true;
    forget(learner, mask)
}

// ---------------------------------------------------------------- oracles

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotStated,
}

/// The evaluator's verdict on one condition, read through the public API: a course whose only
/// eligibility condition is `cond`, under `rules` (the context's default if `None`).
fn verdict(cond: &Condition, learner: &LearnerProfile, rules: Option<RuleSetId>) -> Verdict {
    let mut probe = base_course();
    probe.funding_rules = rules;
    probe.eligibility = vec![Requirement {
        condition: cond.clone(),
        documents: vec![],
    }];
    let e = eval(&probe, learner);
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
        funding_rules: None,
    }
}

/// The course with no eligibility conditions: every learner is eligible, so the fee is
/// always given and the fee properties can be read off it.
fn open(course: &Course) -> Course {
    let mut c = course.clone();
    c.eligibility.clear();
    c
}

fn fee(e: &Evaluation) -> u32 {
    e.fee_pence.expect("an eligible answer carries a fee")
}

// ---------------------------------------------------------------- properties

/// The parts of an answer a rule-set change could move (everything but the set's name and the
/// descriptions, which quote its values).
fn gist(e: &Evaluation) -> impl PartialEq + std::fmt::Debug {
    (
        e.answer,
        e.fee_pence,
        e.concession.clone(),
        e.depends_on.clone(),
        e.unmet
            .iter()
            .map(|u| (u.condition.clone(), u.reason, u.facts.clone()))
            .collect::<Vec<_>>(),
        e.possible_concessions
            .iter()
            .map(|p| (p.index, p.fee_pence, p.unlock.clone()))
            .collect::<Vec<_>>(),
        e.documents.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The fee is only ever given with an eligible answer; so is an applied route. Depends-on
    /// names the facts, and only depends-on does.
    #[test]
    fn fee_only_for_an_eligible_answer(course in arb_course(), learner in arb_learner()) {
        let e = eval(&course, &learner);
        prop_assert_eq!(e.fee_pence.is_some(), e.answer == Answer::Eligible);
        if e.answer != Answer::Eligible {
            prop_assert!(e.concession.is_none());
        }
        prop_assert_eq!(!e.depends_on.is_empty(), e.answer == Answer::DependsOn);
        if e.answer == Answer::NotEligible {
            prop_assert!(e.possible_concessions.is_empty());
            prop_assert!(e.unmet.iter().any(|u| u.reason == UnmetReason::NotMet));
        }
    }

    /// Stating one more fact never turns a definite answer (eligible, not eligible) into
    /// "depends", nor into the other definite answer.
    #[test]
    fn one_more_fact_never_unsettles_a_definite_answer(
        course in arb_course(),
        learner in arb_learner(),
        which in 0usize..FACTS,
    ) {
        let less = forget_one(&learner, which);
        let (before, after) = (eval(&course, &less), eval(&course, &learner));
        if before.answer != Answer::DependsOn {
            prop_assert_eq!(after.answer, before.answer);
        }
        // A fact the answer did not name as deciding changes nothing about it.
        if before.answer == Answer::DependsOn
            && !facts_of(which).iter().any(|f| before.depends_on.contains(f))
        {
            prop_assert_eq!(after.answer, Answer::DependsOn);
            prop_assert_eq!(&after.depends_on, &before.depends_on);
        }
    }

    /// Changing the academic year changes only what its rule set changes: between two GLA sets
    /// the low-wage threshold is the only rule value that differs, so an answer moves only for
    /// an employed learner whose earnings fall between the two thresholds. Ages are stated, and
    /// each question is asked on its set's reference date, so the age is the same in both.
    #[test]
    fn academic_year_changes_only_what_its_rule_set_changes(
        course in arb_course(),
        learner in arb_learner(),
        pair in select(vec![
            (RuleSetId::Gla2024_25, RuleSetId::Gla2025_26),
            (RuleSetId::Gla2025_26, RuleSetId::Gla2026_27),
            (RuleSetId::Gla2024_25, RuleSetId::Gla2026_27),
        ]),
    ) {
        let mut course = course;
        course.funding_rules = None;
        let mut learner = learner;
        learner.date_of_birth = None;
        let (a, b) = (RuleSet::get(pair.0), RuleSet::get(pair.1));
        let at = |r: &RuleSet| Context { today: r.reference_date(), default_rules: Some(r.id) };
        let (ea, eb) = (evaluate(&course, &learner, &at(a)), evaluate(&course, &learner, &at(b)));
        prop_assert_eq!(ea.rules, a.id);
        prop_assert_eq!(eb.rules, b.id);
        let ta = a.low_wage_threshold_pence.value.expect("GLA threshold");
        let tb = b.low_wage_threshold_pence.value.expect("GLA threshold");
        let in_band = matches!(learner.employment, Some(Employment::Employed | Employment::SelfEmployed))
            && learner
                .annual_gross_earnings_pence
                .is_some_and(|e| e >= ta.min(tb) && e < ta.max(tb));
        let differ = gist(&ea) != gist(&eb);
        if differ {
            prop_assert!(in_band, "answers differ outside the threshold band");
        }
        // The other rule values are the same in both sets.
        prop_assert_eq!(a.three_year_residency.value, b.three_year_residency.value);
        prop_assert_eq!(a.unemployed_must_claim_benefit.value, b.unemployed_must_claim_benefit.value);
        prop_assert_eq!(a.adult_age_min.value, b.adult_age_min.value);
        prop_assert_eq!(a.young_adult_age_max.value, b.young_adult_age_max.value);
    }

    /// (a) Nobody pays more than the full fee; possible routes are cheaper than the fee.
    #[test]
    fn fee_never_exceeds_full_fee(course in arb_course(), learner in arb_learner()) {
        let course = open(&course);
        let e = eval(&course, &learner);
        prop_assert!(fee(&e) <= e.full_fee_pence);
        prop_assert_eq!(e.full_fee_pence, course.fees.full_fee_pence);
        for p in &e.possible_concessions {
            prop_assert!(p.fee_pence < fee(&e));
            prop_assert!(!p.unlock.is_empty());
        }
    }

    /// (b) Adding a concession the learner satisfies, anywhere in the list, never raises the fee:
    /// the fee becomes the cheaper of the old fee and the new concession's (capped at full).
    #[test]
    fn adding_a_satisfied_concession_never_raises_the_fee(
        course in arb_course(),
        learner in arb_learner(),
        candidates in vec(arb_condition(), 0..5),
        fee_pence in arb_pence(),
        at in any::<prop::sample::Index>(),
    ) {
        let course = open(&course);
        let before = eval(&course, &learner);
        let conditions: Vec<Condition> = candidates
            .into_iter()
            .filter(|c| verdict(c, &learner, course.funding_rules) == Verdict::Met)
            .collect();
        let added = Concession {
            name: "added".into(),
            template: None,
            conditions,
            fee_pence,
            documents: vec![Document::ReferralLetter],
        };
        let mut more = course.clone();
        let pos = at.index(more.fees.concessions.len() + 1);
        more.fees.concessions.insert(pos, added);
        let after = eval(&more, &learner);
        prop_assert!(fee(&after) <= fee(&before));
        let cap = fee_pence.min(course.fees.full_fee_pence);
        prop_assert_eq!(fee(&after), fee(&before).min(cap));
        prop_assert!(after.concession.is_some());
    }

    /// (c) Removing a concession never lowers the fee.
    #[test]
    fn removing_a_concession_never_lowers_the_fee(
        course in arb_course(),
        learner in arb_learner(),
        at in any::<prop::sample::Index>(),
    ) {
        prop_assume!(!course.fees.concessions.is_empty());
        let course = open(&course);
        let before = eval(&course, &learner);
        let mut fewer = course.clone();
        let i = at.index(fewer.fees.concessions.len());
        fewer.fees.concessions.remove(i);
        let after = eval(&fewer, &learner);
        prop_assert!(fee(&after) >= fee(&before));
        // Removing a concession that was not applied changes nothing about the fee.
        if before.concession.as_ref().map(|c| c.index) != Some(i) {
            prop_assert_eq!(fee(&after), fee(&before));
        }
    }

    /// (d) Total and deterministic on any course, including invalid ones.
    #[test]
    fn evaluate_is_total_and_deterministic(course in arb_course(), learner in arb_learner()) {
        let valid = validate_record(&Record::Course(course.clone())).is_ok();
        let a = eval(&course, &learner);
        let b = eval(&course.clone(), &learner.clone());
        prop_assert_eq!(&a, &b);
        prop_assert!(a.fee_pence.is_none_or(|f| f <= course.fees.full_fee_pence), "valid course: {}", valid);
    }

    /// (d) A concession priced above the full fee still never raises the fee.
    #[test]
    fn overpriced_concessions_are_capped(
        course in arb_course(),
        learner in arb_learner(),
        extra in 1u32..=u32::MAX,
    ) {
        let mut course = open(&course);
        let full = course.fees.full_fee_pence;
        for c in &mut course.fees.concessions {
            c.fee_pence = full.saturating_add(extra);
        }
        let e = eval(&course, &learner);
        prop_assert_eq!(fee(&e), full);
        prop_assert!(e.possible_concessions.is_empty());
    }

    /// (e) Eligible exactly when nothing is unmet; unmet conditions come from the course, in order.
    #[test]
    fn eligible_iff_nothing_unmet(course in arb_course(), learner in arb_learner()) {
        let e = eval(&course, &learner);
        prop_assert_eq!(e.eligible(), e.unmet.is_empty());
        let mut rest = course.eligibility.iter().map(|r| &r.condition);
        for u in &e.unmet {
            prop_assert!(rest.any(|c| c == &u.condition), "unmet not a subsequence of eligibility");
            let want = match u.reason {
                UnmetReason::NotMet => Verdict::NotMet,
                UnmetReason::NotStated => Verdict::NotStated,
            };
            prop_assert_eq!(verdict(&u.condition, &learner, course.funding_rules), want);
            prop_assert_eq!(u.reason == UnmetReason::NotStated, !u.facts.is_empty());
        }
        let failing = course
            .eligibility
            .iter()
            .filter(|r| verdict(&r.condition, &learner, course.funding_rules) != Verdict::Met)
            .count();
        prop_assert_eq!(e.unmet.len(), failing);
    }

    /// (f) An applied concession has all its conditions met: on its own it gives the same fee.
    #[test]
    fn applied_concession_stands_on_its_own(course in arb_course(), learner in arb_learner()) {
        let course = open(&course);
        let rules = course.funding_rules;
        let e = eval(&course, &learner);
        match &e.concession {
            None => {
                // Nothing satisfied: the learner pays full.
                prop_assert_eq!(fee(&e), course.fees.full_fee_pence);
            }
            Some(applied) => {
                let c = &course.fees.concessions[applied.index];
                prop_assert_eq!(&applied.name, &c.name);
                prop_assert_eq!(applied.template, c.template);
                for cond in &c.conditions {
                    prop_assert_eq!(verdict(cond, &learner, rules), Verdict::Met);
                }
                prop_assert_eq!(fee(&e), c.fee_pence.min(course.fees.full_fee_pence));
                for d in &c.documents {
                    prop_assert!(e.documents.contains(d));
                }
                let mut alone = course.clone();
                alone.fees.concessions = vec![c.clone()];
                let e2 = eval(&alone, &learner);
                prop_assert_eq!(fee(&e2), fee(&e));
                prop_assert_eq!(e2.concession.map(|a| a.index), Some(0));
                // No satisfied concession earlier in the list is as cheap (ties go earliest).
                for (i, other) in course.fees.concessions.iter().enumerate() {
                    let ok = other.conditions.iter().all(|x| verdict(x, &learner, rules) == Verdict::Met);
                    if ok {
                        let f = other.fee_pence.min(course.fees.full_fee_pence);
                        prop_assert!(f >= fee(&e));
                        if i < applied.index {
                            prop_assert!(f > fee(&e));
                        }
                    }
                }
            }
        }
    }

    /// Documents have no repeats: eligibility proofs first, then the applied concession's.
    #[test]
    fn documents_are_unique_and_ordered(course in arb_course(), learner in arb_learner()) {
        let e = eval(&course, &learner);
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
        mask in any::<[bool; FACTS]>(),
    ) {
        let less = forget(&learner, mask);
        let rules = course.funding_rules;
        for cond in course
            .eligibility
            .iter()
            .map(|r| &r.condition)
            .chain(course.fees.concessions.iter().flat_map(|c| &c.conditions))
        {
            let (before, after) = (verdict(cond, &less, rules), verdict(cond, &learner, rules));
            prop_assert!(
                before == Verdict::NotStated || before == after,
                "{:?}: {:?} became {:?}", cond, before, after
            );
        }
        let (e_less, e_more) = (eval(&course, &less), eval(&course, &learner));
        // The unmet list can only shrink, and what stays NotMet was already NotMet or NotStated.
        prop_assert!(e_more.unmet.len() <= e_less.unmet.len());
        for u in e_less.unmet.iter().filter(|u| u.reason == UnmetReason::NotMet) {
            prop_assert!(e_more.unmet.contains(u), "a NotMet verdict was lost: {:?}", u);
        }
        if e_less.answer != Answer::DependsOn {
            prop_assert_eq!(e_more.answer, e_less.answer);
        }
        // A route already earned stays earned, so the fee can only fall.
        if let (Some(a), Some(b)) = (e_more.fee_pence, e_less.fee_pence) {
            prop_assert!(a <= b);
        }
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

    /// Validation is total too: any course gets an answer, never a panic; the dated check
    /// refuses at least what the undated one does.
    #[test]
    fn validate_course_is_total(course in arb_course(), today in arb_date()) {
        let record = Record::Course(course);
        let r = validate_record(&record);
        if let Err(e) = &r {
            prop_assert!(!e.0.is_empty());
        }
        let dated = validate_record_at(&record, today);
        if r.is_err() {
            prop_assert!(dated.is_err());
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
