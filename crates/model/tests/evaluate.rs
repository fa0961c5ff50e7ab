//! The evaluator: eligibility verdicts, documents, and which concession applies.

mod common;

use common::{concession, eval, nobody, req, valid_course};
use prospectus_model::{
    Answer, AppliedConcession, Condition, Course, Document, Employment, Fact, LearnerProfile,
    Level, Residency, UnmetReason,
};

const FULL: u32 = 30_000;

fn with_eligibility(reqs: Vec<prospectus_model::Requirement>) -> Course {
    let mut c = valid_course();
    c.eligibility = reqs;
    c
}

fn with_concessions(cs: Vec<prospectus_model::Concession>) -> Course {
    let mut c = valid_course();
    c.fees.full_fee_pence = FULL;
    c.fees.concessions = cs;
    c
}

fn unmet(condition: Condition, reason: UnmetReason) -> (Condition, UnmetReason) {
    (condition, reason)
}

/// An evaluation's unmet list as (condition, reason).
fn unmet_of(e: &prospectus_model::Evaluation) -> Vec<(Condition, UnmetReason)> {
    e.unmet
        .iter()
        .map(|u| (u.condition.clone(), u.reason))
        .collect()
}

fn adult() -> Condition {
    Condition::Age {
        min: Some(19),
        max: None,
    }
}

fn southwark() -> Condition {
    Condition::ResidentInBorough {
        boroughs: vec!["E09000028".into()],
    }
}

fn in_borough(code: &str) -> LearnerProfile {
    LearnerProfile {
        borough: Some(code.into()),
        ..nobody()
    }
}

/// Evaluates a course whose only eligibility condition is `cond` and returns the unmet list.
fn verdict(cond: Condition, learner: &LearnerProfile) -> Vec<(Condition, UnmetReason)> {
    unmet_of(&eval(&with_eligibility(vec![req(cond, vec![])]), learner))
}

fn met(cond: Condition, learner: &LearnerProfile) {
    let u = verdict(cond.clone(), learner);
    assert!(u.is_empty(), "{cond:?} should be met, got {u:?}");
}

fn not_met(cond: Condition, learner: &LearnerProfile) {
    assert_eq!(
        verdict(cond.clone(), learner),
        vec![unmet(cond, UnmetReason::NotMet)]
    );
}

fn not_stated(cond: Condition, learner: &LearnerProfile) {
    assert_eq!(
        verdict(cond.clone(), learner),
        vec![unmet(cond, UnmetReason::NotStated)]
    );
}

// ---------------------------------------------------------------- eligibility

#[test]
fn no_conditions_means_eligible_even_for_an_empty_profile() {
    let e = eval(&valid_course(), &nobody());
    assert!(e.eligible());
    assert!(e.unmet.is_empty());
    assert!(e.documents.is_empty());
}

#[test]
fn all_conditions_met_is_eligible() {
    let course = with_eligibility(vec![
        req(adult(), vec![Document::ProofOfIdentityAndAge]),
        req(southwark(), vec![Document::ProofOfAddress]),
        req(Condition::FirstLanguageNotEnglish, vec![]),
    ]);
    let learner = LearnerProfile {
        age: Some(40),
        borough: Some("E09000028".into()),
        first_language_english: Some(false),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert!(e.eligible());
    assert!(e.unmet.is_empty());
}

#[test]
fn one_failed_condition_makes_learner_ineligible_and_is_reported() {
    let course = with_eligibility(vec![
        req(adult(), vec![]),
        req(southwark(), vec![]),
        req(Condition::FirstLanguageNotEnglish, vec![]),
    ]);
    let learner = LearnerProfile {
        age: Some(40),
        borough: Some("E09000022".into()), // Lambeth
        first_language_english: Some(false),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert!(!e.eligible());
    assert_eq!(unmet_of(&e), vec![unmet(southwark(), UnmetReason::NotMet)]);
}

#[test]
fn unanswered_condition_is_not_stated_and_makes_learner_not_yet_eligible() {
    let course = with_eligibility(vec![req(adult(), vec![]), req(southwark(), vec![])]);
    let learner = LearnerProfile {
        age: Some(40),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert!(!e.eligible());
    assert_eq!(
        unmet_of(&e),
        vec![unmet(southwark(), UnmetReason::NotStated)]
    );
}

#[test]
fn unmet_conditions_are_listed_in_course_order_with_their_reasons() {
    let course = with_eligibility(vec![
        req(Condition::MeansTestedBenefits, vec![]),
        req(adult(), vec![]),
        req(Condition::ResidentInLondon, vec![]),
        req(Condition::Unemployed, vec![]),
    ]);
    let learner = LearnerProfile {
        age: Some(17),
        employment: Some(Employment::Unemployed),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert!(!e.eligible());
    assert_eq!(
        unmet_of(&e),
        vec![
            unmet(Condition::MeansTestedBenefits, UnmetReason::NotStated),
            unmet(adult(), UnmetReason::NotMet),
            unmet(Condition::ResidentInLondon, UnmetReason::NotStated),
        ]
    );
}

#[test]
fn age_bounds_are_inclusive() {
    let band = Condition::Age {
        min: Some(19),
        max: Some(23),
    };
    let aged = |a: u8| LearnerProfile {
        age: Some(a),
        ..nobody()
    };
    not_met(band.clone(), &aged(18));
    met(band.clone(), &aged(19));
    met(band.clone(), &aged(23));
    not_met(band.clone(), &aged(24));
    not_stated(band, &nobody());

    let max_only = Condition::Age {
        min: None,
        max: Some(25),
    };
    met(max_only.clone(), &aged(0));
    met(max_only.clone(), &aged(25));
    not_met(max_only, &aged(26));

    let min_only = Condition::Age {
        min: Some(60),
        max: None,
    };
    not_met(min_only.clone(), &aged(59));
    met(min_only.clone(), &aged(60));
    met(min_only, &aged(u8::MAX));
}

#[test]
fn resident_in_borough_is_case_insensitive_and_trims_the_learner_code() {
    met(southwark(), &in_borough("E09000028"));
    met(southwark(), &in_borough("e09000028"));
    met(southwark(), &in_borough("  E09000028 "));
    let lower = Condition::ResidentInBorough {
        boroughs: vec!["e09000028".into()],
    };
    met(lower, &in_borough("E09000028"));
    not_met(southwark(), &in_borough("E09000022"));
    not_met(southwark(), &in_borough(""));
    not_stated(southwark(), &nobody());
}

#[test]
fn resident_in_borough_accepts_any_listed_borough() {
    let either = Condition::ResidentInBorough {
        boroughs: vec!["E09000028".into(), "E09000022".into()],
    };
    met(either.clone(), &in_borough("E09000022"));
    met(either.clone(), &in_borough("E09000028"));
    not_met(either, &in_borough("E09000001"));
    let none = Condition::ResidentInBorough { boroughs: vec![] };
    not_met(none, &in_borough("E09000028"));
}

#[test]
fn resident_in_london_means_an_e09_code() {
    met(Condition::ResidentInLondon, &in_borough("E09000001"));
    met(Condition::ResidentInLondon, &in_borough("E09000033"));
    met(Condition::ResidentInLondon, &in_borough("e09000028"));
    met(Condition::ResidentInLondon, &in_borough(" E09000028"));
    not_met(Condition::ResidentInLondon, &in_borough("E08000003")); // Manchester
    not_met(Condition::ResidentInLondon, &in_borough("E06000001")); // Hartlepool
    not_met(Condition::ResidentInLondon, &in_borough("W06000015")); // Cardiff
    not_met(Condition::ResidentInLondon, &in_borough("XE09000001"));
    not_met(Condition::ResidentInLondon, &in_borough(""));
    not_stated(Condition::ResidentInLondon, &nobody());
}

#[test]
fn residency_status_any_of() {
    let cond = Condition::ResidencyStatus {
        any_of: vec![Residency::BritishOrIrish, Residency::Refugee],
    };
    let with = |r: Residency| LearnerProfile {
        residency: Some(r),
        ..nobody()
    };
    met(cond.clone(), &with(Residency::Refugee));
    met(cond.clone(), &with(Residency::BritishOrIrish));
    not_met(cond.clone(), &with(Residency::AsylumSeeker));
    not_met(cond.clone(), &with(Residency::OtherStatus));
    not_stated(cond, &nobody());
}

/// Builds a profile from one yes/no answer.
type Answering = fn(Option<bool>) -> LearnerProfile;

#[test]
fn boolean_conditions() {
    let cases: [(Condition, Answering, bool); 3] = [
        (
            Condition::MeansTestedBenefits,
            |b| LearnerProfile {
                means_tested_benefits: b,
                ..Default::default()
            },
            true,
        ),
        (
            Condition::ReferredBySocialPrescriber,
            |b| LearnerProfile {
                referred_by_social_prescriber: b,
                ..Default::default()
            },
            true,
        ),
        (
            Condition::FirstLanguageNotEnglish,
            |b| LearnerProfile {
                first_language_english: b,
                ..Default::default()
            },
            false,
        ),
    ];
    for (cond, with, meets) in cases {
        met(cond.clone(), &with(Some(meets)));
        not_met(cond.clone(), &with(Some(!meets)));
        not_stated(cond, &with(None));
    }
}

#[test]
fn unemployed_means_looking_for_work() {
    let with = |e: Option<Employment>| LearnerProfile {
        employment: e,
        ..nobody()
    };
    met(Condition::Unemployed, &with(Some(Employment::Unemployed)));
    not_met(Condition::Unemployed, &with(Some(Employment::NotLooking)));
    not_met(Condition::Unemployed, &with(Some(Employment::Employed)));
    not_met(Condition::Unemployed, &with(Some(Employment::SelfEmployed)));
    not_stated(Condition::Unemployed, &with(None));
}

#[test]
fn low_wage_needs_work_and_earnings_strictly_below_the_limit() {
    let cond = Condition::LowWage {
        max_annual_gross_pence: 2_000_000,
    };
    let p = |e: Option<Employment>, pence: Option<u32>| LearnerProfile {
        employment: e,
        annual_gross_earnings_pence: pence,
        ..nobody()
    };
    met(
        cond.clone(),
        &p(Some(Employment::Employed), Some(1_999_999)),
    );
    met(cond.clone(), &p(Some(Employment::SelfEmployed), Some(0)));
    not_met(
        cond.clone(),
        &p(Some(Employment::Employed), Some(2_000_000)),
    );
    not_met(cond.clone(), &p(Some(Employment::NotLooking), Some(0)));
    not_met(cond.clone(), &p(Some(Employment::Unemployed), None));
    not_stated(cond.clone(), &p(Some(Employment::Employed), None));
    not_stated(cond.clone(), &p(None, Some(0)));
    not_stated(cond, &p(None, None));
}

#[test]
fn no_qualification_at_or_above() {
    let cond = Condition::NoQualificationAtOrAbove { level: Level::L2 };
    let has = |l: Level| LearnerProfile {
        highest_qualification: Some(l),
        ..nobody()
    };
    met(cond.clone(), &has(Level::NonAccredited));
    met(cond.clone(), &has(Level::L1));
    not_met(cond.clone(), &has(Level::L2));
    not_met(cond.clone(), &has(Level::L7));
    not_stated(cond, &nobody());
}

// ---------------------------------------------------------------- documents

#[test]
fn documents_are_eligibility_first_then_concession_without_repeats() {
    let mut course = with_eligibility(vec![
        req(adult(), vec![Document::ProofOfIdentityAndAge]),
        req(
            southwark(),
            vec![Document::ProofOfAddress, Document::ProofOfIdentityAndAge],
        ),
        req(Condition::ResidentInLondon, vec![Document::ProofOfAddress]),
    ]);
    course.fees.concessions = vec![concession(
        "benefits",
        vec![Condition::MeansTestedBenefits],
        0,
        vec![
            Document::ProofOfBenefits,
            Document::ProofOfAddress,
            Document::ProofOfBenefits,
            Document::ReferralLetter,
        ],
    )];
    let learner = LearnerProfile {
        age: Some(30),
        borough: Some("E09000028".into()),
        means_tested_benefits: Some(true),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert!(e.eligible());
    assert_eq!(e.fee_pence, Some(0));
    assert_eq!(
        e.documents,
        vec![
            Document::ProofOfIdentityAndAge,
            Document::ProofOfAddress,
            Document::ProofOfBenefits,
            Document::ReferralLetter,
        ]
    );
}

#[test]
fn documents_of_concessions_not_applied_are_not_listed() {
    let mut course = with_eligibility(vec![req(adult(), vec![Document::ProofOfIdentityAndAge])]);
    course.fees.concessions = vec![
        concession(
            "benefits",
            vec![Condition::MeansTestedBenefits],
            0,
            vec![Document::ProofOfBenefits],
        ),
        concession(
            "referred",
            vec![Condition::ReferredBySocialPrescriber],
            1_000,
            vec![Document::ReferralLetter],
        ),
    ];
    let learner = LearnerProfile {
        age: Some(30),
        means_tested_benefits: Some(false),
        referred_by_social_prescriber: Some(true),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert_eq!(e.concession.map(|c| c.index), Some(1));
    assert_eq!(
        e.documents,
        vec![Document::ProofOfIdentityAndAge, Document::ReferralLetter]
    );
}

// ---------------------------------------------------------------- concessions

fn benefits(fee: u32) -> prospectus_model::Concession {
    concession(
        &format!("benefits {fee}"),
        vec![Condition::MeansTestedBenefits],
        fee,
        vec![Document::ProofOfBenefits],
    )
}

fn referred(fee: u32) -> prospectus_model::Concession {
    concession(
        &format!("referred {fee}"),
        vec![Condition::ReferredBySocialPrescriber],
        fee,
        vec![Document::ReferralLetter],
    )
}

fn over_60(fee: u32) -> prospectus_model::Concession {
    concession(
        &format!("over 60 {fee}"),
        vec![Condition::Age {
            min: Some(60),
            max: None,
        }],
        fee,
        vec![],
    )
}

fn everything() -> LearnerProfile {
    LearnerProfile {
        age: Some(65),
        means_tested_benefits: Some(true),
        referred_by_social_prescriber: Some(true),
        ..nobody()
    }
}

#[test]
fn no_concession_met_pays_full() {
    let course = with_concessions(vec![benefits(0), referred(500)]);
    let learner = LearnerProfile {
        means_tested_benefits: Some(false),
        referred_by_social_prescriber: Some(false),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert_eq!(e.fee_pence, Some(FULL));
    assert_eq!(e.full_fee_pence, FULL);
    assert_eq!(e.concession, None);
    assert!(e.possible_concessions.is_empty());
}

#[test]
fn cheapest_satisfied_concession_wins_wherever_it_is() {
    for (list, want_index, want_fee) in [
        (
            vec![over_60(9_000), benefits(5_000), referred(1_000)],
            2,
            1_000,
        ),
        (
            vec![referred(1_000), over_60(9_000), benefits(5_000)],
            0,
            1_000,
        ),
        (
            vec![over_60(9_000), referred(1_000), benefits(5_000)],
            1,
            1_000,
        ),
    ] {
        let names: Vec<String> = list.iter().map(|c| c.name.clone()).collect();
        let e = eval(&with_concessions(list), &everything());
        assert_eq!(e.fee_pence, Some(want_fee), "{names:?}");
        assert_eq!(
            e.concession,
            Some(AppliedConcession {
                index: want_index,
                name: names[want_index].clone(),
                template: None,
            }),
            "{names:?}"
        );
    }
}

#[test]
fn a_cheaper_concession_the_learner_fails_does_not_apply() {
    let course = with_concessions(vec![benefits(0), over_60(7_500)]);
    let learner = LearnerProfile {
        means_tested_benefits: Some(false),
        ..everything()
    };
    let e = eval(&course, &learner);
    assert_eq!(e.fee_pence, Some(7_500));
    assert_eq!(e.concession.map(|c| c.index), Some(1));
    assert!(e.possible_concessions.is_empty());
}

#[test]
fn ties_go_to_the_earliest_concession() {
    let course = with_concessions(vec![over_60(9_000), referred(2_000), benefits(2_000)]);
    let e = eval(&course, &everything());
    assert_eq!(e.fee_pence, Some(2_000));
    assert_eq!(e.concession.as_ref().map(|c| c.index), Some(1));
    assert_eq!(e.documents, vec![Document::ReferralLetter]);

    let course = with_concessions(vec![benefits(2_000), referred(2_000)]);
    let e = eval(&course, &everything());
    assert_eq!(e.concession.as_ref().map(|c| c.index), Some(0));
    assert_eq!(e.documents, vec![Document::ProofOfBenefits]);
}

#[test]
fn concession_needs_every_condition() {
    let both = concession(
        "over 60 on benefits",
        vec![
            Condition::Age {
                min: Some(60),
                max: None,
            },
            Condition::MeansTestedBenefits,
        ],
        100,
        vec![],
    );
    let course = with_concessions(vec![both]);
    assert_eq!(eval(&course, &everything()).fee_pence, Some(100));
    let young = LearnerProfile {
        age: Some(59),
        ..everything()
    };
    assert_eq!(eval(&course, &young).fee_pence, Some(FULL));
}

#[test]
fn concession_priced_above_full_fee_never_raises_the_fee() {
    let course = with_concessions(vec![benefits(FULL + 10_000)]);
    let e = eval(&course, &everything());
    assert_eq!(e.fee_pence, Some(FULL));
}

#[test]
fn an_ineligible_learner_is_never_shown_a_fee() {
    // Earlier the answer was "not eligible" beside a fee of 0, read as "free".
    let mut course = with_concessions(vec![benefits(0)]);
    course.eligibility = vec![req(southwark(), vec![])];
    let lambeth = LearnerProfile {
        borough: Some("E09000022".into()),
        ..everything()
    };
    let e = eval(&course, &lambeth);
    assert_eq!(e.answer, Answer::NotEligible);
    assert_eq!(e.fee_pence, None);
    assert_eq!(e.concession, None);
    assert!(e.possible_concessions.is_empty());
    // The same learner where eligible gets the concession and its fee.
    let mut here = course.clone();
    here.eligibility.clear();
    assert_eq!(eval(&here, &everything()).fee_pence, Some(0));
}

#[test]
fn an_unanswered_eligibility_condition_depends_on_its_facts() {
    let mut course = with_concessions(vec![benefits(0)]);
    course.eligibility = vec![req(southwark(), vec![]), req(adult(), vec![])];
    let e = eval(&course, &nobody());
    assert_eq!(e.answer, Answer::DependsOn);
    assert_eq!(e.depends_on, vec![Fact::Borough, Fact::Age]);
    assert_eq!(e.fee_pence, None);
    // The cheaper route is still shown with what unlocks it.
    assert_eq!(e.possible_concessions.len(), 1);
    assert_eq!(
        e.possible_concessions[0].unlock,
        vec![Fact::MeansTestedBenefits]
    );
}

#[test]
fn possible_concessions_list_only_cheaper_ones_with_nothing_failed() {
    let mixed = concession(
        "over 60 on benefits",
        vec![
            Condition::Age {
                min: Some(60),
                max: None,
            },
            Condition::MeansTestedBenefits,
            Condition::ReferredBySocialPrescriber,
        ],
        0,
        vec![],
    );
    let course = with_concessions(vec![
        over_60(8_000),                                                       // met: applies
        benefits(9_000), // unstated but dearer than 8,000: not offered
        mixed,           // age met, the rest unstated: offered
        concession("unemployed", vec![Condition::Unemployed], 1_000, vec![]), // failed
        benefits(8_000), // unstated but not cheaper: not offered
        benefits(7_999), // unstated and cheaper: offered
    ]);
    let learner = LearnerProfile {
        age: Some(70),
        employment: Some(Employment::Employed),
        ..nobody()
    };
    let e = eval(&course, &learner);
    assert_eq!(e.fee_pence, Some(8_000));
    assert_eq!(e.concession.as_ref().map(|c| c.index), Some(0));
    let possible: Vec<_> = e
        .possible_concessions
        .iter()
        .map(|p| {
            (
                p.index,
                p.name.as_str(),
                p.fee_pence,
                p.not_stated.clone(),
                p.unlock.clone(),
            )
        })
        .collect();
    assert_eq!(
        possible,
        vec![
            (
                2,
                "over 60 on benefits",
                0,
                vec![
                    Condition::MeansTestedBenefits,
                    Condition::ReferredBySocialPrescriber
                ],
                vec![Fact::MeansTestedBenefits, Fact::ReferredBySocialPrescriber],
            ),
            (
                5,
                "benefits 7999",
                7_999,
                vec![Condition::MeansTestedBenefits],
                vec![Fact::MeansTestedBenefits],
            ),
        ]
    );

    // Declaring "not referred" removes the mixed concession from the possibilities.
    let learner = LearnerProfile {
        referred_by_social_prescriber: Some(false),
        ..learner
    };
    let e = eval(&course, &learner);
    let idx: Vec<usize> = e.possible_concessions.iter().map(|p| p.index).collect();
    assert_eq!(idx, [5]);
}

#[test]
fn evaluation_serialises_to_json() {
    let course = with_concessions(vec![benefits(0)]);
    let e = eval(&course, &nobody());
    let v = serde_json::to_value(&e).expect("serialise");
    assert_eq!(v["fee_pence"], FULL);
    assert_eq!(v["answer"], "eligible");
    assert_eq!(v["rules"], "gla-2025-26");
    assert_eq!(
        v["possible_concessions"][0]["not_stated"][0]["type"],
        "means_tested_benefits"
    );
}

#[test]
fn learner_profile_debug_is_redacted() {
    let l = LearnerProfile {
        age: Some(42),
        borough: Some("E09000028".into()),
        ..nobody()
    };
    let s = format!("{l:?}");
    assert!(!s.contains("42") && !s.contains("E09000028"), "{s}");
}
