//! Funding rule sets by funder and academic year, compiled in as data with the source of every
//! value beside it.
//!
//! This module exists because adult education funding in London is devolved to the Mayor: the
//! GLA's rules, not the national ones, decide who is fully funded, and both change every
//! academic year. Fee templates ([`crate::Template`]) carry rule-set-relative conditions
//! ([`crate::Condition::FundingLowWage`], …) whose values are looked up here when a course is
//! evaluated, so a course names *which* rules fund it and the numbers live in one place.
//!
//! A value we could not find published is `None` and becomes a required parameter: a course
//! funded under that set must state it on its own condition (validation refuses it otherwise).
//! Nothing here is guessed; where a value is our reading of a source, the citation says so.

use crate::course::named_enum;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

named_enum! {
    /// A named rule set: funder and academic year (1 August to 31 July).
    RuleSetId {
        Gla2024_25 = "gla-2024-25" / "GLA Adult Skills Fund 2024-25",
        Gla2025_26 = "gla-2025-26" / "GLA Adult Skills Fund 2025-26",
        Gla2026_27 = "gla-2026-27" / "GLA Adult Skills Fund 2026-27",
        Esfa2024_25 = "esfa-2024-25" / "ESFA Adult Skills Fund 2024-25 (non-devolved England)",
        Esfa2025_26 = "esfa-2025-26" / "DfE (formerly ESFA) Adult Skills Fund 2025-26 (non-devolved England)",
        Esfa2026_27 = "esfa-2026-27" / "DfE (formerly ESFA) Adult Skills Fund 2026-27 (non-devolved England)",
    }
}

named_enum! {
    /// Who funds adult skills for a learner: the Mayor of London for London residents, the
    /// Department for Education (ESFA until March 2025) in non-devolved England.
    Funder {
        Gla = "gla" / "Greater London Authority (Mayor of London)",
        Esfa = "esfa" / "Department for Education / ESFA",
    }
}

/// A value and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cited<T> {
    pub value: T,
    /// URL(s) and what they say; "reading:" marks our interpretation of them.
    pub source: &'static str,
}

const fn cited<T>(value: T, source: &'static str) -> Cited<T> {
    Cited { value, source }
}

/// One funder's rules for one academic year, as the fee templates need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSet {
    pub id: RuleSetId,
    pub funder: Funder,
    /// The calendar year the academic year starts in (1 August `academic_year`).
    pub academic_year: i32,
    /// The fund's name that year.
    pub fund: Cited<&'static str>,
    /// Employed learners earning (gross a year) strictly below this are "low wage" and fully
    /// funded on the low-wage routes. `None`: not found published; a required parameter.
    pub low_wage_threshold_pence: Cited<Option<u32>>,
    /// The learner must have lived in the UK for the 3 years before the first day of learning.
    pub three_year_residency: Cited<bool>,
    /// The unemployed route needs the learner to claim JSA, UC or ESA and look for work (and
    /// prove it); otherwise being unemployed and looking for work is enough.
    pub unemployed_must_claim_benefit: Cited<bool>,
    /// Ages on the reference date: adult funding from `adult_age_min`; the 19–23 legal
    /// entitlements up to `young_adult_age_max`; the 24+ routes from one above it.
    pub adult_age_min: Cited<u8>,
    pub young_adult_age_max: Cited<u8>,
}

const LLW_ANNUALISED: &str = "annualised as the GLA and GLA-funded providers do: hourly rate × 37.5 hours × 52 weeks (FE Week 2018-06-06: London living wage 'currently £19,890 a year' = £10.20 × 1950; Westminster Adult Education Service https://www.waes.ac.uk/learner-services/fees-funding/ : 'London Living Wage is currently £25,642.50 annually' = £13.15 × 1950). Reading: the LLW in force on 1 August of the academic year applies; the GLA's own figure for the year was not found";

const GLA_LLW_SINCE_2019: &str = "https://feweek.co.uk/2018/06/06/londoners-on-the-living-wage-can-access-free-training-next-year/ : adults in the capital earning less than the London living wage have training fully funded from 2019/20";

const GLA_NO_3_YEARS: &str = "https://www.london.gov.uk/programmes-strategies/communities-and-social-justice/migrants-and-refugees/english-esol-classes-london/gla-adult-education-budget-update-migrant-and-refugee-advisory-panel-mrap-and-civil-society : from November 2022 (2022-23 rules, paragraph 35) British, Irish and long-term-permission Londoners are eligible from their first day in London; previously 3 years' UK residence was required. Also https://feweek.co.uk/adult-funding-rates-set-to-rise-in-london : 'removing the three-year residency requirement'";

const GLA_NO_BENEFIT_PROOF: &str = "https://www.fenews.co.uk/skills/mayor-announces-major-new-measures-that-will-help-400000-more-londoners-get-the-skills-they-need-to-get-into-jobs-and-out-of-poverty/ and https://feweek.co.uk/adult-funding-rates-set-to-rise-in-london : from 2022-23 Londoners access funded training 'without having to prove they receive state benefits' (an extra 400,000 learners). Reading: unemployed and looking for work is enough";

const GLA_ASF: &str = "https://www.london.gov.uk/md3195-gla-approach-national-adult-education-reforms-and-2024-25-adult-skills-fund-indicative : the AEB is known as the Adult Skills Fund (ASF) from the 2024-25 academic year, in London as nationally";

const ESFA_ASF: &str = "https://www.gov.uk/government/publications/adult-skills-fund-funding-rules-for-2024-to-2025/adult-skills-fund-funding-rules-2024-to-2025 : the ASF has replaced the AEB from 2024 to 2025";

const ESFA_3_YEARS: &str = "https://www.gov.uk/government/publications/adult-skills-fund-funding-rules-for-2024-to-2025/adult-skills-fund-funding-rules-2024-to-2025 and https://leicesteradulted.ac.uk/learner-services/fees-and-eligibility/ : ordinarily resident in the UK for at least the previous 3 years on the first day of learning";

const ESFA_3_YEARS_UNVERIFIED: &str = "https://www.gov.uk/government/publications/adult-skills-fund-funding-rules/adult-skills-fund-funding-rules-2025-to-2026 lists a 'simplification of the ASF residency eligibility criteria starting from August 2025' whose text was not read; the 2024-25 three-year rule is kept until verified";

const ESFA_UNEMPLOYED: &str = "http://feconnect.education.gov.uk/forums/topic/unemployed-funding/ quoting the national rules (14/15, 46.6/46.9): full funding for the unemployed turns on receiving JSA, ESA (WRAG) or UC and wanting work. Reading, not verified against the ASF text: still so";

const ADULT_AGE: &str = "legal entitlements (Apprenticeships, Skills, Children and Learning Act 2009) as listed at https://northyorks.gov.uk/education-and-learning/adult-education-and-training-courses/information-current-learners/adult-learning-and-skills-service-fees-and-charges-policy-202425 : English and maths for 19 and over, first full level 2 and level 3 for 19 to 23; age is on 31 August of the academic year (https://leicesteradulted.ac.uk/learner-services/fees-and-eligibility/ : 'aged 19 or older on 31 August within the 2024-25 academic year')";

/// Every rule set compiled in.
pub const RULE_SETS: &[RuleSet] = &[
    RuleSet {
        id: RuleSetId::Gla2024_25,
        funder: Funder::Gla,
        academic_year: 2024,
        fund: cited("Adult Skills Fund", GLA_ASF),
        low_wage_threshold_pence: cited(
            Some(2_564_250),
            "£25,642.50: London Living Wage £13.15 an hour (in force from October 2023 to October 2024: https://www.onlondon.co.uk/london-living-wage-rises-to-13-85-per-hour/ 'the previous rate of £13.15'), annualised; see LLW_ANNUALISED",
        ),
        three_year_residency: cited(false, GLA_NO_3_YEARS),
        unemployed_must_claim_benefit: cited(false, GLA_NO_BENEFIT_PROOF),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
    RuleSet {
        id: RuleSetId::Gla2025_26,
        funder: Funder::Gla,
        academic_year: 2025,
        fund: cited("Adult Skills Fund", GLA_ASF),
        low_wage_threshold_pence: cited(
            Some(2_700_750),
            "£27,007.50: London Living Wage £13.85 an hour (from October 2024, 'the 2024/25 rate': https://www.onlondon.co.uk/london-living-wage-rises-to-13-85-per-hour/), annualised; see LLW_ANNUALISED",
        ),
        three_year_residency: cited(false, GLA_NO_3_YEARS),
        unemployed_must_claim_benefit: cited(false, GLA_NO_BENEFIT_PROOF),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
    RuleSet {
        id: RuleSetId::Gla2026_27,
        funder: Funder::Gla,
        academic_year: 2026,
        fund: cited("Adult Skills Fund", GLA_ASF),
        low_wage_threshold_pence: cited(
            Some(2_886_000),
            "£28,860: London Living Wage £14.80 an hour (announced 22 October 2025, Evening Standard via https://news.anyfans.com/london-living-wage-jumps-by-inflation-busting-6.9%25-to-%C2%A314.80-an-hour-in-boost-to-150%2C000-low-paid-workers ; '£28,860 per year' at 37.5 hours: https://visitsoflondon.com/?p=463), annualised; see LLW_ANNUALISED",
        ),
        three_year_residency: cited(false, GLA_NO_3_YEARS),
        unemployed_must_claim_benefit: cited(false, GLA_NO_BENEFIT_PROOF),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
    RuleSet {
        id: RuleSetId::Esfa2024_25,
        funder: Funder::Esfa,
        academic_year: 2024,
        fund: cited("Adult Skills Fund", ESFA_ASF),
        low_wage_threshold_pence: cited(
            Some(2_500_000),
            "£25,000: https://fenews.co.uk/skills/adult-skills-fund-major-overhaul-of-adult-education-funding-for-24-25 'a new earnings threshold of £25,000 per annum'; confirmed by the 2025-26 rules 'from £25,000 to £25,750'",
        ),
        three_year_residency: cited(true, ESFA_3_YEARS),
        unemployed_must_claim_benefit: cited(true, ESFA_UNEMPLOYED),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
    RuleSet {
        id: RuleSetId::Esfa2025_26,
        funder: Funder::Esfa,
        academic_year: 2025,
        fund: cited(
            "Adult Skills Fund",
            "https://www.gov.uk/government/publications/adult-skills-fund-funding-rules/adult-skills-fund-funding-rules-2025-to-2026 (ESFA closed 31 March 2025; now DfE adult skills fund)",
        ),
        low_wage_threshold_pence: cited(
            Some(2_575_000),
            "£25,750: https://www.gov.uk/government/publications/adult-skills-fund-funding-rules/adult-skills-fund-funding-rules-2025-to-2026 (updated 23 July 2025) 'we have increased the earnings threshold by 3% from £25,000 to £25,750'",
        ),
        three_year_residency: cited(true, ESFA_3_YEARS_UNVERIFIED),
        unemployed_must_claim_benefit: cited(true, ESFA_UNEMPLOYED),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
    RuleSet {
        id: RuleSetId::Esfa2026_27,
        funder: Funder::Esfa,
        academic_year: 2026,
        fund: cited(
            "Adult Skills Fund",
            "assumed unchanged from 2025-26; 2026-27 rules not found",
        ),
        low_wage_threshold_pence: cited(
            None,
            "not found: the 2026-27 DfE ASF earnings threshold was not found published; a course funded under this set states max_annual_gross_pence",
        ),
        three_year_residency: cited(true, ESFA_3_YEARS_UNVERIFIED),
        unemployed_must_claim_benefit: cited(true, ESFA_UNEMPLOYED),
        adult_age_min: cited(19, ADULT_AGE),
        young_adult_age_max: cited(23, ADULT_AGE),
    },
];

/// How every GLA low-wage threshold above is derived from the London Living Wage.
pub const LLW_ANNUALISATION_SOURCE: &str = LLW_ANNUALISED;

/// Also cited for the GLA sets: low-wage full funding in London since 2019/20.
pub const GLA_LOW_WAGE_SINCE_2019_SOURCE: &str = GLA_LLW_SINCE_2019;

/// The academic year (its first calendar year) that `date` falls in: 1 August to 31 July.
pub fn academic_year_of(date: NaiveDate) -> i32 {
    if date.month() >= 8 {
        date.year()
    } else {
        date.year() - 1
    }
}

impl RuleSet {
    pub fn get(id: RuleSetId) -> &'static RuleSet {
        RULE_SETS
            .iter()
            .find(|r| r.id == id)
            .unwrap_or(&RULE_SETS[0])
    }

    /// The funder's set for the academic year `today` is in; if none is compiled in for that
    /// year, the latest earlier one (or, before the first, the earliest).
    pub fn current(funder: Funder, today: NaiveDate) -> &'static RuleSet {
        let year = academic_year_of(today);
        let mine = || RULE_SETS.iter().filter(move |r| r.funder == funder);
        mine()
            .filter(|r| r.academic_year <= year)
            .max_by_key(|r| r.academic_year)
            .or_else(|| mine().min_by_key(|r| r.academic_year))
            .unwrap_or(&RULE_SETS[0])
    }

    /// The funding rules' reference date for ages: 31 August of the academic year.
    pub fn reference_date(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.academic_year, 8, 31).unwrap_or_default()
    }

    /// The low-wage threshold a condition resolves to: its own stated amount, else the set's.
    pub fn low_wage_threshold(&self, stated: Option<u32>) -> Option<u32> {
        stated.or(self.low_wage_threshold_pence.value)
    }
}

/// What the evaluator needs besides the course and the learner: the date of the question (for
/// deriving age on the reference date, and the current academic year) and the node's default
/// rule set for courses that name none. `default_rules: None` means the GLA set for the
/// academic year `today` is in, a London node's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    pub today: NaiveDate,
    pub default_rules: Option<RuleSetId>,
}

impl Context {
    /// A London node's context on `today`.
    pub fn london(today: NaiveDate) -> Self {
        Context {
            today,
            default_rules: None,
        }
    }

    /// The rule set a course is evaluated under: its own, else this context's default.
    pub fn rules_for(&self, named: Option<RuleSetId>) -> &'static RuleSet {
        match named.or(self.default_rules) {
            Some(id) => RuleSet::get(id),
            None => RuleSet::current(Funder::Gla, self.today),
        }
    }
}
