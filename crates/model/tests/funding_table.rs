//! The fee answer for London, as a truth table written from the published facts the rule sets
//! cite — not from the evaluator. Each expected fee below is worked out by hand from:
//!
//! - GLA low-wage threshold = London Living Wage × 37.5 h × 52 weeks, the LLW in force on
//!   1 August: 2025-26 £13.85 → £27,007.50; 2026-27 £14.80 → £28,860 (Living Wage Foundation
//!   rates as reported by onlondon.co.uk and the Evening Standard; annualisation as FE Week's
//!   £19,890 = £10.20 × 1950 and WAES's £25,642.50 = £13.15 × 1950). "Below" is strict.
//! - DfE/ESFA 2025-26 earnings threshold £25,750 (gov.uk ASF funding rules 2025 to 2026).
//! - GLA since 2022-23: no three-year residency for Londoners and no proof of benefit, so
//!   "unemployed and looking for work" is enough (london.gov.uk MRAP update; FE News 2022).
//!   DfE: the learner claims JSA/UC/ESA, has 3 years' UK residence and lives outside London.
//! - Legal entitlements: English and maths to level 2 at 19+ without GCSE 4/C; first full
//!   level 2/3 at 19–23; ages on 31 August of the academic year.
//!
//! The courses are published as a provider would, with the named templates; each question is
//! asked on the year's reference date (31 August) unless the row says otherwise.

mod common;

use chrono::NaiveDate;
use common::{date, nobody, req, valid_course};
use prospectus_model::{
    Answer, Category, Condition, Context, Course, Employment, Fact, LearnerProfile, Level, RuleSet,
    RuleSetId, Template, evaluate,
};

const SOUTHWARK: &str = "E09000028";
/// Maidstone (Kent): a non-London district.
const MAIDSTONE: &str = "E07000110";

// The cited facts, as literals (checked against the compiled data below).
const GLA_25_26: u32 = 2_700_750;
const GLA_26_27: u32 = 2_886_000;
const DFE_25_26: u32 = 2_575_000;

#[test]
fn the_compiled_rule_sets_carry_the_cited_facts() {
    let gla25 = RuleSet::get(RuleSetId::Gla2025_26);
    let gla26 = RuleSet::get(RuleSetId::Gla2026_27);
    let dfe25 = RuleSet::get(RuleSetId::Esfa2025_26);
    // £13.85 × 37.5 × 52 and £14.80 × 37.5 × 52, in pence.
    assert_eq!(1385 * 75 * 52 / 2, GLA_25_26);
    assert_eq!(1480 * 75 * 52 / 2, GLA_26_27);
    assert_eq!(gla25.low_wage_threshold_pence.value, Some(GLA_25_26));
    assert_eq!(gla26.low_wage_threshold_pence.value, Some(GLA_26_27));
    assert_eq!(dfe25.low_wage_threshold_pence.value, Some(DFE_25_26));
    assert_eq!(
        RuleSet::get(RuleSetId::Esfa2026_27)
            .low_wage_threshold_pence
            .value,
        None,
        "not found published: a required parameter"
    );
    for r in [gla25, gla26] {
        assert!(!r.three_year_residency.value);
        assert!(!r.unemployed_must_claim_benefit.value);
        assert_eq!(r.fund.value, "Adult Skills Fund");
    }
    assert!(dfe25.three_year_residency.value);
    assert!(dfe25.unemployed_must_claim_benefit.value);
    for r in prospectus_model::RULE_SETS {
        for s in [
            r.fund.source,
            r.low_wage_threshold_pence.source,
            r.three_year_residency.source,
            r.unemployed_must_claim_benefit.source,
            r.adult_age_min.source,
        ] {
            assert!(!s.trim().is_empty(), "{}: every value has a source", r.id);
        }
    }
    assert_eq!(
        gla25.reference_date(),
        date(2025, 8, 31),
        "ages on 31 August"
    );
}

// ---------------------------------------------------------------- courses

fn tmpl(t: Template, c: &Course) -> prospectus_model::Concession {
    t.concession(c.level, &c.categories, 0)
        .unwrap_or_else(|e| panic!("{t}: {e}"))
}

fn course(level: Level, cat: Category, full: u32, templates: &[Template]) -> Course {
    let mut c = valid_course();
    c.level = level;
    c.categories = vec![cat];
    c.fees.full_fee_pence = full;
    c.fees.concessions = templates.iter().map(|t| tmpl(*t, &c)).collect();
    c
}

/// Level 2 digital, £300: every route a level 2 course can carry.
fn level2() -> Course {
    course(
        Level::L2,
        Category::Digital,
        30_000,
        &[
            Template::FirstFull19To23,
            Template::LowWage24PlusFirstFull,
            Template::LowWageUpToLevel2,
            Template::UnemployedUpToLevel2,
        ],
    )
}

/// Level 3 business, £900: the first-full routes only.
fn level3() -> Course {
    course(
        Level::L3,
        Category::Employability,
        90_000,
        &[Template::FirstFull19To23, Template::LowWage24PlusFirstFull],
    )
}

/// Functional maths level 1, £200: the English & maths entitlement.
fn maths() -> Course {
    course(
        Level::L1,
        Category::Maths,
        20_000,
        &[Template::EnglishMaths19Plus, Template::UnemployedUpToLevel2],
    )
}

/// ESOL Entry 3, £150.
fn esol() -> Course {
    course(
        Level::Entry,
        Category::Esol,
        15_000,
        &[
            Template::LowWageEsolUpToLevel2,
            Template::UnemployedUpToLevel2,
        ],
    )
}

/// A Londoners-only wellbeing course, £60: free on referral, £10 on benefits.
fn wellbeing() -> Course {
    let mut c = course(
        Level::NonAccredited,
        Category::WellbeingMentalHealth,
        6_000,
        &[Template::SocialPrescriberReferral],
    );
    let mut benefits = tmpl(Template::MeansTestedBenefits, &c);
    benefits.fee_pence = 1_000;
    c.fees.concessions.push(benefits);
    c.eligibility = vec![req(Condition::ResidentInLondon, vec![])];
    c
}

/// The level 2 course, funded by DfE (a non-London provider names its set).
fn level2_dfe() -> Course {
    let mut c = level2();
    c.funding_rules = Some(RuleSetId::Esfa2025_26);
    c
}

// ---------------------------------------------------------------- profiles

fn londoner(age: u8) -> LearnerProfile {
    LearnerProfile {
        age: Some(age),
        borough: Some(SOUTHWARK.into()),
        ..nobody()
    }
}

fn employed(age: u8, pence: u32) -> LearnerProfile {
    LearnerProfile {
        employment: Some(Employment::Employed),
        annual_gross_earnings_pence: Some(pence),
        ..londoner(age)
    }
}

fn unemployed(age: u8, on_uc: bool) -> LearnerProfile {
    LearnerProfile {
        employment: Some(Employment::Unemployed),
        claiming_jobseeker_benefits: Some(on_uc),
        ..londoner(age)
    }
}

fn holding(mut p: LearnerProfile, level: Level) -> LearnerProfile {
    p.highest_qualification = Some(level);
    p
}

fn year(r: RuleSetId) -> Context {
    Context {
        today: RuleSet::get(r).reference_date(),
        default_rules: Some(r),
    }
}

/// What a row expects.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// Eligible, paying this, by this route (`None`: the full fee, no route).
    Pays(u32, Option<Template>),
    /// Eligible, paying this, with a cheaper route that these facts would unlock.
    PaysUnless(u32, Vec<Fact>),
    NotEligible,
    DependsOn(Vec<Fact>),
}

struct Row {
    what: &'static str,
    ctx: Context,
    course: Course,
    learner: LearnerProfile,
    want: Want,
}

fn row(
    what: &'static str,
    r: RuleSetId,
    course: Course,
    learner: LearnerProfile,
    want: Want,
) -> Row {
    Row {
        what,
        ctx: year(r),
        course,
        learner,
        want,
    }
}

fn rows() -> Vec<Row> {
    use RuleSetId::{Esfa2025_26 as DFE25, Gla2025_26 as Y25, Gla2026_27 as Y26};
    use Template as T;
    use Want::*;
    let l2_first = |p| holding(p, Level::L1);
    let l2_held = |p| holding(p, Level::L2);
    vec![
        // Ages 18, 19, 23, 24, 60 on the level 2 course.
        row(
            "18, unemployed on UC: the ASF starts at 19, pays full",
            Y25,
            level2(),
            l2_first(unemployed(18, true)),
            Pays(30_000, None),
        ),
        row(
            "19, unemployed on UC, first level 2: the 19-23 entitlement",
            Y25,
            level2(),
            l2_first(unemployed(19, true)),
            Pays(0, Some(T::FirstFull19To23)),
        ),
        row(
            "23, no level 2, not working: 19-23 entitlement",
            Y25,
            level2(),
            l2_first(LearnerProfile {
                employment: Some(Employment::NotLooking),
                ..londoner(23)
            }),
            Pays(0, Some(T::FirstFull19To23)),
        ),
        row(
            "24, no level 2, not working: past 23, not low wage: full",
            Y25,
            level2(),
            l2_first(LearnerProfile {
                employment: Some(Employment::NotLooking),
                ..londoner(24)
            }),
            Pays(30_000, None),
        ),
        row(
            "60, employed under the GLA threshold, holds level 2: low wage up to level 2",
            Y25,
            level2(),
            l2_held(employed(60, 1_500_000)),
            Pays(0, Some(T::LowWageUpToLevel2)),
        ),
        // Unemployed on UC vs not claiming: GLA funds both; DfE only the claimant.
        row(
            "35 unemployed on UC, holds level 2 (GLA)",
            Y25,
            level2(),
            l2_held(unemployed(35, true)),
            Pays(0, Some(T::UnemployedUpToLevel2)),
        ),
        row(
            "35 unemployed not claiming, holds level 2 (GLA: no proof of benefit)",
            Y25,
            level2(),
            l2_held(unemployed(35, false)),
            Pays(0, Some(T::UnemployedUpToLevel2)),
        ),
        row(
            "35 unemployed, claiming not stated (GLA does not ask)",
            Y25,
            level2(),
            l2_held(LearnerProfile {
                employment: Some(Employment::Unemployed),
                ..londoner(35)
            }),
            Pays(0, Some(T::UnemployedUpToLevel2)),
        ),
        row(
            "35 unemployed on UC, Kent, 3 years resident (DfE)",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(true),
                ..unemployed(35, true)
            }),
            Pays(0, Some(T::UnemployedUpToLevel2)),
        ),
        row(
            "35 unemployed not claiming, Kent (DfE asks for the claim)",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(true),
                ..unemployed(35, false)
            }),
            Pays(30_000, None),
        ),
        row(
            "35 unemployed, claiming not stated, Kent (DfE): ask",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(true),
                employment: Some(Employment::Unemployed),
                ..londoner(35)
            }),
            PaysUnless(30_000, vec![Fact::ClaimingJobseekerBenefits]),
        ),
        row(
            "35 unemployed on UC, Kent, under 3 years in the UK (DfE)",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(false),
                ..unemployed(35, true)
            }),
            Pays(30_000, None),
        ),
        row(
            "35 unemployed on UC, Londoner on a DfE-funded course: not DfE's to fund",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                uk_resident_3_years: Some(true),
                ..unemployed(35, true)
            }),
            Pays(30_000, None),
        ),
        // Employed just under / at / just over the GLA threshold, two academic years.
        row(
            "23 holds L2, £27,007.49 in 2025-26: low wage",
            Y25,
            level2(),
            l2_held(employed(23, GLA_25_26 - 1)),
            Pays(0, Some(T::LowWageUpToLevel2)),
        ),
        row(
            "23 holds L2, £27,007.50 in 2025-26: at the threshold is not below",
            Y25,
            level2(),
            l2_held(employed(23, GLA_25_26)),
            Pays(30_000, None),
        ),
        row(
            "23 holds L2, £27,007.51 in 2025-26",
            Y25,
            level2(),
            l2_held(employed(23, GLA_25_26 + 1)),
            Pays(30_000, None),
        ),
        row(
            "24 holds L2, £28,859.99 in 2026-27: low wage",
            Y26,
            level2(),
            l2_held(employed(24, GLA_26_27 - 1)),
            Pays(0, Some(T::LowWageUpToLevel2)),
        ),
        row(
            "24 holds L2, £28,860 in 2026-27: at the threshold",
            Y26,
            level2(),
            l2_held(employed(24, GLA_26_27)),
            Pays(30_000, None),
        ),
        row(
            "24 holds L2, £28,860.01 in 2026-27",
            Y26,
            level2(),
            l2_held(employed(24, GLA_26_27 + 1)),
            Pays(30_000, None),
        ),
        row(
            "30 holds L2, £27,500 in 2025-26: over that year's threshold",
            Y25,
            level2(),
            l2_held(employed(30, 2_750_000)),
            Pays(30_000, None),
        ),
        row(
            "30 holds L2, £27,500 in 2026-27: under the new threshold",
            Y26,
            level2(),
            l2_held(employed(30, 2_750_000)),
            Pays(0, Some(T::LowWageUpToLevel2)),
        ),
        row(
            "30, £25,800 on a DfE course in Kent: over DfE's £25,750",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(true),
                ..employed(30, 2_580_000)
            }),
            Pays(30_000, None),
        ),
        row(
            "30, £25,749.99 on a DfE course in Kent",
            DFE25,
            level2_dfe(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                uk_resident_3_years: Some(true),
                ..employed(30, DFE_25_26 - 1)
            }),
            Pays(0, Some(T::LowWageUpToLevel2)),
        ),
        // First full level 2 / 3 vs already holding one.
        row(
            "19, first full level 2, earning well",
            Y25,
            level2(),
            l2_first(employed(19, 4_000_000)),
            Pays(0, Some(T::FirstFull19To23)),
        ),
        row(
            "19, already holds level 2, earning well",
            Y25,
            level2(),
            l2_held(employed(19, 4_000_000)),
            Pays(30_000, None),
        ),
        row(
            "19, qualifications not stated, earning well: ask",
            Y25,
            level2(),
            employed(19, 4_000_000),
            PaysUnless(30_000, vec![Fact::HighestQualification]),
        ),
        row(
            "24, low wage, first level 3",
            Y25,
            level3(),
            l2_held(employed(24, GLA_25_26 - 1)),
            Pays(0, Some(T::LowWage24PlusFirstFull)),
        ),
        row(
            "24, low wage, holds level 3 already",
            Y25,
            level3(),
            holding(employed(24, GLA_25_26 - 1), Level::L3),
            Pays(90_000, None),
        ),
        row(
            "23, first level 3, earning well",
            Y25,
            level3(),
            l2_held(employed(23, 4_000_000)),
            Pays(0, Some(T::FirstFull19To23)),
        ),
        row(
            "60, at the threshold, first level 3",
            Y26,
            level3(),
            l2_held(employed(60, GLA_26_27)),
            Pays(90_000, None),
        ),
        // GCSE maths held / not / not stated (a level 2 in something else does not count).
        row(
            "40, holds L2 but no GCSE maths: maths entitlement",
            Y25,
            maths(),
            l2_held(LearnerProfile {
                gcse_maths_grade4: Some(false),
                ..employed(40, 4_000_000)
            }),
            Pays(0, Some(T::EnglishMaths19Plus)),
        ),
        row(
            "40, holds GCSE maths 4/C",
            Y25,
            maths(),
            l2_held(LearnerProfile {
                gcse_maths_grade4: Some(true),
                ..employed(40, 4_000_000)
            }),
            Pays(20_000, None),
        ),
        row(
            "40, GCSE maths not stated: ask",
            Y25,
            maths(),
            l2_held(employed(40, 4_000_000)),
            PaysUnless(20_000, vec![Fact::GcseMaths]),
        ),
        row(
            "40, GCSE English held, maths not stated: English says nothing about maths",
            Y25,
            maths(),
            LearnerProfile {
                gcse_english_grade4: Some(true),
                ..employed(40, 4_000_000)
            },
            PaysUnless(20_000, vec![Fact::GcseMaths]),
        ),
        row(
            "18, no GCSE maths: under 19",
            Y25,
            maths(),
            LearnerProfile {
                gcse_maths_grade4: Some(false),
                ..employed(18, 4_000_000)
            },
            Pays(20_000, None),
        ),
        // ESOL for a low-waged and an unemployed learner.
        row(
            "ESOL, 35 employed £20,000",
            Y25,
            esol(),
            employed(35, 2_000_000),
            Pays(0, Some(T::LowWageEsolUpToLevel2)),
        ),
        row(
            "ESOL, 35 employed £28,000 in 2025-26",
            Y25,
            esol(),
            employed(35, 2_800_000),
            Pays(15_000, None),
        ),
        row(
            "ESOL, 35 employed £28,000 in 2026-27",
            Y26,
            esol(),
            employed(35, 2_800_000),
            Pays(0, Some(T::LowWageEsolUpToLevel2)),
        ),
        row(
            "ESOL, 35 unemployed not claiming",
            Y26,
            esol(),
            unemployed(35, false),
            Pays(0, Some(T::UnemployedUpToLevel2)),
        ),
        row(
            "ESOL, 35 employment not stated: ask",
            Y25,
            esol(),
            londoner(35),
            PaysUnless(15_000, vec![Fact::Employment]),
        ),
        row(
            "ESOL, 35 employed, earnings not stated: ask",
            Y25,
            esol(),
            LearnerProfile {
                employment: Some(Employment::Employed),
                ..londoner(35)
            },
            PaysUnless(15_000, vec![Fact::Earnings]),
        ),
        // Social-prescriber referral concessions (a local offer: any age, no income test).
        row(
            "wellbeing, referred by a social prescriber",
            Y25,
            wellbeing(),
            LearnerProfile {
                referred_by_social_prescriber: Some(true),
                ..londoner(18)
            },
            Pays(0, Some(T::SocialPrescriberReferral)),
        ),
        row(
            "wellbeing, not referred, on benefits",
            Y25,
            wellbeing(),
            LearnerProfile {
                referred_by_social_prescriber: Some(false),
                means_tested_benefits: Some(true),
                ..londoner(60)
            },
            Pays(1_000, Some(T::MeansTestedBenefits)),
        ),
        row(
            "wellbeing, on benefits, referral not stated: the free route to ask about",
            Y25,
            wellbeing(),
            LearnerProfile {
                means_tested_benefits: Some(true),
                ..londoner(60)
            },
            PaysUnless(1_000, vec![Fact::ReferredBySocialPrescriber]),
        ),
        row(
            "wellbeing, nothing stated but London",
            Y25,
            wellbeing(),
            londoner(30),
            PaysUnless(
                6_000,
                vec![Fact::ReferredBySocialPrescriber, Fact::MeansTestedBenefits],
            ),
        ),
        // Non-London resident.
        row(
            "non-Londoner on a Londoners-only course: not eligible, no fee",
            Y25,
            wellbeing(),
            LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                referred_by_social_prescriber: Some(true),
                ..nobody()
            },
            NotEligible,
        ),
        row(
            "borough not stated on a Londoners-only course: depends on it",
            Y25,
            wellbeing(),
            LearnerProfile {
                referred_by_social_prescriber: Some(true),
                ..nobody()
            },
            DependsOn(vec![Fact::Borough]),
        ),
        row(
            "non-Londoner, unemployed on UC, GLA-funded level 2: GLA funds Londoners",
            Y25,
            level2(),
            l2_held(LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                ..unemployed(35, true)
            }),
            Pays(30_000, None),
        ),
        row(
            "non-Londoner under the GLA threshold, GLA-funded ESOL",
            Y26,
            esol(),
            LearnerProfile {
                borough: Some(MAIDSTONE.into()),
                ..employed(35, 2_000_000)
            },
            Pays(15_000, None),
        ),
        row(
            "borough not stated, unemployed, GLA-funded level 2: ask where they live",
            Y25,
            level2(),
            l2_held(LearnerProfile {
                borough: None,
                ..unemployed(35, true)
            }),
            PaysUnless(30_000, vec![Fact::Borough]),
        ),
    ]
}

fn check(r: &Row) -> Result<(), String> {
    let e = evaluate(&r.course, &r.learner, &r.ctx);
    let got = match e.answer {
        Answer::NotEligible => Want::NotEligible,
        Answer::DependsOn => Want::DependsOn(e.depends_on.clone()),
        Answer::Eligible => {
            let fee = e.fee_pence.ok_or("eligible without a fee")?;
            let route = e.concession.as_ref().and_then(|c| c.template);
            if e.possible_concessions.is_empty() {
                Want::Pays(fee, route)
            } else {
                let mut unlock = Vec::new();
                for p in &e.possible_concessions {
                    for f in &p.unlock {
                        if !unlock.contains(f) {
                            unlock.push(*f);
                        }
                    }
                }
                Want::PaysUnless(fee, unlock)
            }
        }
    };
    if e.answer != Answer::Eligible && e.fee_pence.is_some() {
        return Err("a fee beside a non-eligible answer".into());
    }
    if got == r.want {
        Ok(())
    } else {
        Err(format!("want {:?}, got {:?}", r.want, got))
    }
}

#[test]
fn the_london_truth_table() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            check(r).err().map(|e| {
                format!(
                    "{} [{}]: {e}",
                    r.what,
                    r.ctx.default_rules.map_or("", |x| x.as_str())
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- age on 31 August

fn on(today: NaiveDate, r: RuleSetId) -> Context {
    Context {
        today,
        default_rules: Some(r),
    }
}

#[test]
fn age_is_taken_on_31_august_of_the_academic_year() {
    let course = level2();
    let unemployed_born = |dob: NaiveDate| LearnerProfile {
        date_of_birth: Some(dob),
        ..l2_first_unemployed()
    };
    let asked = on(date(2026, 12, 1), RuleSetId::Gla2026_27);
    // Born 31 August 2007: 19 on 31 August 2026.
    let e = evaluate(&course, &unemployed_born(date(2007, 8, 31)), &asked);
    assert_eq!(e.fee_pence, Some(0));
    // Born 1 September 2007: 18 on 31 August 2026, though 19 when asked in December.
    let e = evaluate(&course, &unemployed_born(date(2007, 9, 1)), &asked);
    assert_eq!(e.fee_pence, Some(30_000));
    assert!(e.possible_concessions.is_empty());
    // Only "19" given in December: 18 or 19 on 31 August, so the date of birth decides.
    let e = evaluate(
        &course,
        &LearnerProfile {
            age: Some(19),
            ..l2_first_unemployed()
        },
        &asked,
    );
    assert_eq!(e.fee_pence, Some(30_000));
    assert_eq!(e.possible_concessions[0].unlock, vec![Fact::DateOfBirth]);
    // "20" in December is 19 or 20 on 31 August: either way 19+.
    let e = evaluate(
        &course,
        &LearnerProfile {
            age: Some(20),
            ..l2_first_unemployed()
        },
        &asked,
    );
    assert_eq!(e.fee_pence, Some(0));
}

fn l2_first_unemployed() -> LearnerProfile {
    LearnerProfile {
        age: None,
        ..holding(unemployed(19, true), Level::L1)
    }
}

#[test]
fn a_london_node_defaults_to_the_gla_set_for_the_current_academic_year() {
    let c = level2();
    let p = l2_first_unemployed();
    for (today, want) in [
        (date(2025, 7, 31), RuleSetId::Gla2024_25),
        (date(2025, 8, 1), RuleSetId::Gla2025_26),
        (date(2026, 12, 1), RuleSetId::Gla2026_27),
        // No 2027-28 set compiled in: the latest one, and the answer says which.
        (date(2027, 9, 1), RuleSetId::Gla2026_27),
    ] {
        assert_eq!(
            evaluate(&c, &p, &Context::london(today)).rules,
            want,
            "{today}"
        );
    }
    // A course that names its set is evaluated under it, whatever the node's default.
    let mut named = c.clone();
    named.funding_rules = Some(RuleSetId::Esfa2025_26);
    assert_eq!(
        evaluate(&named, &p, &Context::london(date(2026, 12, 1))).rules,
        RuleSetId::Esfa2025_26
    );
}
