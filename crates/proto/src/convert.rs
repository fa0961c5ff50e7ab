//! model <-> wire. `to_wire` is total; `from_wire` collects every bad field with its path.

use crate::v1 as w;
use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{self as m, FieldViolation, ValidationErrors};
use prost::Message;
use uuid::Uuid;

pub trait ToWire {
    type Wire;
    fn to_wire(&self) -> Self::Wire;
}

pub trait FromWire: Sized {
    type Wire;
    fn from_wire(wire: &Self::Wire) -> Result<Self, ValidationErrors>;
}

/// Encodes a record as the payload of a replicated entry.
pub fn encode_record(record: &m::Record) -> Vec<u8> {
    match record {
        m::Record::Provider(p) => p.to_wire().encode_to_vec(),
        m::Record::Venue(v) => v.to_wire().encode_to_vec(),
        m::Record::Course(c) => c.to_wire().encode_to_vec(),
    }
}

/// A record as one op of a publish batch.
pub fn publish_op(record: &m::Record) -> w::PublishOp {
    use w::publish_op::Op;
    w::PublishOp {
        op: Some(match record {
            m::Record::Provider(p) => Op::Provider(p.to_wire()),
            m::Record::Venue(v) => Op::Venue(v.to_wire()),
            m::Record::Course(c) => Op::Course(c.to_wire()),
        }),
    }
}

/// Decodes an entry payload of `kind`. Errors name the field that is wrong.
pub fn decode_record(kind: m::RecordKind, payload: &[u8]) -> Result<m::Record, ValidationErrors> {
    let bad = |e: prost::DecodeError| {
        ValidationErrors(vec![FieldViolation {
            field: "payload".into(),
            description: format!("not a valid {kind} message: {e}"),
        }])
    };
    Ok(match kind {
        m::RecordKind::Provider => m::Record::Provider(m::Provider::from_wire(
            &w::Provider::decode(payload).map_err(bad)?,
        )?),
        m::RecordKind::Venue => m::Record::Venue(m::Venue::from_wire(
            &w::Venue::decode(payload).map_err(bad)?,
        )?),
        m::RecordKind::Course => m::Record::Course(m::Course::from_wire(
            &w::Course::decode(payload).map_err(bad)?,
        )?),
    })
}

/// Where a field sits in the message ("runs[2].start_time"), as a chain of borrowed parts:
/// the text is only written when a violation is reported, so decoding a valid record — every
/// replicated apply, every start-up scan — formats no paths.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'static str),
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn at(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }
    fn nth(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Field(p, s) => write!(f, "{p}.{s}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// A root field's path.
fn root(name: &'static str) -> Path<'static> {
    Path::Root(name)
}

/// Accumulates violations while decoding.
#[derive(Default)]
struct Errs {
    out: Vec<FieldViolation>,
}

impl Errs {
    fn fail(&mut self, field: Path<'_>, description: impl Into<String>) {
        self.out.push(FieldViolation {
            field: field.to_string(),
            description: description.into(),
        });
    }

    fn uuid(&mut self, field: Path<'_>, s: &str) -> Uuid {
        match Uuid::parse_str(s.trim()) {
            Ok(u) => u,
            Err(_) => {
                self.fail(
                    field,
                    format!("{} is not a UUID", prospectus_model::shown(s)),
                );
                Uuid::nil()
            }
        }
    }

    fn date(&mut self, field: Path<'_>, s: &str) -> NaiveDate {
        match prospectus_model::parse_date(s.trim()) {
            Some(d) => d,
            None => {
                self.fail(
                    field,
                    format!("{} is not a date YYYY-MM-DD", prospectus_model::shown(s)),
                );
                NaiveDate::MIN
            }
        }
    }

    fn time(&mut self, field: Path<'_>, s: &str) -> NaiveTime {
        match prospectus_model::parse_time(s.trim()) {
            Some(v) => v,
            None => {
                self.fail(
                    field,
                    format!("{} is not a time HH:MM", prospectus_model::shown(s)),
                );
                NaiveTime::MIN
            }
        }
    }

    fn small<T: TryFrom<u32>>(&mut self, field: Path<'_>, v: u32, max: u32) -> Option<T> {
        if v > max {
            self.fail(field, format!("must be at most {max}"));
            return None;
        }
        T::try_from(v).ok()
    }

    fn enum_req<E: WireEnum>(&mut self, field: Path<'_>, v: i32) -> Option<E> {
        match E::from_i32(v) {
            Some(e) => Some(e),
            None if v == 0 => {
                self.fail(field, "must be set");
                None
            }
            None => {
                self.fail(field, format!("unknown value {v}"));
                None
            }
        }
    }

    /// An enum where 0 (unspecified) means "not given".
    fn enum_opt<E: WireEnum>(&mut self, field: Path<'_>, v: i32) -> Option<E> {
        if v == 0 {
            return None;
        }
        self.enum_req(field, v)
    }

    fn enums<E: WireEnum>(&mut self, field: Path<'_>, vs: &[i32]) -> Vec<E> {
        vs.iter()
            .enumerate()
            .filter_map(|(i, v)| self.enum_req(field.nth(i), *v))
            .collect()
    }

    fn finish<T>(self, v: T) -> Result<T, ValidationErrors> {
        if self.out.is_empty() {
            Ok(v)
        } else {
            Err(ValidationErrors(self.out))
        }
    }
}

/// A model enum with a protobuf twin.
pub trait WireEnum: Sized + Copy {
    fn to_i32(self) -> i32;
    fn from_i32(v: i32) -> Option<Self>;
}

macro_rules! wire_enum {
    ($t:ident { $($mv:ident <=> $wv:ident),+ $(,)? }) => {
        wire_enum!($t => $t { $($mv <=> $wv),+ });
    };
    ($t:ident => $wt:ident { $($mv:ident <=> $wv:ident),+ $(,)? }) => {
        impl WireEnum for m::$t {
            fn to_i32(self) -> i32 {
                match self { $(m::$t::$mv => w::$wt::$wv as i32),+ }
            }
            fn from_i32(v: i32) -> Option<Self> {
                match w::$wt::try_from(v).ok()? {
                    $(w::$wt::$wv => Some(m::$t::$mv),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(RecordKind { Provider <=> Provider, Venue <=> Venue, Course <=> Course });
wire_enum!(Category {
    WellbeingMentalHealth <=> Wellbeing, Esol <=> Esol, English <=> English, Maths <=> Maths,
    Digital <=> Digital, ArtsCrafts <=> ArtsCrafts, Gardening <=> Gardening, Exercise <=> Exercise,
    MoneyManagement <=> Money, Employability <=> Employability, Cooking <=> Cooking,
    Languages <=> Languages, Music <=> Music, CreativeWriting <=> CreativeWriting,
    FamilyLearning <=> FamilyLearning, HistoryCulture <=> HistoryCulture,
});
wire_enum!(Level {
    NonAccredited <=> NonAccredited, Entry <=> Entry, L1 <=> L1, L2 <=> L2, L3 <=> L3,
    L4 <=> L4, L5 <=> L5, L6 <=> L6, L7 <=> L7,
});
wire_enum!(DeliveryMode { Classroom <=> Classroom, Online <=> Online, Blended <=> Blended });
wire_enum!(Attendance { Daytime <=> Daytime, Evening <=> Evening, Weekend <=> Weekend });
wire_enum!(Support {
    OneToOne <=> OneToOne, CompanionWelcome <=> CompanionWelcome, QuietSpace <=> QuietSpace,
    Creche <=> Creche, BslInterpreter <=> Bsl, LearningSupport <=> LearningSupport,
});
wire_enum!(Weekday { Mon <=> Mon, Tue <=> Tue, Wed <=> Wed, Thu <=> Thu, Fri <=> Fri, Sat <=> Sat, Sun <=> Sun });
wire_enum!(Document {
    ProofOfIdentityAndAge <=> ProofOfIdentity, ProofOfAddress <=> ProofOfAddress,
    ProofOfResidencyStatus <=> ProofOfResidencyStatus, ProofOfBenefits <=> ProofOfBenefits,
    ProofOfUnemployment <=> ProofOfUnemployment, Payslips <=> Payslips,
    ReferralLetter <=> ReferralLetter, QualificationsDeclaration <=> QualificationsDeclaration,
});
wire_enum!(Residency {
    BritishOrIrish <=> BritishOrIrish, SettledStatus <=> SettledStatus,
    PreSettledStatus <=> PreSettledStatus, IndefiniteLeave <=> IndefiniteLeave,
    Refugee <=> Refugee, AsylumSeeker <=> AsylumSeeker, OtherStatus <=> Other,
});
wire_enum!(Employment {
    Employed <=> Employed, SelfEmployed <=> SelfEmployed, Unemployed <=> Unemployed,
    NotLooking <=> NotLooking,
});
wire_enum!(Template {
    FirstFull19To23 <=> Aeb1923FirstFull, LowWage24PlusFirstFull <=> Aeb24plusLowWageFirstFull,
    EnglishMaths19Plus <=> AebEnglishMaths, UnemployedUpToLevel2 <=> AebUnemployedUpToLevel2,
    LowWageEsolUpToLevel2 <=> AebLowWageEsol, MeansTestedBenefits <=> MeansTestedBenefits,
    SocialPrescriberReferral <=> SocialPrescriberReferral,
    LowWageUpToLevel2 <=> AsfLowWageUpToLevel2,
});
wire_enum!(RuleSetId => RuleSet {
    Gla2024_25 <=> Gla202425, Gla2025_26 <=> Gla202526, Gla2026_27 <=> Gla202627,
    Esfa2024_25 <=> Esfa202425, Esfa2025_26 <=> Esfa202526, Esfa2026_27 <=> Esfa202627,
});
wire_enum!(AgeBand { Adult <=> AgeBand19Plus, YoungAdult <=> AgeBand1923, Older <=> AgeBand24Plus });
wire_enum!(Fact {
    Age <=> Age, DateOfBirth <=> DateOfBirth, Borough <=> Borough, Residency <=> Residency,
    Employment <=> Employment, Earnings <=> Earnings, MeansTestedBenefits <=> MeansTestedBenefits,
    HighestQualification <=> HighestQualification, GcseEnglish <=> GcseEnglish,
    GcseMaths <=> GcseMaths, ClaimingJobseekerBenefits <=> ClaimingJobseekerBenefits,
    InWorkBenefits <=> InWorkBenefits, UkResident3Years <=> UkResident3Years,
    ReferredBySocialPrescriber <=> ReferredBySocialPrescriber,
    FirstLanguageEnglish <=> FirstLanguageEnglish,
});
wire_enum!(Answer { Eligible <=> Eligible, NotEligible <=> NotEligible, DependsOn <=> DependsOn });

fn ints<E: WireEnum>(v: &[E]) -> Vec<i32> {
    v.iter().map(|e| e.to_i32()).collect()
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes it, without its format-string interpreter (a
/// search answer writes several per hit).
pub fn wire_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    if (0..=9999).contains(&d.year()) {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    } else {
        d.format("%Y-%m-%d").to_string()
    }
}

/// `HH:MM`, as chrono's `%H:%M` writes it.
fn time(t: NaiveTime) -> String {
    use chrono::Timelike;
    format!("{:02}:{:02}", t.hour(), t.minute())
}

impl ToWire for m::Provider {
    type Wire = w::Provider;
    fn to_wire(&self) -> w::Provider {
        w::Provider {
            id: self.id.to_string(),
            name: self.name.clone(),
            ukprn: self.ukprn.clone(),
            charity_number: self.charity_number.clone(),
            description: self.description.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            website: self.website.clone(),
            last_verified: wire_date(self.last_verified),
        }
    }
}

impl FromWire for m::Provider {
    type Wire = w::Provider;
    fn from_wire(p: &w::Provider) -> Result<Self, ValidationErrors> {
        let mut e = Errs::default();
        let v = m::Provider {
            id: e.uuid(root("id"), &p.id),
            name: p.name.clone(),
            ukprn: p.ukprn.clone(),
            charity_number: p.charity_number.clone(),
            description: p.description.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            website: p.website.clone(),
            last_verified: e.date(root("last_verified"), &p.last_verified),
        };
        e.finish(v)
    }
}

impl ToWire for m::Venue {
    type Wire = w::Venue;
    fn to_wire(&self) -> w::Venue {
        w::Venue {
            id: self.id.to_string(),
            provider_id: self.provider_id.to_string(),
            name: self.name.clone(),
            address: self.address.as_ref().map(|a| w::Address {
                lines: a.lines.clone(),
                town: a.town.clone(),
                postcode: a.postcode.clone(),
            }),
            location: self.location.map(|l| w::LatLon {
                lat: l.lat,
                lon: l.lon,
            }),
            accessibility: Some(w::Accessibility {
                step_free: self.accessibility.step_free,
                accessible_toilet: self.accessibility.accessible_toilet,
                hearing_loop: self.accessibility.hearing_loop,
                parking: self.accessibility.parking,
            }),
            virtual_url: self.virtual_url.clone(),
        }
    }
}

impl FromWire for m::Venue {
    type Wire = w::Venue;
    fn from_wire(v: &w::Venue) -> Result<Self, ValidationErrors> {
        let mut e = Errs::default();
        let a = v.accessibility.unwrap_or_default();
        let out = m::Venue {
            id: e.uuid(root("id"), &v.id),
            provider_id: e.uuid(root("provider_id"), &v.provider_id),
            name: v.name.clone(),
            address: v.address.as_ref().map(|a| m::Address {
                lines: a.lines.clone(),
                town: a.town.clone(),
                postcode: a.postcode.clone(),
            }),
            location: v.location.map(|l| m::LatLon {
                lat: l.lat,
                lon: l.lon,
            }),
            accessibility: m::Accessibility {
                step_free: a.step_free,
                accessible_toilet: a.accessible_toilet,
                hearing_loop: a.hearing_loop,
                parking: a.parking,
            },
            virtual_url: v.virtual_url.clone(),
        };
        e.finish(out)
    }
}

impl ToWire for m::Condition {
    type Wire = w::Condition;
    fn to_wire(&self) -> w::Condition {
        use w::condition::{self as wc, Rule};
        let flag = wc::Flag {};
        let rule = match self {
            m::Condition::Age { min, max } => Rule::Age(wc::Age {
                min: min.map(u32::from),
                max: max.map(u32::from),
            }),
            m::Condition::ResidentInBorough { boroughs } => Rule::ResidentInBorough(wc::Boroughs {
                boroughs: boroughs.clone(),
            }),
            m::Condition::ResidentInLondon => Rule::ResidentInLondon(flag),
            m::Condition::ResidencyStatus { any_of } => {
                Rule::ResidencyStatus(wc::ResidencyStatus {
                    any_of: ints(any_of),
                })
            }
            m::Condition::Unemployed => Rule::Unemployed(flag),
            m::Condition::MeansTestedBenefits => Rule::MeansTestedBenefits(flag),
            m::Condition::LowWage {
                max_annual_gross_pence,
            } => Rule::LowWage(wc::LowWage {
                max_annual_gross_pence: *max_annual_gross_pence,
            }),
            m::Condition::NoQualificationAtOrAbove { level } => {
                Rule::NoQualificationAtOrAbove(wc::NoQualificationAtOrAbove {
                    level: level.to_i32(),
                })
            }
            m::Condition::ReferredBySocialPrescriber => Rule::ReferredBySocialPrescriber(flag),
            m::Condition::FirstLanguageNotEnglish => Rule::FirstLanguageNotEnglish(flag),
            m::Condition::NoGcseGrade4 { english, maths } => Rule::NoGcseGrade4(wc::NoGcseGrade4 {
                english: *english,
                maths: *maths,
            }),
            m::Condition::ClaimingJobseekerBenefits => Rule::ClaimingJobseekerBenefits(flag),
            m::Condition::InWorkBenefits => Rule::InWorkBenefits(flag),
            m::Condition::UkResident3Years => Rule::UkResident3Years(flag),
            m::Condition::FundingAge { band } => Rule::FundingAge(wc::FundingAge {
                band: band.to_i32(),
            }),
            m::Condition::FundingLowWage {
                max_annual_gross_pence,
            } => Rule::FundingLowWage(wc::FundingLowWage {
                max_annual_gross_pence: *max_annual_gross_pence,
            }),
            m::Condition::FundingUnemployed => Rule::FundingUnemployed(flag),
            m::Condition::FundingResidency => Rule::FundingResidency(flag),
        };
        w::Condition { rule: Some(rule) }
    }
}

fn condition(e: &mut Errs, p: Path<'_>, c: &w::Condition) -> Option<m::Condition> {
    use w::condition::Rule;
    Some(match c.rule.as_ref() {
        None => {
            e.fail(p, "condition has no rule");
            return None;
        }
        Some(Rule::Age(a)) => m::Condition::Age {
            min: a.min.and_then(|v| e.small(p.at("age").at("min"), v, 120)),
            max: a.max.and_then(|v| e.small(p.at("age").at("max"), v, 120)),
        },
        Some(Rule::ResidentInBorough(b)) => m::Condition::ResidentInBorough {
            boroughs: b.boroughs.clone(),
        },
        Some(Rule::ResidentInLondon(_)) => m::Condition::ResidentInLondon,
        Some(Rule::ResidencyStatus(r)) => m::Condition::ResidencyStatus {
            any_of: e.enums(p.at("residency_status").at("any_of"), &r.any_of),
        },
        Some(Rule::Unemployed(_)) => m::Condition::Unemployed,
        Some(Rule::MeansTestedBenefits(_)) => m::Condition::MeansTestedBenefits,
        Some(Rule::LowWage(l)) => m::Condition::LowWage {
            max_annual_gross_pence: l.max_annual_gross_pence,
        },
        Some(Rule::NoQualificationAtOrAbove(q)) => m::Condition::NoQualificationAtOrAbove {
            level: e.enum_req(p.at("no_qualification_at_or_above").at("level"), q.level)?,
        },
        Some(Rule::ReferredBySocialPrescriber(_)) => m::Condition::ReferredBySocialPrescriber,
        Some(Rule::FirstLanguageNotEnglish(_)) => m::Condition::FirstLanguageNotEnglish,
        Some(Rule::NoGcseGrade4(g)) => m::Condition::NoGcseGrade4 {
            english: g.english,
            maths: g.maths,
        },
        Some(Rule::ClaimingJobseekerBenefits(_)) => m::Condition::ClaimingJobseekerBenefits,
        Some(Rule::InWorkBenefits(_)) => m::Condition::InWorkBenefits,
        Some(Rule::UkResident3Years(_)) => m::Condition::UkResident3Years,
        Some(Rule::FundingAge(a)) => m::Condition::FundingAge {
            band: e.enum_req(p.at("funding_age").at("band"), a.band)?,
        },
        Some(Rule::FundingLowWage(l)) => m::Condition::FundingLowWage {
            max_annual_gross_pence: l.max_annual_gross_pence,
        },
        Some(Rule::FundingUnemployed(_)) => m::Condition::FundingUnemployed,
        Some(Rule::FundingResidency(_)) => m::Condition::FundingResidency,
    })
}

impl ToWire for m::Course {
    type Wire = w::Course;
    fn to_wire(&self) -> w::Course {
        w::Course {
            id: self.id.to_string(),
            provider_id: self.provider_id.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            categories: ints(&self.categories),
            level: self.level.to_i32(),
            delivery: self.delivery.to_i32(),
            mental_health_focus: self.mental_health_focus,
            support: ints(&self.support),
            language: self.language.clone(),
            runs: self.runs.iter().map(run_to_wire).collect(),
            fees: Some(w::Fees {
                full_fee_pence: self.fees.full_fee_pence,
                concessions: self
                    .fees
                    .concessions
                    .iter()
                    .map(|c| w::Concession {
                        name: c.name.clone(),
                        template: c.template.map_or(0, |t| t.to_i32()),
                        conditions: c.conditions.iter().map(ToWire::to_wire).collect(),
                        fee_pence: c.fee_pence,
                        documents: ints(&c.documents),
                    })
                    .collect(),
            }),
            eligibility: self
                .eligibility
                .iter()
                .map(|r| w::Requirement {
                    condition: Some(r.condition.to_wire()),
                    documents: ints(&r.documents),
                })
                .collect(),
            url: self.url.clone(),
            contact_email: self.contact_email.clone(),
            last_verified: wire_date(self.last_verified),
            attendance: ints(&self.attendance()),
            funding_rules: self.funding_rules.map_or(0, |r| r.to_i32()),
        }
    }
}

fn run_to_wire(r: &m::Run) -> w::Run {
    w::Run {
        id: r.id.to_string(),
        venue_id: r.venue_id.to_string(),
        start: match r.start {
            m::Start::On(d) => wire_date(d),
            m::Start::Rolling => "rolling".into(),
        },
        days: ints(&r.days),
        start_time: time(r.start_time),
        end_time: time(r.end_time),
        weeks: r.weeks.map(u32::from),
        places_left: r.places_left,
        waiting_weeks: r.waiting_weeks.map(u32::from),
    }
}

/// A course as a result list shows it (`HIT_VIEW_SUMMARY`): everything but the description,
/// eligibility rules, concessions, url and contact email. Built directly, not by trimming the
/// full view, so the fields left out are never formatted or copied.
pub fn course_summary(c: &m::Course) -> w::Course {
    w::Course {
        id: c.id.to_string(),
        provider_id: c.provider_id.to_string(),
        title: c.title.clone(),
        categories: ints(&c.categories),
        level: c.level.to_i32(),
        delivery: c.delivery.to_i32(),
        mental_health_focus: c.mental_health_focus,
        support: ints(&c.support),
        language: c.language.clone(),
        runs: c.runs.iter().map(run_to_wire).collect(),
        fees: Some(w::Fees {
            full_fee_pence: c.fees.full_fee_pence,
            concessions: Vec::new(),
        }),
        last_verified: wire_date(c.last_verified),
        attendance: ints(&c.attendance()),
        funding_rules: c.funding_rules.map_or(0, |r| r.to_i32()),
        ..Default::default()
    }
}

/// A provider in a result list: id, name and when it last confirmed its details.
pub fn provider_summary(p: &m::Provider) -> w::Provider {
    w::Provider {
        id: p.id.to_string(),
        name: p.name.clone(),
        last_verified: wire_date(p.last_verified),
        ..Default::default()
    }
}

/// A venue in a result list: where it is and whether a client can get in, not its address
/// lines or owner.
pub fn venue_summary(v: &m::Venue) -> w::Venue {
    let mut out = v.to_wire();
    out.provider_id.clear();
    if let Some(a) = out.address.as_mut() {
        a.lines.clear();
    }
    out
}

impl FromWire for m::Course {
    type Wire = w::Course;
    fn from_wire(c: &w::Course) -> Result<Self, ValidationErrors> {
        let mut e = Errs::default();
        let runs = c
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let runs = root("runs");
                let p = runs.nth(i);
                let start = match r.start.parse::<m::Start>() {
                    Ok(s) => s,
                    Err(msg) => {
                        e.fail(p.at("start"), msg);
                        m::Start::Rolling
                    }
                };
                m::Run {
                    id: e.uuid(p.at("id"), &r.id),
                    venue_id: e.uuid(p.at("venue_id"), &r.venue_id),
                    start,
                    days: e.enums(p.at("days"), &r.days),
                    start_time: e.time(p.at("start_time"), &r.start_time),
                    end_time: e.time(p.at("end_time"), &r.end_time),
                    weeks: r.weeks.and_then(|v| e.small(p.at("weeks"), v, 104)),
                    places_left: r.places_left,
                    waiting_weeks: r
                        .waiting_weeks
                        .and_then(|v| e.small(p.at("waiting_weeks"), v, 104)),
                }
            })
            .collect();
        let fees = match &c.fees {
            None => {
                e.fail(
                    root("fees"),
                    "must be set (use full_fee_pence 0 for a free course)",
                );
                m::Fees {
                    full_fee_pence: 0,
                    concessions: vec![],
                }
            }
            Some(f) => m::Fees {
                full_fee_pence: f.full_fee_pence,
                concessions: f
                    .concessions
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let fees = root("fees");
                        let list = fees.at("concessions");
                        let p = list.nth(i);
                        m::Concession {
                            name: k.name.clone(),
                            template: e.enum_opt(p.at("template"), k.template),
                            conditions: k
                                .conditions
                                .iter()
                                .enumerate()
                                .filter_map(|(j, x)| {
                                    condition(&mut e, p.at("conditions").nth(j), x)
                                })
                                .collect(),
                            fee_pence: k.fee_pence,
                            documents: e.enums(p.at("documents"), &k.documents),
                        }
                    })
                    .collect(),
            },
        };
        let eligibility = c
            .eligibility
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let list = root("eligibility");
                let p = list.nth(i);
                let documents = e.enums(p.at("documents"), &r.documents);
                let cond = match &r.condition {
                    Some(x) => condition(&mut e, p.at("condition"), x)?,
                    None => {
                        e.fail(p.at("condition"), "must be set");
                        return None;
                    }
                };
                Some(m::Requirement {
                    condition: cond,
                    documents,
                })
            })
            .collect();
        let level = e.enum_req(root("level"), c.level);
        let delivery = e.enum_req(root("delivery"), c.delivery);
        let out = m::Course {
            id: e.uuid(root("id"), &c.id),
            provider_id: e.uuid(root("provider_id"), &c.provider_id),
            title: c.title.clone(),
            description: c.description.clone(),
            categories: e.enums(root("categories"), &c.categories),
            level: level.unwrap_or(m::Level::NonAccredited),
            delivery: delivery.unwrap_or(m::DeliveryMode::Classroom),
            mental_health_focus: c.mental_health_focus,
            support: e.enums(root("support"), &c.support),
            language: c.language.clone(),
            runs,
            fees,
            eligibility,
            url: c.url.clone(),
            contact_email: c.contact_email.clone(),
            last_verified: e.date(root("last_verified"), &c.last_verified),
            funding_rules: e.enum_opt(root("funding_rules"), c.funding_rules),
        };
        e.finish(out)
    }
}

impl FromWire for m::LearnerProfile {
    type Wire = w::LearnerProfile;
    fn from_wire(p: &w::LearnerProfile) -> Result<Self, ValidationErrors> {
        let mut e = Errs::default();
        let out = m::LearnerProfile {
            age: p.age.and_then(|v| e.small(root("age"), v, 120)),
            borough: p.borough.clone(),
            residency: e.enum_opt(root("residency"), p.residency),
            employment: e.enum_opt(root("employment"), p.employment),
            annual_gross_earnings_pence: p.annual_gross_earnings_pence,
            means_tested_benefits: p.means_tested_benefits,
            highest_qualification: e
                .enum_opt(root("highest_qualification"), p.highest_qualification),
            referred_by_social_prescriber: p.referred_by_social_prescriber,
            first_language_english: p.first_language_english,
            date_of_birth: p
                .date_of_birth
                .as_deref()
                .map(|d| e.date(root("date_of_birth"), d)),
            gcse_english_grade4: p.gcse_english_grade4,
            gcse_maths_grade4: p.gcse_maths_grade4,
            claiming_jobseeker_benefits: p.claiming_jobseeker_benefits,
            in_work_benefits: p.in_work_benefits,
            uk_resident_3_years: p.uk_resident_3_years,
        };
        e.finish(out)
    }
}

impl ToWire for m::LearnerProfile {
    type Wire = w::LearnerProfile;
    fn to_wire(&self) -> w::LearnerProfile {
        w::LearnerProfile {
            age: self.age.map(u32::from),
            borough: self.borough.clone(),
            residency: self.residency.map_or(0, |v| v.to_i32()),
            employment: self.employment.map_or(0, |v| v.to_i32()),
            annual_gross_earnings_pence: self.annual_gross_earnings_pence,
            means_tested_benefits: self.means_tested_benefits,
            highest_qualification: self.highest_qualification.map_or(0, |v| v.to_i32()),
            referred_by_social_prescriber: self.referred_by_social_prescriber,
            first_language_english: self.first_language_english,
            date_of_birth: self.date_of_birth.map(wire_date),
            gcse_english_grade4: self.gcse_english_grade4,
            gcse_maths_grade4: self.gcse_maths_grade4,
            claiming_jobseeker_benefits: self.claiming_jobseeker_benefits,
            in_work_benefits: self.in_work_benefits,
            uk_resident_3_years: self.uk_resident_3_years,
        }
    }
}

impl ToWire for m::Evaluation {
    type Wire = w::Evaluation;
    fn to_wire(&self) -> w::Evaluation {
        w::Evaluation {
            eligible: self.eligible(),
            answer: self.answer.to_i32(),
            rules: self.rules.to_i32(),
            depends_on: ints(&self.depends_on),
            depends_on_descriptions: self
                .depends_on
                .iter()
                .map(|f| f.label().to_string())
                .collect(),
            unmet: self
                .unmet
                .iter()
                .map(|u| w::Unmet {
                    condition: Some(u.condition.to_wire()),
                    not_stated: u.reason == m::UnmetReason::NotStated,
                    description: u.description.clone(),
                    facts: ints(&u.facts),
                })
                .collect(),
            fee_pence: self.fee_pence,
            full_fee_pence: self.full_fee_pence,
            concession: self.concession.as_ref().map(|c| c.name.clone()),
            concession_template: self
                .concession
                .as_ref()
                .and_then(|c| c.template)
                .map_or(0, |t| t.to_i32()),
            documents: ints(&self.documents),
            document_descriptions: self
                .documents
                .iter()
                .map(|d| d.label().to_string())
                .collect(),
            possible_concessions: self
                .possible_concessions
                .iter()
                .map(|p| w::PossibleConcession {
                    name: p.name.clone(),
                    fee_pence: p.fee_pence,
                    not_stated: p.not_stated.iter().map(ToWire::to_wire).collect(),
                    not_stated_descriptions: p.not_stated_descriptions.clone(),
                    unlock: ints(&p.unlock),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_dates_and_times_are_chronos_formats() {
        for (y, m, d) in [
            (2026, 1, 5),
            (1, 12, 31),
            (999, 2, 28),
            (9999, 12, 31),
            (-5, 3, 1),
            (10000, 1, 1),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).expect("date");
            assert_eq!(
                wire_date(day),
                day.format("%Y-%m-%d").to_string(),
                "{day:?}"
            );
        }
        for (h, m) in [(0, 0), (9, 5), (23, 59)] {
            let t = NaiveTime::from_hms_opt(h, m, 30).expect("time");
            assert_eq!(time(t), t.format("%H:%M").to_string());
        }
    }

    #[test]
    fn reading_dates_and_times_agrees_with_chrono() {
        for s in [
            "2026-09-14",
            "0001-01-01",
            "9999-12-31",
            "2024-02-29",
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-5",
            "+2026-01-05",
            "-0005-03-01",
            "2026-09-1x",
            "20260914",
            "",
            "2026-09-14 ",
            "１２３４-01-01",
        ] {
            assert_eq!(
                prospectus_model::parse_date(s),
                NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
                "{s:?}"
            );
        }
        for s in [
            "09:30", "00:00", "23:59", "24:00", "12:60", "9:30", "09:30:15", "09:3x", "", "0930",
        ] {
            let chrono = NaiveTime::parse_from_str(s, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
                .ok();
            assert_eq!(prospectus_model::parse_time(s), chrono, "{s:?}");
        }
    }

    #[test]
    fn a_bad_nested_field_is_named_by_its_whole_path() {
        let wire = w::Course {
            fees: Some(w::Fees {
                full_fee_pence: 100,
                concessions: vec![w::Concession {
                    conditions: vec![
                        w::Condition::default(),
                        w::Condition {
                            rule: Some(w::condition::Rule::Age(w::condition::Age {
                                min: Some(500),
                                max: None,
                            })),
                        },
                    ],
                    documents: vec![999],
                    ..Default::default()
                }],
            }),
            runs: vec![
                w::Run::default(),
                w::Run {
                    start_time: "25:00".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let fields: Vec<String> = match m::Course::from_wire(&wire) {
            Err(e) => e.0.into_iter().map(|v| v.field).collect(),
            Ok(_) => panic!("an invalid course decoded"),
        };
        for want in [
            "fees.concessions[0].conditions[0]",
            "fees.concessions[0].conditions[1].age.min",
            "fees.concessions[0].documents[0]",
            "runs[1].start_time",
            "runs[0].id",
            "level",
        ] {
            assert!(fields.iter().any(|f| f == want), "{want} not in {fields:?}");
        }
    }
}
