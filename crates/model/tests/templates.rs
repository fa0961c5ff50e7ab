//! Every `Template`: what it expands to, which courses it refuses, and how a course using it
//! evaluates for learners who qualify, fail one condition, or leave a condition unstated.

mod common;

use common::{course_with, eval, nobody, valid_course};
use prospectus_model::{
    AgeBand, AppliedConcession, Category, Condition, Course, Document, Employment, LearnerProfile,
    Level, Record, RuleSet, RuleSetId, Template, validate_record,
};

/// The GLA 2025-26 low-wage threshold the fixed context (`common::ctx`) evaluates under:
/// London Living Wage £13.85 × 37.5 hours × 52 weeks = £27,007.50.
const LOW_WAGE_THRESHOLD_PENCE: u32 = 2_700_750;

/// A Londoner who has said nothing else (every Adult Skills Fund route asks residency).
fn londoner() -> LearnerProfile {
    LearnerProfile {
        borough: Some("E09000028".into()),
        ..nobody()
    }
}

#[test]
fn the_threshold_used_here_is_the_rule_sets() {
    assert_eq!(
        RuleSet::get(RuleSetId::Gla2025_26)
            .low_wage_threshold_pence
            .value,
        Some(LOW_WAGE_THRESHOLD_PENCE)
    );
    assert_eq!(common::ctx().default_rules, Some(RuleSetId::Gla2025_26));
}

const FULL: u32 = 30_000;
const CONC: u32 = 2_500;

fn course_for(t: Template, level: Level, cats: &[Category]) -> Course {
    let c = t
        .concession(level, cats, CONC)
        .unwrap_or_else(|e| panic!("{t} should apply to {level} {cats:?}: {e}"));
    course_with(level, cats, FULL, vec![c])
}

/// The learner qualifies: pays the concession fee, gets the template's documents.
fn assert_gets(
    t: Template,
    course: &Course,
    learner: &LearnerProfile,
    docs: &[Document],
    ctx: &str,
) {
    let e = eval(course, learner);
    assert_eq!(e.fee_pence, Some(CONC), "{ctx}: fee");
    assert_eq!(e.full_fee_pence, FULL, "{ctx}: full fee");
    assert_eq!(
        e.concession,
        Some(AppliedConcession {
            index: 0,
            name: t.label().to_string(),
            template: Some(t),
        }),
        "{ctx}: applied concession"
    );
    assert_eq!(e.documents, docs, "{ctx}: documents");
    assert!(
        e.possible_concessions.is_empty(),
        "{ctx}: nothing left to ask"
    );
    assert!(
        e.eligible(),
        "{ctx}: no eligibility conditions on the course"
    );
}

/// The learner fails a condition outright: full fee, no concession, nothing to ask about.
fn assert_full_not_met(course: &Course, learner: &LearnerProfile, ctx: &str) {
    let e = eval(course, learner);
    assert_eq!(e.fee_pence, Some(FULL), "{ctx}: fee");
    assert_eq!(e.concession, None, "{ctx}: concession");
    assert!(e.documents.is_empty(), "{ctx}: documents {:?}", e.documents);
    assert!(
        e.possible_concessions.is_empty(),
        "{ctx}: a failed condition must not be offered as possible: {:?}",
        e.possible_concessions
    );
}

/// The learner leaves `not_stated` unanswered: full fee, and the concession is offered as possible.
fn assert_full_not_stated(
    t: Template,
    course: &Course,
    learner: &LearnerProfile,
    not_stated: Vec<Condition>,
    ctx: &str,
) {
    let e = eval(course, learner);
    assert_eq!(e.fee_pence, Some(FULL), "{ctx}: fee");
    assert_eq!(e.concession, None, "{ctx}: concession");
    assert!(e.documents.is_empty(), "{ctx}: documents {:?}", e.documents);
    let possible: Vec<_> = e
        .possible_concessions
        .iter()
        .map(|p| (p.index, p.name.clone(), p.fee_pence, p.not_stated.clone()))
        .collect();
    assert_eq!(
        possible,
        vec![(0, t.label().to_string(), CONC, not_stated)],
        "{ctx}: possible concessions"
    );
}

fn refused_levels(t: Template, allowed: &[Level], cats: &[Category]) {
    for &level in Level::ALL {
        let r = t.concession(level, cats, 0);
        if allowed.contains(&level) {
            assert!(r.is_ok(), "{t} should accept {level} {cats:?}: {r:?}");
        } else {
            let err = r.expect_err(&format!("{t} should refuse {level}"));
            assert_eq!(err.template, t);
            assert!(!err.reason.is_empty());
            let msg = err.to_string();
            assert!(msg.contains(t.as_str()), "error names the template: {msg}");
        }
    }
}

fn employed(earnings: u32) -> LearnerProfile {
    LearnerProfile {
        age: Some(30),
        employment: Some(Employment::Employed),
        annual_gross_earnings_pence: Some(earnings),
        ..londoner()
    }
}

/// Exhaustive over the variants (no wildcard), so a new template cannot go untested.
fn expected_expansion(t: Template, level: Level) -> (Vec<Condition>, Vec<Document>) {
    use Condition as C;
    use Document as D;
    let low_wage = C::FundingLowWage {
        max_annual_gross_pence: None,
    };
    let age = |band| C::FundingAge { band };
    let res = C::FundingResidency;
    match t {
        Template::FirstFull19To23 => (
            vec![
                age(AgeBand::YoungAdult),
                C::NoQualificationAtOrAbove { level },
                res,
            ],
            vec![D::ProofOfIdentityAndAge, D::QualificationsDeclaration],
        ),
        Template::LowWage24PlusFirstFull => (
            vec![
                age(AgeBand::Older),
                low_wage,
                C::NoQualificationAtOrAbove { level },
                res,
            ],
            vec![
                D::ProofOfIdentityAndAge,
                D::Payslips,
                D::QualificationsDeclaration,
            ],
        ),
        Template::EnglishMaths19Plus => (
            vec![
                age(AgeBand::Adult),
                C::NoGcseGrade4 {
                    english: false,
                    maths: true,
                },
                res,
            ],
            vec![D::ProofOfIdentityAndAge, D::QualificationsDeclaration],
        ),
        Template::UnemployedUpToLevel2 => (
            vec![age(AgeBand::Adult), C::FundingUnemployed, res],
            vec![D::ProofOfUnemployment],
        ),
        Template::LowWageEsolUpToLevel2 | Template::LowWageUpToLevel2 => {
            (vec![age(AgeBand::Adult), low_wage, res], vec![D::Payslips])
        }
        Template::MeansTestedBenefits => (vec![C::MeansTestedBenefits], vec![D::ProofOfBenefits]),
        Template::SocialPrescriberReferral => {
            (vec![C::ReferredBySocialPrescriber], vec![D::ReferralLetter])
        }
    }
}

/// A course each template applies to.
fn home(t: Template) -> (Level, Vec<Category>) {
    match t {
        Template::FirstFull19To23 | Template::LowWage24PlusFirstFull => {
            (Level::L2, vec![Category::Digital])
        }
        Template::EnglishMaths19Plus => (Level::L1, vec![Category::Maths]),
        Template::UnemployedUpToLevel2 | Template::LowWageUpToLevel2 => {
            (Level::Entry, vec![Category::Employability])
        }
        Template::LowWageEsolUpToLevel2 => (Level::Entry, vec![Category::Esol]),
        Template::MeansTestedBenefits | Template::SocialPrescriberReferral => {
            (Level::NonAccredited, vec![Category::WellbeingMentalHealth])
        }
    }
}

#[test]
fn every_template_expands_to_its_conditions_documents_name_and_fee() {
    assert_eq!(Template::ALL.len(), 8);
    for &t in Template::ALL {
        let (level, cats) = home(t);
        for fee in [0, 1, CONC] {
            let c = t
                .concession(level, &cats, fee)
                .unwrap_or_else(|e| panic!("{t}: {e}"));
            let (conditions, documents) = expected_expansion(t, level);
            assert_eq!(c.conditions, conditions, "{t} conditions");
            assert_eq!(c.documents, documents, "{t} documents");
            assert_eq!(c.name, t.label(), "{t} name");
            assert_eq!(c.template, Some(t), "{t} template");
            assert_eq!(c.fee_pence, fee, "{t} fee");
        }
    }
}

#[test]
fn every_template_concession_validates_on_its_home_course() {
    for &t in Template::ALL {
        let (level, cats) = home(t);
        let course = course_for(t, level, &cats);
        assert_eq!(validate_record(&Record::Course(course)), Ok(()), "{t}");
    }
}

#[test]
fn template_names_round_trip_through_str_and_serde() {
    for &t in Template::ALL {
        assert_eq!(t.as_str().parse::<Template>(), Ok(t));
        assert_eq!(t.as_str().to_uppercase().parse::<Template>(), Ok(t));
        let json = serde_json::to_string(&t).expect("serialize");
        assert_eq!(json, format!("\"{}\"", t.as_str()));
        assert_eq!(
            serde_json::from_str::<Template>(&json).expect("deserialize"),
            t
        );
    }
    assert!("no-such-template".parse::<Template>().is_err());
}

#[test]
fn a_template_course_that_is_mis_stated_fails_validation() {
    let mut course = course_for(
        Template::UnemployedUpToLevel2,
        Level::L1,
        &[Category::Maths],
    );
    course.fees.concessions[0].conditions = vec![Condition::MeansTestedBenefits];
    let err = validate_record(&Record::Course(course)).expect_err("conditions must match template");
    let fields: Vec<_> = err.0.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["fees.concessions[0].conditions"]);
}

mod first_full_19_to_23 {
    use super::*;
    const T: Template = Template::FirstFull19To23;
    const DOCS: &[Document] = &[
        Document::ProofOfIdentityAndAge,
        Document::QualificationsDeclaration,
    ];

    fn qualifier(age: u8, highest: Level) -> LearnerProfile {
        LearnerProfile {
            age: Some(age),
            highest_qualification: Some(highest),
            ..londoner()
        }
    }

    #[test]
    fn only_level_2_and_3() {
        refused_levels(T, &[Level::L2, Level::L3], &[Category::Digital]);
        refused_levels(T, &[Level::L2, Level::L3], &[]);
    }

    #[test]
    fn qualification_condition_follows_course_level() {
        for level in [Level::L2, Level::L3] {
            let c = T.concession(level, &[], 0).expect("applies");
            assert!(
                c.conditions
                    .contains(&Condition::NoQualificationAtOrAbove { level })
            );
        }
    }

    #[test]
    fn edge_ages() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        assert_full_not_met(&course, &qualifier(18, Level::L1), "age 18");
        assert_gets(T, &course, &qualifier(19, Level::L1), DOCS, "age 19");
        assert_gets(T, &course, &qualifier(21, Level::L1), DOCS, "age 21");
        assert_gets(T, &course, &qualifier(23, Level::L1), DOCS, "age 23");
        assert_full_not_met(&course, &qualifier(24, Level::L1), "age 24");
    }

    #[test]
    fn qualification_equal_to_level_is_not_met_below_is_met() {
        let l2 = course_for(T, Level::L2, &[Category::Digital]);
        assert_full_not_met(&l2, &qualifier(20, Level::L2), "has L2 on L2 course");
        assert_full_not_met(&l2, &qualifier(20, Level::L3), "has L3 on L2 course");
        assert_gets(
            T,
            &l2,
            &qualifier(20, Level::L1),
            DOCS,
            "has L1 on L2 course",
        );
        assert_gets(
            T,
            &l2,
            &qualifier(20, Level::NonAccredited),
            DOCS,
            "no quals",
        );

        let l3 = course_for(T, Level::L3, &[Category::Digital]);
        assert_gets(
            T,
            &l3,
            &qualifier(20, Level::L2),
            DOCS,
            "has L2 on L3 course",
        );
        assert_full_not_met(&l3, &qualifier(20, Level::L3), "has L3 on L3 course");
    }

    #[test]
    fn unstated_fields_are_possible() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let age = Condition::FundingAge {
            band: AgeBand::YoungAdult,
        };
        let qual = Condition::NoQualificationAtOrAbove { level: Level::L2 };
        let no_age = LearnerProfile {
            age: None,
            ..qualifier(20, Level::L1)
        };
        assert_full_not_stated(T, &course, &no_age, vec![age.clone()], "age unstated");
        let no_qual = LearnerProfile {
            highest_qualification: None,
            ..qualifier(20, Level::L1)
        };
        assert_full_not_stated(T, &course, &no_qual, vec![qual.clone()], "qual unstated");
        assert_full_not_stated(T, &course, &londoner(), vec![age, qual], "nothing stated");
        // An unstated field does not rescue a failed one.
        let failed_age = LearnerProfile {
            highest_qualification: None,
            ..qualifier(30, Level::L1)
        };
        assert_full_not_met(&course, &failed_age, "age failed, qual unstated");
    }
}

mod low_wage_24_plus_first_full {
    use super::*;
    const T: Template = Template::LowWage24PlusFirstFull;
    const DOCS: &[Document] = &[
        Document::ProofOfIdentityAndAge,
        Document::Payslips,
        Document::QualificationsDeclaration,
    ];

    fn qualifier() -> LearnerProfile {
        LearnerProfile {
            age: Some(30),
            highest_qualification: Some(Level::L1),
            ..employed(LOW_WAGE_THRESHOLD_PENCE - 1)
        }
    }

    #[test]
    fn only_level_2_and_3() {
        refused_levels(T, &[Level::L2, Level::L3], &[Category::Esol]);
    }

    #[test]
    fn edge_ages() {
        let course = course_for(T, Level::L3, &[Category::Digital]);
        for (age, ok) in [
            (18, false),
            (19, false),
            (23, false),
            (24, true),
            (80, true),
        ] {
            let l = LearnerProfile {
                age: Some(age),
                ..qualifier()
            };
            if ok {
                assert_gets(T, &course, &l, DOCS, &format!("age {age}"));
            } else {
                assert_full_not_met(&course, &l, &format!("age {age}"));
            }
        }
    }

    #[test]
    fn low_wage_threshold_is_strictly_less_than() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let at = |e: u32| LearnerProfile {
            annual_gross_earnings_pence: Some(e),
            ..qualifier()
        };
        assert_gets(T, &course, &at(0), DOCS, "earning 0");
        assert_gets(
            T,
            &course,
            &at(LOW_WAGE_THRESHOLD_PENCE - 1),
            DOCS,
            "one penny under",
        );
        assert_full_not_met(
            &course,
            &at(LOW_WAGE_THRESHOLD_PENCE),
            "exactly the threshold",
        );
        assert_full_not_met(
            &course,
            &at(LOW_WAGE_THRESHOLD_PENCE + 1),
            "over the threshold",
        );
    }

    #[test]
    fn employment_status() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let with = |e: Employment| LearnerProfile {
            employment: Some(e),
            ..qualifier()
        };
        assert_gets(T, &course, &with(Employment::Employed), DOCS, "employed");
        assert_gets(
            T,
            &course,
            &with(Employment::SelfEmployed),
            DOCS,
            "self-employed",
        );
        assert_full_not_met(&course, &with(Employment::NotLooking), "not looking");
        assert_full_not_met(&course, &with(Employment::Unemployed), "unemployed");
    }

    #[test]
    fn qualification_equal_to_level_is_not_met() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let with = |h: Level| LearnerProfile {
            highest_qualification: Some(h),
            ..qualifier()
        };
        assert_full_not_met(&course, &with(Level::L2), "has L2");
        assert_gets(T, &course, &with(Level::L1), DOCS, "has L1");
        assert_gets(T, &course, &with(Level::Entry), DOCS, "has Entry");
    }

    #[test]
    fn unstated_fields_are_possible() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let low_wage = Condition::FundingLowWage {
            max_annual_gross_pence: None,
        };
        let no_employment = LearnerProfile {
            employment: None,
            ..qualifier()
        };
        assert_full_not_stated(
            T,
            &course,
            &no_employment,
            vec![low_wage.clone()],
            "employment",
        );
        let no_earnings = LearnerProfile {
            annual_gross_earnings_pence: None,
            ..qualifier()
        };
        assert_full_not_stated(T, &course, &no_earnings, vec![low_wage.clone()], "earnings");
        let no_age = LearnerProfile {
            age: None,
            ..qualifier()
        };
        assert_full_not_stated(
            T,
            &course,
            &no_age,
            vec![Condition::FundingAge {
                band: AgeBand::Older,
            }],
            "age",
        );
        // Not looking for work fails low wage even with no earnings stated.
        let not_looking = LearnerProfile {
            employment: Some(Employment::NotLooking),
            annual_gross_earnings_pence: None,
            ..qualifier()
        };
        assert_full_not_met(&course, &not_looking, "not looking, earnings unstated");
    }
}

mod english_maths_19_plus {
    use super::*;
    const T: Template = Template::EnglishMaths19Plus;
    const DOCS: &[Document] = &[
        Document::ProofOfIdentityAndAge,
        Document::QualificationsDeclaration,
    ];

    /// On a maths course: the learner's age and whether they hold GCSE maths at 4/C.
    fn qualifier(age: u8, gcse_maths: Option<bool>) -> LearnerProfile {
        LearnerProfile {
            age: Some(age),
            gcse_maths_grade4: gcse_maths,
            ..londoner()
        }
    }

    #[test]
    fn up_to_level_2_english_or_maths_only() {
        let upto2 = [Level::NonAccredited, Level::Entry, Level::L1, Level::L2];
        refused_levels(T, &upto2, &[Category::English]);
        refused_levels(T, &upto2, &[Category::Maths]);
        refused_levels(T, &upto2, &[Category::Digital, Category::Maths]);
        for cats in [
            &[][..],
            &[Category::Esol][..],
            &[Category::Digital, Category::Languages][..],
        ] {
            for level in upto2 {
                let err = T.concession(level, cats, 0).expect_err("not English/maths");
                assert_eq!(err.template, T);
            }
        }
    }

    #[test]
    fn the_gcse_condition_names_the_course_subjects() {
        let subject = |cats: &[Category]| {
            T.concession(Level::L1, cats, 0)
                .expect("applies")
                .conditions
                .into_iter()
                .find(|c| matches!(c, Condition::NoGcseGrade4 { .. }))
        };
        assert_eq!(
            subject(&[Category::Maths]),
            Some(Condition::NoGcseGrade4 {
                english: false,
                maths: true
            })
        );
        assert_eq!(
            subject(&[Category::English]),
            Some(Condition::NoGcseGrade4 {
                english: true,
                maths: false
            })
        );
        assert_eq!(
            subject(&[Category::English, Category::Maths]),
            Some(Condition::NoGcseGrade4 {
                english: true,
                maths: true
            })
        );
    }

    #[test]
    fn edge_ages() {
        let course = course_for(T, Level::Entry, &[Category::Maths]);
        assert_full_not_met(&course, &qualifier(18, Some(false)), "age 18");
        assert_gets(T, &course, &qualifier(19, Some(false)), DOCS, "age 19");
        assert_gets(T, &course, &qualifier(23, Some(false)), DOCS, "age 23");
        assert_gets(T, &course, &qualifier(24, Some(false)), DOCS, "age 24");
        assert_gets(T, &course, &qualifier(90, Some(false)), DOCS, "age 90");
    }

    #[test]
    fn the_gcse_not_any_level_2_decides() {
        let course = course_for(T, Level::L1, &[Category::Maths]);
        // A level 2 in something else is not GCSE maths: still entitled.
        let l = LearnerProfile {
            highest_qualification: Some(Level::L2),
            ..qualifier(40, Some(false))
        };
        assert_gets(T, &course, &l, DOCS, "has a level 2, no GCSE maths");
        assert_full_not_met(&course, &qualifier(40, Some(true)), "holds GCSE maths");
        // Holding GCSE English says nothing about maths.
        let english_only = LearnerProfile {
            gcse_english_grade4: Some(true),
            ..qualifier(40, None)
        };
        assert_full_not_stated(
            T,
            &course,
            &english_only,
            vec![Condition::NoGcseGrade4 {
                english: false,
                maths: true,
            }],
            "GCSE maths not stated",
        );
    }

    #[test]
    fn unstated_fields_are_possible() {
        let course = course_for(T, Level::L2, &[Category::Maths]);
        let no_age = LearnerProfile {
            age: None,
            ..qualifier(40, Some(false))
        };
        assert_full_not_stated(
            T,
            &course,
            &no_age,
            vec![Condition::FundingAge {
                band: AgeBand::Adult,
            }],
            "age",
        );
    }
}

mod unemployed_up_to_level_2 {
    use super::*;
    const T: Template = Template::UnemployedUpToLevel2;
    const DOCS: &[Document] = &[Document::ProofOfUnemployment];

    fn with(e: Option<Employment>) -> LearnerProfile {
        LearnerProfile {
            age: Some(30),
            employment: e,
            ..londoner()
        }
    }

    #[test]
    fn up_to_level_2_any_category() {
        let upto2 = [Level::NonAccredited, Level::Entry, Level::L1, Level::L2];
        refused_levels(T, &upto2, &[Category::Employability]);
        refused_levels(T, &upto2, &[Category::ArtsCrafts]);
        refused_levels(T, &upto2, &[]);
    }

    #[test]
    fn outcomes() {
        let course = course_for(T, Level::L1, &[Category::Employability]);
        assert_gets(
            T,
            &course,
            &with(Some(Employment::Unemployed)),
            DOCS,
            "unemployed",
        );
        assert_full_not_met(&course, &with(Some(Employment::Employed)), "employed");
        assert_full_not_met(
            &course,
            &with(Some(Employment::SelfEmployed)),
            "self-employed",
        );
        assert_full_not_met(&course, &with(Some(Employment::NotLooking)), "not looking");
        assert_full_not_stated(
            T,
            &course,
            &with(None),
            vec![Condition::FundingUnemployed],
            "unstated",
        );
    }

    #[test]
    fn other_fields_do_not_matter() {
        let course = course_for(T, Level::L2, &[Category::Digital]);
        let l = LearnerProfile {
            age: Some(70),
            annual_gross_earnings_pence: Some(u32::MAX),
            highest_qualification: Some(Level::L7),
            means_tested_benefits: Some(false),
            ..with(Some(Employment::Unemployed))
        };
        assert_gets(T, &course, &l, DOCS, "unemployed graduate");
    }
}

mod low_wage_esol_up_to_level_2 {
    use super::*;
    const T: Template = Template::LowWageEsolUpToLevel2;
    const DOCS: &[Document] = &[Document::Payslips];

    #[test]
    fn up_to_level_2_esol_only() {
        let upto2 = [Level::NonAccredited, Level::Entry, Level::L1, Level::L2];
        refused_levels(T, &upto2, &[Category::Esol]);
        refused_levels(T, &upto2, &[Category::English, Category::Esol]);
        for cats in [
            &[][..],
            &[Category::English][..],
            &[Category::Languages][..],
        ] {
            let err = T.concession(Level::Entry, cats, 0).expect_err("not ESOL");
            assert_eq!(err.template, T);
        }
    }

    #[test]
    fn threshold_boundary() {
        let course = course_for(T, Level::Entry, &[Category::Esol]);
        assert_gets(T, &course, &employed(0), DOCS, "earning 0");
        assert_gets(
            T,
            &course,
            &employed(LOW_WAGE_THRESHOLD_PENCE - 1),
            DOCS,
            "a penny under",
        );
        assert_full_not_met(
            &course,
            &employed(LOW_WAGE_THRESHOLD_PENCE),
            "exactly threshold",
        );
        assert_full_not_met(&course, &employed(u32::MAX), "very high");
    }

    #[test]
    fn employment_status() {
        let course = course_for(T, Level::L1, &[Category::Esol]);
        let with = |e: Employment| LearnerProfile {
            employment: Some(e),
            ..employed(100)
        };
        assert_gets(T, &course, &with(Employment::Employed), DOCS, "employed");
        assert_gets(
            T,
            &course,
            &with(Employment::SelfEmployed),
            DOCS,
            "self-employed",
        );
        assert_full_not_met(&course, &with(Employment::NotLooking), "not looking");
        assert_full_not_met(&course, &with(Employment::Unemployed), "unemployed");
    }

    #[test]
    fn unstated_fields_are_possible() {
        let course = course_for(T, Level::L1, &[Category::Esol]);
        let cond = Condition::FundingLowWage {
            max_annual_gross_pence: None,
        };
        let no_earnings = LearnerProfile {
            annual_gross_earnings_pence: None,
            ..employed(100)
        };
        assert_full_not_stated(T, &course, &no_earnings, vec![cond.clone()], "earnings");
        let no_employment = LearnerProfile {
            employment: None,
            ..employed(100)
        };
        assert_full_not_stated(T, &course, &no_employment, vec![cond.clone()], "employment");
        let adult = Condition::FundingAge {
            band: AgeBand::Adult,
        };
        assert_full_not_stated(T, &course, &londoner(), vec![adult, cond], "nothing");
    }
}

mod means_tested_benefits {
    use super::*;
    const T: Template = Template::MeansTestedBenefits;
    const DOCS: &[Document] = &[Document::ProofOfBenefits];

    #[test]
    fn applies_to_every_level_and_category() {
        refused_levels(T, Level::ALL, &[]);
        refused_levels(T, Level::ALL, Category::ALL);
    }

    #[test]
    fn outcomes() {
        let course = course_for(T, Level::L4, &[Category::Music]);
        let with = |b: Option<bool>| LearnerProfile {
            means_tested_benefits: b,
            ..londoner()
        };
        assert_gets(T, &course, &with(Some(true)), DOCS, "on benefits");
        assert_full_not_met(&course, &with(Some(false)), "not on benefits");
        assert_full_not_stated(
            T,
            &course,
            &with(None),
            vec![Condition::MeansTestedBenefits],
            "unstated",
        );
    }
}

mod social_prescriber_referral {
    use super::*;
    const T: Template = Template::SocialPrescriberReferral;
    const DOCS: &[Document] = &[Document::ReferralLetter];

    #[test]
    fn applies_to_every_level_and_category() {
        refused_levels(T, Level::ALL, &[]);
        refused_levels(T, Level::ALL, Category::ALL);
    }

    #[test]
    fn outcomes() {
        let mut course = course_for(T, Level::NonAccredited, &[Category::WellbeingMentalHealth]);
        course.mental_health_focus = true;
        let with = |b: Option<bool>| LearnerProfile {
            referred_by_social_prescriber: b,
            ..londoner()
        };
        assert_gets(T, &course, &with(Some(true)), DOCS, "referred");
        assert_full_not_met(&course, &with(Some(false)), "not referred");
        assert_full_not_stated(
            T,
            &course,
            &with(None),
            vec![Condition::ReferredBySocialPrescriber],
            "unstated",
        );
    }
}

#[test]
fn fully_funded_template_concession_costs_nothing() {
    let c = Template::FirstFull19To23
        .concession(Level::L2, &[Category::Digital], 0)
        .expect("applies");
    let course = course_with(Level::L2, &[Category::Digital], FULL, vec![c]);
    let learner = LearnerProfile {
        age: Some(19),
        highest_qualification: Some(Level::NonAccredited),
        ..londoner()
    };
    let e = eval(&course, &learner);
    assert_eq!(e.fee_pence, Some(0));
    assert_eq!(e.concession.map(|a| a.index), Some(0));
    // And the base fixture on its own has no concession at all.
    let e = eval(&valid_course(), &learner);
    assert_eq!(e.fee_pence, Some(valid_course().fees.full_fee_pence));
    assert_eq!(e.concession, None);
}
