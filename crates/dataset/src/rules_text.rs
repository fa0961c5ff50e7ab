//! The small text language the CSV template uses for eligibility rules, concessions and fees,
//! so a provider can state structured rules in one spreadsheet cell (`age>=19;london-resident`)
//! and the same rules can be written back out unchanged.
//!
//! A rule names one [`Condition`]; the documents that prove it are implied, never typed, so two
//! providers stating the same rule always ask for the same evidence.

use prospectus_model::{Category, Concession, Condition, Document, Level, Requirement, Template};

/// The rule forms, for error messages and docs.
pub(crate) const RULE_FORMS: &str = "age>=N, age<=N, age=N-M, london-resident, \
borough=E09000028 (or a borough name; several joined with /), first-language-not-english, \
unemployed, means-tested-benefits, social-prescriber-referral, low-wage (the funding rules' \
threshold), low-wage<=POUNDS, no-gcse-english, no-gcse-maths, no-gcse-english-or-maths, \
claiming-jobseeker-benefits, in-work-benefits, uk-resident-3-years, funding-age=19-plus|19-23|24-plus, \
funding-unemployed, funding-residency, funding-low-wage<=POUNDS";

/// Separates the items of a list cell (categories, days, rules, concessions).
pub(crate) const LIST_SEP: char = ';';
/// Separates the rules inside one custom concession.
const CUSTOM_RULE_SEP: char = ',';
const CUSTOM_PREFIX: &str = "custom:";

/// Splits a list cell on `;`, trimming items and dropping empty ones (a trailing `;` is fine).
pub(crate) fn split_list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(LIST_SEP)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Documents a learner brings to prove a condition.
pub(crate) fn implied_documents(c: &Condition) -> Vec<Document> {
    match c {
        Condition::Age { .. } => vec![Document::ProofOfIdentityAndAge],
        Condition::ResidentInLondon | Condition::ResidentInBorough { .. } => {
            vec![Document::ProofOfAddress]
        }
        Condition::ResidencyStatus { .. } => vec![Document::ProofOfResidencyStatus],
        Condition::Unemployed => vec![Document::ProofOfUnemployment],
        Condition::MeansTestedBenefits => vec![Document::ProofOfBenefits],
        Condition::LowWage { .. } => vec![Document::Payslips],
        Condition::NoQualificationAtOrAbove { .. } => vec![Document::QualificationsDeclaration],
        Condition::ReferredBySocialPrescriber => vec![Document::ReferralLetter],
        Condition::FirstLanguageNotEnglish => vec![],
        Condition::FundingAge { .. } => vec![Document::ProofOfIdentityAndAge],
        Condition::FundingLowWage { .. } => vec![Document::Payslips],
        Condition::FundingUnemployed => vec![Document::ProofOfUnemployment],
        Condition::ClaimingJobseekerBenefits => vec![Document::ProofOfBenefits],
        Condition::InWorkBenefits => vec![Document::ProofOfBenefits],
        Condition::FundingResidency => vec![Document::ProofOfAddress],
        Condition::UkResident3Years => vec![Document::ProofOfResidencyStatus],
        Condition::NoGcseGrade4 { .. } => vec![Document::QualificationsDeclaration],
    }
}

fn implied_documents_all(cs: &[Condition]) -> Vec<Document> {
    let mut out = Vec::new();
    for c in cs {
        for d in implied_documents(c) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

fn parse_age(s: &str) -> Result<u8, String> {
    s.parse::<u8>()
        .ok()
        .filter(|a| *a <= 120)
        .ok_or_else(|| format!("{} is not an age (0 to 120)", prospectus_model::shown(s)))
}

/// Parses one rule (`age>=19`). Case and spaces are free.
pub(crate) fn parse_rule(rule: &str) -> Result<Condition, String> {
    let compact: String = rule.chars().filter(|c| !c.is_whitespace()).collect();
    let r = compact.to_ascii_lowercase();
    let unknown = || format!("unknown rule {rule:?}; expected one of: {RULE_FORMS}");
    if let Some(n) = r.strip_prefix("age>=") {
        return Ok(Condition::Age {
            min: Some(parse_age(n)?),
            max: None,
        });
    }
    if let Some(n) = r.strip_prefix("age<=") {
        return Ok(Condition::Age {
            min: None,
            max: Some(parse_age(n)?),
        });
    }
    if let Some(range) = r.strip_prefix("age=") {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b) = (parse_age(a)?, parse_age(b)?);
        if a > b {
            return Err(format!("age range {a}-{b} is backwards"));
        }
        return Ok(Condition::Age {
            min: Some(a),
            max: Some(b),
        });
    }
    if r.starts_with("borough=") {
        // Keep the original spelling for names like "Kingston upon Thames".
        let list = rule.split_once('=').map_or("", |(_, v)| v).trim();
        let mut boroughs = Vec::new();
        for item in list.split('/').map(str::trim).filter(|s| !s.is_empty()) {
            match prospectus_geo::find_borough(item) {
                Some(b) => boroughs.push(b.gss_code.to_string()),
                None => {
                    return Err(format!(
                        "{item:?} is not a London borough GSS code (E09000001 to E09000033) or name"
                    ));
                }
            }
        }
        if boroughs.is_empty() {
            return Err("borough= needs a GSS code such as E09000028".into());
        }
        return Ok(Condition::ResidentInBorough { boroughs });
    }
    if let Some(p) = r.strip_prefix("low-wage<=") {
        let pence = parse_pounds(p)?;
        if pence == 0 {
            return Err("the low-wage threshold must be above zero".into());
        }
        return Ok(Condition::LowWage {
            max_annual_gross_pence: pence,
        });
    }
    if let Some(p) = r.strip_prefix("funding-low-wage<=") {
        let pence = parse_pounds(p)?;
        if pence == 0 {
            return Err("the low-wage threshold must be above zero".into());
        }
        return Ok(Condition::FundingLowWage {
            max_annual_gross_pence: Some(pence),
        });
    }
    if let Some(b) = r.strip_prefix("funding-age=") {
        return Ok(Condition::FundingAge { band: b.parse()? });
    }
    match r.as_str() {
        "london-resident" => Ok(Condition::ResidentInLondon),
        "first-language-not-english" => Ok(Condition::FirstLanguageNotEnglish),
        "unemployed" => Ok(Condition::Unemployed),
        "means-tested-benefits" => Ok(Condition::MeansTestedBenefits),
        "social-prescriber-referral" => Ok(Condition::ReferredBySocialPrescriber),
        "low-wage" => Ok(Condition::FundingLowWage {
            max_annual_gross_pence: None,
        }),
        "no-gcse-english" => Ok(Condition::NoGcseGrade4 {
            english: true,
            maths: false,
        }),
        "no-gcse-maths" => Ok(Condition::NoGcseGrade4 {
            english: false,
            maths: true,
        }),
        "no-gcse-english-or-maths" => Ok(Condition::NoGcseGrade4 {
            english: true,
            maths: true,
        }),
        "claiming-jobseeker-benefits" => Ok(Condition::ClaimingJobseekerBenefits),
        "in-work-benefits" => Ok(Condition::InWorkBenefits),
        "uk-resident-3-years" => Ok(Condition::UkResident3Years),
        "funding-unemployed" => Ok(Condition::FundingUnemployed),
        "funding-residency" => Ok(Condition::FundingResidency),
        _ => Err(unknown()),
    }
}

/// The rule text for a condition, or `None` if the template language cannot state it.
pub(crate) fn format_rule(c: &Condition) -> Option<String> {
    Some(match c {
        Condition::Age {
            min: Some(a),
            max: None,
        } => format!("age>={a}"),
        Condition::Age {
            min: None,
            max: Some(b),
        } => format!("age<={b}"),
        Condition::Age {
            min: Some(a),
            max: Some(b),
        } if a <= b => format!("age={a}-{b}"),
        Condition::ResidentInBorough { boroughs } if !boroughs.is_empty() => {
            // Only codes the reader will accept back unchanged.
            for b in boroughs {
                if prospectus_geo::borough(b).is_none_or(|known| known.gss_code != b) {
                    return None;
                }
            }
            format!("borough={}", boroughs.join("/"))
        }
        Condition::ResidentInLondon => "london-resident".into(),
        Condition::FirstLanguageNotEnglish => "first-language-not-english".into(),
        Condition::Unemployed => "unemployed".into(),
        Condition::MeansTestedBenefits => "means-tested-benefits".into(),
        Condition::ReferredBySocialPrescriber => "social-prescriber-referral".into(),
        Condition::FundingLowWage {
            max_annual_gross_pence: None,
        } => "low-wage".into(),
        Condition::FundingLowWage {
            max_annual_gross_pence: Some(p),
        } if *p > 0 => format!("funding-low-wage<={}", format_pounds(*p)),
        Condition::FundingAge { band } => format!("funding-age={}", band.as_str()),
        Condition::FundingUnemployed => "funding-unemployed".into(),
        Condition::FundingResidency => "funding-residency".into(),
        Condition::ClaimingJobseekerBenefits => "claiming-jobseeker-benefits".into(),
        Condition::InWorkBenefits => "in-work-benefits".into(),
        Condition::UkResident3Years => "uk-resident-3-years".into(),
        Condition::NoGcseGrade4 { english, maths } => match (english, maths) {
            (true, false) => "no-gcse-english".into(),
            (false, true) => "no-gcse-maths".into(),
            (true, true) => "no-gcse-english-or-maths".into(),
            (false, false) => return None,
        },
        Condition::LowWage {
            max_annual_gross_pence,
        } if *max_annual_gross_pence > 0 => {
            format!("low-wage<={}", format_pounds(*max_annual_gross_pence))
        }
        _ => return None,
    })
}

/// Parses the `eligibility` cell; all bad rules are reported in one message.
pub(crate) fn parse_eligibility(cell: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for rule in split_list(cell) {
        match parse_rule(rule) {
            Ok(condition) => out.push(Requirement {
                documents: implied_documents(&condition),
                condition,
            }),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs.join("; "))
    }
}

pub(crate) fn format_eligibility(reqs: &[Requirement]) -> Result<String, String> {
    let mut parts = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let rule = format_rule(&r.condition).ok_or_else(|| {
            format!(
                "eligibility[{i}]: the CSV template has no rule for \"{}\"",
                r.condition.describe()
            )
        })?;
        if r.documents != implied_documents(&r.condition) {
            return Err(format!(
                "eligibility[{i}]: documents differ from those the CSV template implies for {rule}"
            ));
        }
        parts.push(rule);
    }
    Ok(parts.join(";"))
}

/// Parses pounds: `120`, `120.5`, `120.50`, `£120`.
pub(crate) fn parse_pounds(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_prefix('£').unwrap_or(t).trim();
    let bad = || {
        format!(
            "{} is not an amount in pounds such as 120 or 120.50",
            prospectus_model::shown(s)
        )
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (t.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let pounds: u64 = whole.parse().map_err(|_| bad())?;
    let pence: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    u32::try_from(pounds.saturating_mul(100).saturating_add(pence))
        .map_err(|_| format!("{} is too large", prospectus_model::shown(s)))
}

/// `12000` → `120`, `12050` → `120.50`.
pub(crate) fn format_pounds(pence: u32) -> String {
    if pence.is_multiple_of(100) {
        format!("{}", pence / 100)
    } else {
        format!("{}.{:02}", pence / 100, pence % 100)
    }
}

/// Parses the `concessions` cell for a course of `level` in `categories`. Each item is
/// `TEMPLATE=POUNDS` (the fee may be omitted, meaning free) or `custom:NAME|RULE,RULE=POUNDS`.
pub(crate) fn parse_concessions(
    cell: &str,
    level: Level,
    categories: &[Category],
) -> Result<Vec<Concession>, String> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for item in split_list(cell) {
        match parse_concession(item, level, categories) {
            Ok(c) => out.push(c),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs.join("; "))
    }
}

fn parse_concession(
    item: &str,
    level: Level,
    categories: &[Category],
) -> Result<Concession, String> {
    let is_custom = item
        .get(..CUSTOM_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(CUSTOM_PREFIX));
    if is_custom {
        let body = &item[CUSTOM_PREFIX.len()..];
        let shape = || {
            format!(
                "{item:?}: a custom concession is written custom:NAME|RULE,RULE=POUNDS, e.g. custom:Over 60s|age>=60=25"
            )
        };
        let (left, fee) = body.rsplit_once('=').ok_or_else(shape)?;
        let (name, rules) = left.split_once('|').ok_or_else(shape)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{item:?}: the custom concession needs a name"));
        }
        let fee_pence = parse_pounds(fee).map_err(|e| format!("{item:?}: {e}"))?;
        let mut conditions = Vec::new();
        for r in rules
            .split(CUSTOM_RULE_SEP)
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            conditions.push(parse_rule(r).map_err(|e| format!("{item:?}: {e}"))?);
        }
        if conditions.is_empty() {
            return Err(format!(
                "{item:?}: a custom concession needs at least one rule"
            ));
        }
        return Ok(Concession {
            name: name.to_string(),
            template: None,
            documents: implied_documents_all(&conditions),
            conditions,
            fee_pence,
        });
    }
    let (name, fee) = item.split_once('=').unwrap_or((item, "0"));
    let template: Template = name.trim().parse().map_err(|e: String| {
        format!("{e}; or write a custom concession as custom:NAME|RULE,RULE=POUNDS")
    })?;
    let fee_pence = parse_pounds(fee).map_err(|e| format!("{}: {e}", template.as_str()))?;
    template
        .concession(level, categories, fee_pence)
        .map_err(|e| e.to_string())
}

/// The `concessions` cell for a course, or why the template cannot state them.
pub(crate) fn format_concessions(
    concessions: &[Concession],
    level: Level,
    categories: &[Category],
) -> Result<String, String> {
    let mut parts = Vec::new();
    for (i, c) in concessions.iter().enumerate() {
        let ctx = format!("fees.concessions[{i}]");
        match c.template {
            Some(t) => {
                let expected = t
                    .concession(level, categories, c.fee_pence)
                    .map_err(|e| format!("{ctx}: {e}"))?;
                if &expected != c {
                    return Err(format!(
                        "{ctx}: differs from template {t} (name, conditions or documents changed)"
                    ));
                }
                parts.push(format!("{}={}", t.as_str(), format_pounds(c.fee_pence)));
            }
            None => {
                let name = c.name.trim();
                if name.is_empty() || name != c.name || name.contains([LIST_SEP, '|', '\n', '\r']) {
                    return Err(format!(
                        "{ctx}: the name {:?} cannot be written in a CSV cell (no ; or |, no surrounding spaces)",
                        c.name
                    ));
                }
                if c.conditions.is_empty() {
                    return Err(format!("{ctx}: has no conditions"));
                }
                let mut rules = Vec::new();
                for cond in &c.conditions {
                    rules.push(format_rule(cond).ok_or_else(|| {
                        format!(
                            "{ctx}: the CSV template has no rule for \"{}\"",
                            cond.describe()
                        )
                    })?);
                }
                if c.documents != implied_documents_all(&c.conditions) {
                    return Err(format!(
                        "{ctx}: documents differ from those the CSV template implies"
                    ));
                }
                parts.push(format!(
                    "{CUSTOM_PREFIX}{name}|{}={}",
                    rules.join(","),
                    format_pounds(c.fee_pence)
                ));
            }
        }
    }
    Ok(parts.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prospectus_model::AgeBand;

    #[test]
    fn rules_parse_and_format_back() {
        for (text, cond) in [
            (
                "age>=19",
                Condition::Age {
                    min: Some(19),
                    max: None,
                },
            ),
            (
                "age<=24",
                Condition::Age {
                    min: None,
                    max: Some(24),
                },
            ),
            (
                "age=19-23",
                Condition::Age {
                    min: Some(19),
                    max: Some(23),
                },
            ),
            ("london-resident", Condition::ResidentInLondon),
            (
                "borough=E09000028",
                Condition::ResidentInBorough {
                    boroughs: vec!["E09000028".into()],
                },
            ),
            (
                "borough=E09000028/E09000022",
                Condition::ResidentInBorough {
                    boroughs: vec!["E09000028".into(), "E09000022".into()],
                },
            ),
            (
                "first-language-not-english",
                Condition::FirstLanguageNotEnglish,
            ),
            ("unemployed", Condition::Unemployed),
            ("means-tested-benefits", Condition::MeansTestedBenefits),
            (
                "social-prescriber-referral",
                Condition::ReferredBySocialPrescriber,
            ),
            (
                "low-wage",
                Condition::FundingLowWage {
                    max_annual_gross_pence: None,
                },
            ),
            (
                "funding-low-wage<=28860",
                Condition::FundingLowWage {
                    max_annual_gross_pence: Some(2_886_000),
                },
            ),
            (
                "funding-age=19-23",
                Condition::FundingAge {
                    band: AgeBand::YoungAdult,
                },
            ),
            ("funding-unemployed", Condition::FundingUnemployed),
            ("funding-residency", Condition::FundingResidency),
            (
                "claiming-jobseeker-benefits",
                Condition::ClaimingJobseekerBenefits,
            ),
            ("in-work-benefits", Condition::InWorkBenefits),
            ("uk-resident-3-years", Condition::UkResident3Years),
            (
                "no-gcse-maths",
                Condition::NoGcseGrade4 {
                    english: false,
                    maths: true,
                },
            ),
            (
                "low-wage<=30000",
                Condition::LowWage {
                    max_annual_gross_pence: 3_000_000,
                },
            ),
        ] {
            assert_eq!(parse_rule(text).unwrap(), cond, "{text}");
            assert_eq!(format_rule(&cond).unwrap(), text);
        }
        assert_eq!(
            parse_rule(" Age >= 19 ").unwrap(),
            Condition::Age {
                min: Some(19),
                max: None
            }
        );
        assert_eq!(
            parse_rule("borough=Kingston upon Thames").unwrap(),
            Condition::ResidentInBorough {
                boroughs: vec!["E09000021".into()]
            }
        );
        assert_eq!(
            parse_rule("age=30").unwrap(),
            Condition::Age {
                min: Some(30),
                max: Some(30)
            }
        );
    }

    #[test]
    fn bad_rules_say_what_is_accepted() {
        let e = parse_rule("over-60s").unwrap_err();
        assert!(e.contains("age>=N") && e.contains("london-resident"), "{e}");
        assert!(parse_rule("age>=200").is_err());
        assert!(parse_rule("age=30-20").is_err());
        assert!(
            parse_rule("borough=E09000099")
                .unwrap_err()
                .contains("E09000099")
        );
        assert!(parse_rule("borough=").is_err());
    }

    #[test]
    fn pounds() {
        assert_eq!(parse_pounds("120"), Ok(12_000));
        assert_eq!(parse_pounds("120.5"), Ok(12_050));
        assert_eq!(parse_pounds(" £120.05 "), Ok(12_005));
        assert_eq!(parse_pounds("0"), Ok(0));
        for bad in [
            "",
            "12.",
            ".5",
            "1.234",
            "-3",
            "12,000",
            "abc",
            "99999999999",
        ] {
            assert!(parse_pounds(bad).is_err(), "{bad}");
        }
        assert_eq!(format_pounds(12_000), "120");
        assert_eq!(format_pounds(12_050), "120.50");
        assert_eq!(format_pounds(5), "0.05");
    }

    #[test]
    fn concessions_expand_templates_and_customs() {
        let cats = [Category::Maths];
        let cs = parse_concessions(
            "means-tested-benefits=0; aeb-english-maths ; custom:Over 60s|age>=60=12.50;",
            Level::L1,
            &cats,
        )
        .unwrap();
        assert_eq!(cs.len(), 3);
        assert_eq!(
            cs[0],
            Template::MeansTestedBenefits
                .concession(Level::L1, &cats, 0)
                .unwrap()
        );
        assert_eq!(
            cs[1],
            Template::EnglishMaths19Plus
                .concession(Level::L1, &cats, 0)
                .unwrap()
        );
        assert_eq!(cs[2].name, "Over 60s");
        assert_eq!(cs[2].fee_pence, 1250);
        assert_eq!(cs[2].documents, vec![Document::ProofOfIdentityAndAge]);
        assert_eq!(
            format_concessions(&cs, Level::L1, &cats).unwrap(),
            "means-tested-benefits=0;aeb-english-maths=0;custom:Over 60s|age>=60=12.50"
        );
    }

    #[test]
    fn concession_errors_are_collected() {
        let e = parse_concessions(
            "aeb-low-wage-esol=0;nonsense=1;custom:broken",
            Level::L1,
            &[Category::Maths],
        )
        .unwrap_err();
        assert!(e.contains("only for ESOL"), "{e}");
        assert!(e.contains("unknown template \"nonsense\""), "{e}");
        assert!(e.contains("custom:NAME|RULE"), "{e}");
    }
}
