//! A deterministic generator of realistic pan-London adult-education data.
//!
//! It exists because the real offer is scattered across hundreds of prospectuses: tests,
//! demos and load tests need a data set with London's shape — every borough, council adult
//! learning services, FE colleges, Mind branches, community centres and libraries, ESOL at
//! entry level through to level 2, free courses and AEB concessions — at any scale from ten
//! courses to a hundred thousand. The same seed and arguments always give the same bytes (one
//! ChaCha8 stream, fixed base date, no hash-map iteration, no clock), so a failing test or a
//! benchmark can be reproduced exactly, and every record passes
//! `prospectus_model::validate_record` and can be written to the CSV template.

use crate::Bundle;
use chrono::{Datelike, Days, NaiveDate, NaiveTime};
use prospectus_geo::Borough;
use prospectus_model::{
    Accessibility, Address, Category, Concession, Condition, Course, DeliveryMode, Document, Fees,
    LatLon, Level, Provider, Requirement, Run, Start, Support, Template, Uuid, Venue, Weekday,
};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// "Today" for generated data: start dates fall in the six months after it and
/// `last_verified` dates in the 400 days before it. Fixed so output never depends on the clock.
pub const BASE_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2026, 9, 1) {
    Some(d) => d,
    None => panic!("2026-09-01 is a valid date"),
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "unknown borough {0:?}; give a GSS code (E09000001 to E09000033) or a name such as Southwark"
    )]
    UnknownBorough(String),
}

/// Generates `courses` courses, with their providers and venues, spread evenly over all 33
/// London boroughs (or only `borough`, a GSS code or name). Deterministic in all arguments.
pub fn generate(seed: u64, courses: usize, borough: Option<&str>) -> Result<Bundle, GenerateError> {
    let boroughs: Vec<&'static Borough> = match borough {
        None => prospectus_geo::boroughs().iter().collect(),
        Some(b) => vec![
            prospectus_geo::find_borough(b)
                .ok_or_else(|| GenerateError::UnknownBorough(b.to_string()))?,
        ],
    };
    // One borough's offer draws from a stream of its own, so two boroughs generated with the
    // same seed never share a provider, venue or course id (the second would be refused as
    // another origin's record); the all-London set keeps the plain seed.
    let stream = match borough {
        None => seed,
        Some(_) => boroughs.iter().fold(seed, |s, b| s ^ fnv1a(b.gss_code)),
    };
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(stream),
        bundle: Bundle::default(),
    };
    let plans: Vec<BoroughPlan> = boroughs.into_iter().map(|b| g.borough(b)).collect();
    g.bundle.courses.reserve(courses);
    if !plans.is_empty() {
        for i in 0..courses {
            g.course(&plans[i % plans.len()]);
        }
    }
    Ok(g.bundle)
}

/// FNV-1a: a stable (platform- and release-independent) hash of a GSS code.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Places

/// Neighbourhood names per borough, for provider, venue and course names.
const AREAS: &[(&str, &[&str])] = &[
    (
        "E09000001",
        &["Barbican", "Smithfield", "Aldgate", "Blackfriars"],
    ),
    (
        "E09000002",
        &[
            "Barking",
            "Dagenham",
            "Becontree",
            "Chadwell Heath",
            "Thames View",
        ],
    ),
    (
        "E09000003",
        &[
            "Finchley",
            "Hendon",
            "Edgware",
            "Burnt Oak",
            "Colindale",
            "Mill Hill",
        ],
    ),
    (
        "E09000004",
        &["Bexleyheath", "Sidcup", "Erith", "Welling", "Belvedere"],
    ),
    (
        "E09000005",
        &[
            "Wembley",
            "Harlesden",
            "Kilburn",
            "Willesden",
            "Neasden",
            "Kingsbury",
        ],
    ),
    (
        "E09000006",
        &["Bromley", "Orpington", "Beckenham", "Penge", "Mottingham"],
    ),
    (
        "E09000007",
        &[
            "Kentish Town",
            "Camden Town",
            "Somers Town",
            "Holborn",
            "Gospel Oak",
        ],
    ),
    (
        "E09000008",
        &[
            "Croydon",
            "Thornton Heath",
            "Norbury",
            "South Norwood",
            "New Addington",
        ],
    ),
    (
        "E09000009",
        &[
            "Ealing",
            "Acton",
            "Southall",
            "Hanwell",
            "Greenford",
            "Northolt",
        ],
    ),
    (
        "E09000010",
        &[
            "Enfield Town",
            "Edmonton",
            "Ponders End",
            "Palmers Green",
            "Southgate",
        ],
    ),
    (
        "E09000011",
        &["Woolwich", "Eltham", "Plumstead", "Greenwich", "Charlton"],
    ),
    (
        "E09000012",
        &[
            "Dalston",
            "Homerton",
            "Stoke Newington",
            "Clapton",
            "Haggerston",
        ],
    ),
    (
        "E09000013",
        &["Hammersmith", "Fulham", "Shepherd's Bush", "White City"],
    ),
    (
        "E09000014",
        &[
            "Tottenham",
            "Wood Green",
            "Hornsey",
            "Muswell Hill",
            "Northumberland Park",
        ],
    ),
    (
        "E09000015",
        &[
            "Harrow",
            "Wealdstone",
            "Rayners Lane",
            "Pinner",
            "South Harrow",
        ],
    ),
    (
        "E09000016",
        &[
            "Romford",
            "Hornchurch",
            "Harold Hill",
            "Rainham",
            "Upminster",
        ],
    ),
    (
        "E09000017",
        &["Uxbridge", "Hayes", "Yiewsley", "West Drayton", "Ruislip"],
    ),
    (
        "E09000018",
        &["Hounslow", "Feltham", "Brentford", "Chiswick", "Isleworth"],
    ),
    (
        "E09000019",
        &[
            "Holloway",
            "Archway",
            "Finsbury Park",
            "Highbury",
            "Clerkenwell",
        ],
    ),
    (
        "E09000020",
        &[
            "North Kensington",
            "Notting Hill",
            "Chelsea",
            "Earl's Court",
            "World's End",
        ],
    ),
    (
        "E09000021",
        &[
            "Kingston",
            "Surbiton",
            "Tolworth",
            "Chessington",
            "New Malden",
        ],
    ),
    (
        "E09000022",
        &[
            "Brixton",
            "Stockwell",
            "Vauxhall",
            "Streatham",
            "West Norwood",
            "Kennington",
        ],
    ),
    (
        "E09000023",
        &[
            "Lewisham",
            "Deptford",
            "Catford",
            "New Cross",
            "Sydenham",
            "Downham",
        ],
    ),
    (
        "E09000024",
        &[
            "Mitcham",
            "Morden",
            "Wimbledon",
            "Colliers Wood",
            "Raynes Park",
        ],
    ),
    (
        "E09000025",
        &[
            "Stratford",
            "East Ham",
            "Canning Town",
            "Forest Gate",
            "Plaistow",
            "Beckton",
        ],
    ),
    (
        "E09000026",
        &[
            "Ilford",
            "Seven Kings",
            "Woodford",
            "Barkingside",
            "Wanstead",
            "Goodmayes",
        ],
    ),
    (
        "E09000027",
        &[
            "Richmond",
            "Twickenham",
            "Teddington",
            "Whitton",
            "Barnes",
            "Hampton",
        ],
    ),
    (
        "E09000028",
        &[
            "Peckham",
            "Camberwell",
            "Bermondsey",
            "Walworth",
            "Rotherhithe",
            "Dulwich",
        ],
    ),
    (
        "E09000029",
        &[
            "Sutton",
            "Carshalton",
            "Wallington",
            "Cheam",
            "Worcester Park",
        ],
    ),
    (
        "E09000030",
        &[
            "Bethnal Green",
            "Whitechapel",
            "Poplar",
            "Bow",
            "Stepney",
            "Isle of Dogs",
        ],
    ),
    (
        "E09000031",
        &[
            "Walthamstow",
            "Leyton",
            "Leytonstone",
            "Chingford",
            "Higham Hill",
        ],
    ),
    (
        "E09000032",
        &["Battersea", "Tooting", "Balham", "Putney", "Roehampton"],
    ),
    (
        "E09000033",
        &[
            "Paddington",
            "Pimlico",
            "Church Street",
            "Queen's Park",
            "Soho",
            "Westbourne",
        ],
    ),
];

const STREETS: &[&str] = &[
    "High Street",
    "Church Road",
    "Station Road",
    "Park Road",
    "Victoria Road",
    "Albert Road",
    "Queen's Road",
    "King Street",
    "Market Street",
    "Mill Lane",
    "Grove Road",
    "Manor Road",
    "The Broadway",
    "Green Lane",
    "Chapel Street",
    "Elm Grove",
    "London Road",
    "New Road",
    "Windmill Lane",
    "Cross Street",
    "Burdett Road",
    "Portland Avenue",
    "St John's Road",
    "Tenter Ground",
];

/// Letters used in the inward code (C, I, K, M, O and V never appear there).
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

// ---------------------------------------------------------------------------------------------
// Providers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Council,
    Libraries,
    College,
    Mind,
    AgeUk,
    CommunityCentre,
    Garden,
    Migrant,
    WomensCentre,
}

use Category as C;

impl Kind {
    /// Relative share of a borough's courses.
    fn weight(self) -> u32 {
        match self {
            Kind::Council => 30,
            Kind::College => 22,
            Kind::Libraries => 8,
            Kind::Mind => 10,
            Kind::AgeUk => 6,
            Kind::CommunityCentre => 8,
            Kind::Garden => 5,
            Kind::Migrant => 6,
            Kind::WomensCentre => 5,
        }
    }

    /// What this kind of provider teaches.
    fn categories(self) -> &'static [(Category, u32)] {
        match self {
            Kind::Council => &[
                (C::Esol, 12),
                (C::English, 8),
                (C::Maths, 8),
                (C::Digital, 10),
                (C::WellbeingMentalHealth, 8),
                (C::ArtsCrafts, 10),
                (C::Languages, 8),
                (C::Exercise, 6),
                (C::Cooking, 5),
                (C::MoneyManagement, 4),
                (C::Employability, 6),
                (C::Music, 4),
                (C::CreativeWriting, 3),
                (C::FamilyLearning, 5),
                (C::HistoryCulture, 3),
                (C::Gardening, 2),
            ],
            Kind::College => &[
                (C::Esol, 20),
                (C::English, 15),
                (C::Maths, 15),
                (C::Digital, 15),
                (C::Employability, 20),
                (C::Languages, 6),
                (C::ArtsCrafts, 5),
                (C::Cooking, 2),
            ],
            Kind::Libraries => &[
                (C::Digital, 30),
                (C::CreativeWriting, 15),
                (C::HistoryCulture, 15),
                (C::FamilyLearning, 15),
                (C::English, 10),
                (C::Esol, 10),
                (C::Languages, 5),
            ],
            Kind::Mind => &[
                (C::WellbeingMentalHealth, 40),
                (C::ArtsCrafts, 15),
                (C::CreativeWriting, 12),
                (C::Exercise, 10),
                (C::Gardening, 8),
                (C::Music, 8),
                (C::Cooking, 4),
                (C::MoneyManagement, 3),
            ],
            Kind::AgeUk => &[
                (C::Exercise, 30),
                (C::Digital, 30),
                (C::WellbeingMentalHealth, 15),
                (C::MoneyManagement, 10),
                (C::HistoryCulture, 10),
                (C::Music, 5),
            ],
            Kind::CommunityCentre => &[
                (C::Cooking, 15),
                (C::Exercise, 15),
                (C::ArtsCrafts, 12),
                (C::Digital, 12),
                (C::Esol, 12),
                (C::MoneyManagement, 10),
                (C::FamilyLearning, 10),
                (C::WellbeingMentalHealth, 8),
                (C::Music, 6),
            ],
            Kind::Garden => &[
                (C::Gardening, 60),
                (C::Cooking, 15),
                (C::WellbeingMentalHealth, 25),
            ],
            Kind::Migrant => &[
                (C::Esol, 60),
                (C::Employability, 15),
                (C::Digital, 10),
                (C::WellbeingMentalHealth, 10),
                (C::MoneyManagement, 5),
            ],
            Kind::WomensCentre => &[
                (C::WellbeingMentalHealth, 25),
                (C::Employability, 15),
                (C::Esol, 15),
                (C::ArtsCrafts, 15),
                (C::Exercise, 15),
                (C::MoneyManagement, 15),
            ],
        }
    }

    fn is_charity(self) -> bool {
        !matches!(self, Kind::Council | Kind::Libraries | Kind::College)
    }
}

struct ProviderPlan {
    kind: Kind,
    id: Uuid,
    website: String,
    email: String,
    venues: Vec<Uuid>,
    online_venue: Uuid,
}

struct BoroughPlan {
    borough: &'static Borough,
    areas: &'static [&'static str],
    providers: Vec<ProviderPlan>,
}

// ---------------------------------------------------------------------------------------------
// Courses

#[derive(Clone, Copy)]
struct Subject {
    /// `{level}` is replaced by the level ("Entry 2", "Level 1"), `{area}` by a neighbourhood,
    /// `{language}` by a modern language and stage.
    title: &'static str,
    levels: &'static [Level],
    extra: &'static [Category],
    weeks: (u16, u16),
    /// May take a qualifier ("for Carers", "in Peckham").
    qualify: bool,
    /// May be taught online.
    online: bool,
}

const NA: &[Level] = &[Level::NonAccredited];
const ENTRY: &[Level] = &[Level::Entry];
const E_TO_L2: &[Level] = &[Level::Entry, Level::L1, Level::L2];
const E_TO_L1: &[Level] = &[Level::Entry, Level::L1];
const L1: &[Level] = &[Level::L1];
const L2: &[Level] = &[Level::L2];
const L1_L2: &[Level] = &[Level::L1, Level::L2];
const L3: &[Level] = &[Level::L3];

const fn s(
    title: &'static str,
    levels: &'static [Level],
    extra: &'static [Category],
    weeks: (u16, u16),
    qualify: bool,
    online: bool,
) -> Subject {
    Subject {
        title,
        levels,
        extra,
        weeks,
        qualify,
        online,
    }
}

const WELLBEING: &[Subject] = &[
    s("Mindfulness for Beginners", NA, &[], (4, 8), false, true),
    s("Confidence and Wellbeing", NA, &[], (4, 10), true, true),
    s("Managing Stress and Anxiety", NA, &[], (4, 8), true, true),
    s("Building Resilience", NA, &[], (4, 8), true, true),
    s("Sleep Well, Feel Well", NA, &[], (3, 6), true, true),
    s(
        "Wellbeing Through Nature",
        NA,
        &[C::Gardening],
        (4, 10),
        true,
        false,
    ),
    s(
        "Living Well with a Long-Term Condition",
        NA,
        &[],
        (6, 8),
        true,
        true,
    ),
    s("Assertiveness and Self-Esteem", NA, &[], (4, 8), true, true),
    s("Understanding Low Mood", NA, &[], (4, 6), true, true),
    s("Coping with Loneliness", NA, &[], (4, 8), true, true),
    s("Men's Wellbeing Group", NA, &[], (6, 12), false, false),
    s(
        "Level 2 Award in Mental Health Awareness",
        L2,
        &[C::Employability],
        (6, 10),
        false,
        true,
    ),
];

const EXERCISE: &[Subject] = &[
    s("Chair Yoga", NA, &[], (6, 12), true, true),
    s("Gentle Pilates", NA, &[], (6, 12), true, true),
    s("Tai Chi for Health", NA, &[], (6, 12), true, false),
    s(
        "Walking for Health",
        NA,
        &[C::WellbeingMentalHealth],
        (6, 12),
        true,
        false,
    ),
    s("Strength and Balance", NA, &[], (6, 12), true, true),
    s("Dance Fitness", NA, &[C::Music], (6, 12), true, true),
    s("Qigong", NA, &[], (6, 10), true, true),
    s("Yoga for Beginners", NA, &[], (6, 10), false, true),
    s("Seated Exercise", NA, &[], (6, 12), true, true),
    s(
        "Stretch and Relax",
        NA,
        &[C::WellbeingMentalHealth],
        (4, 8),
        true,
        true,
    ),
];

const ARTS: &[Subject] = &[
    s("Watercolour Painting", NA, &[], (6, 10), true, true),
    s("Drawing for Beginners", NA, &[], (6, 10), false, true),
    s("Life Drawing", NA, &[], (6, 10), true, false),
    s("Pottery and Ceramics", NA, &[], (8, 12), true, false),
    s("Knitting and Crochet", NA, &[], (6, 10), true, true),
    s("Printmaking", NA, &[], (6, 10), true, false),
    s("Sewing Machine Skills", NA, &[], (6, 10), true, false),
    s(
        "Photography with Your Phone",
        NA,
        &[C::Digital],
        (4, 8),
        true,
        true,
    ),
    s("Mosaic Making", NA, &[], (4, 8), true, false),
    s(
        "Art for Wellbeing",
        NA,
        &[C::WellbeingMentalHealth],
        (6, 10),
        true,
        false,
    ),
    s("Acrylic Painting", NA, &[], (6, 10), true, true),
    s("Jewellery Making", NA, &[], (5, 8), true, false),
    s(
        "Level 3 Diploma in Art and Design",
        L3,
        &[],
        (30, 36),
        false,
        false,
    ),
];

const GARDENING: &[Subject] = &[
    s("Community Gardening", NA, &[], (6, 12), true, false),
    s(
        "Grow Your Own Vegetables",
        NA,
        &[C::Cooking],
        (6, 12),
        true,
        false,
    ),
    s(
        "Therapeutic Horticulture",
        NA,
        &[C::WellbeingMentalHealth],
        (8, 12),
        false,
        false,
    ),
    s(
        "Gardening for Wellbeing",
        NA,
        &[C::WellbeingMentalHealth],
        (6, 10),
        true,
        false,
    ),
    s(
        "Container Gardening for Small Spaces",
        NA,
        &[],
        (4, 6),
        true,
        false,
    ),
    s("Wildlife Gardening", NA, &[], (4, 8), true, false),
    s("Allotment Skills", NA, &[], (6, 12), true, false),
    s("Introduction to Beekeeping", NA, &[], (4, 6), false, false),
    s(
        "Level 2 Certificate in Practical Horticulture",
        L2,
        &[C::Employability],
        (20, 36),
        false,
        false,
    ),
];

const ESOL: &[Subject] = &[
    s(
        "ESOL {level} Speaking and Listening",
        E_TO_L2,
        &[],
        (10, 30),
        false,
        true,
    ),
    s(
        "ESOL {level} Reading and Writing",
        E_TO_L2,
        &[],
        (10, 30),
        false,
        true,
    ),
    s("ESOL {level}", E_TO_L2, &[], (12, 36), false, true),
    s(
        "ESOL for Work {level}",
        E_TO_L1,
        &[C::Employability],
        (10, 20),
        false,
        true,
    ),
    s(
        "ESOL for Parents",
        ENTRY,
        &[C::FamilyLearning],
        (10, 20),
        false,
        false,
    ),
    s(
        "Pre-Entry ESOL: First Steps in English",
        ENTRY,
        &[],
        (10, 30),
        false,
        false,
    ),
    s("ESOL Conversation Club", NA, &[], (6, 12), false, true),
];

const ENGLISH: &[Subject] = &[
    s(
        "Functional Skills English {level}",
        E_TO_L2,
        &[],
        (20, 33),
        false,
        true,
    ),
    s("GCSE English Language", L2, &[], (30, 36), false, false),
    s("Improve Your Reading", ENTRY, &[], (10, 20), true, false),
    s("Improve Your Writing", E_TO_L1, &[], (10, 20), true, true),
    s(
        "Spelling and Grammar Made Simple",
        E_TO_L1,
        &[],
        (8, 12),
        true,
        true,
    ),
];

const MATHS: &[Subject] = &[
    s(
        "Functional Skills Maths {level}",
        E_TO_L2,
        &[],
        (20, 33),
        false,
        true,
    ),
    s("GCSE Maths", L2, &[], (30, 36), false, false),
    s("Everyday Maths", ENTRY, &[], (10, 20), true, true),
    s("Maths Confidence", ENTRY, &[], (6, 12), true, true),
    s(
        "Maths for Parents",
        ENTRY,
        &[C::FamilyLearning],
        (6, 10),
        false,
        false,
    ),
];

const DIGITAL: &[Subject] = &[
    s(
        "Digital Skills: Using Your Smartphone",
        NA,
        &[],
        (3, 6),
        false,
        false,
    ),
    s(
        "Digital Skills: Using Your Tablet",
        NA,
        &[],
        (3, 6),
        false,
        false,
    ),
    s("Computers for Beginners", NA, &[], (4, 10), false, false),
    s(
        "Essential Digital Skills {level}",
        E_TO_L1,
        &[],
        (10, 20),
        false,
        true,
    ),
    s("Staying Safe Online", NA, &[], (2, 4), true, true),
    s(
        "Using the NHS App and Online Health Services",
        NA,
        &[],
        (2, 4),
        true,
        true,
    ),
    s(
        "Video Calls with Family and Friends",
        NA,
        &[],
        (2, 4),
        true,
        true,
    ),
    s(
        "Microsoft Excel {level}",
        L1_L2,
        &[C::Employability],
        (8, 12),
        false,
        true,
    ),
    s(
        "Online Shopping and Banking",
        NA,
        &[C::MoneyManagement],
        (3, 6),
        true,
        true,
    ),
    s("Introduction to Coding", NA, &[], (6, 10), true, true),
    s(
        "Level 3 Certificate in IT User Skills",
        L3,
        &[C::Employability],
        (20, 30),
        false,
        true,
    ),
];

const MONEY: &[Subject] = &[
    s("Managing Your Money", NA, &[], (3, 6), true, true),
    s("Budgeting on a Low Income", NA, &[], (3, 6), true, true),
    s(
        "Understanding Universal Credit",
        NA,
        &[C::Digital],
        (2, 4),
        true,
        true,
    ),
    s(
        "Money Matters: Bills and Energy",
        NA,
        &[],
        (2, 4),
        true,
        true,
    ),
    s(
        "Dealing with Debt",
        NA,
        &[C::WellbeingMentalHealth],
        (3, 6),
        true,
        true,
    ),
    s("Saving and Budgeting Basics", NA, &[], (3, 6), true, true),
];

const EMPLOYABILITY: &[Subject] = &[
    s("Get Ready for Work", E_TO_L1, &[], (4, 10), true, true),
    s(
        "CV Writing and Interview Skills",
        NA,
        &[],
        (2, 6),
        true,
        true,
    ),
    s(
        "Introduction to Customer Service",
        L1,
        &[],
        (6, 10),
        false,
        true,
    ),
    s(
        "Level 2 Certificate in Health and Social Care",
        L2,
        &[],
        (20, 36),
        false,
        true,
    ),
    s(
        "Food Safety in Catering",
        L2,
        &[C::Cooking],
        (1, 2),
        false,
        true,
    ),
    s(
        "Level 3 Award in Education and Training",
        L3,
        &[],
        (8, 12),
        false,
        true,
    ),
    s(
        "Level 2 Certificate in Understanding Mental Health",
        L2,
        &[C::WellbeingMentalHealth],
        (10, 20),
        false,
        true,
    ),
    s(
        "Level 3 Diploma in Accounting",
        L3,
        &[C::MoneyManagement],
        (30, 36),
        false,
        true,
    ),
    s("Working in Childcare", L1_L2, &[], (12, 30), false, false),
    s("Emergency First Aid at Work", L3, &[], (1, 1), false, false),
    s(
        "Volunteering: Find Your Way In",
        NA,
        &[],
        (2, 6),
        true,
        true,
    ),
];

const COOKING: &[Subject] = &[
    s(
        "Cooking on a Budget",
        NA,
        &[C::MoneyManagement],
        (4, 8),
        true,
        false,
    ),
    s(
        "Healthy Eating for Families",
        NA,
        &[C::FamilyLearning],
        (4, 8),
        false,
        false,
    ),
    s("World Kitchen", NA, &[], (6, 10), true, false),
    s("Baking Basics", NA, &[], (4, 8), true, false),
    s("Vegetarian Cooking", NA, &[], (4, 8), true, false),
    s("Cooking for One", NA, &[], (4, 6), true, false),
    s(
        "Caribbean Cooking",
        NA,
        &[C::HistoryCulture],
        (4, 8),
        true,
        false,
    ),
    s(
        "Batch Cooking and Meal Planning",
        NA,
        &[C::MoneyManagement],
        (4, 6),
        true,
        true,
    ),
];

const LANGUAGES: &[Subject] = &[
    s("{language}", NA, &[], (10, 30), false, true),
    s("{language}", NA, &[], (10, 30), false, true),
    s("{language}", NA, &[], (10, 30), false, true),
    s(
        "British Sign Language Level 1",
        L1,
        &[],
        (20, 30),
        false,
        false,
    ),
    s(
        "British Sign Language Level 2",
        L2,
        &[],
        (25, 36),
        false,
        false,
    ),
];

const MODERN_LANGUAGES: &[&str] = &[
    "Spanish",
    "French",
    "Italian",
    "Arabic",
    "Portuguese",
    "German",
    "Mandarin Chinese",
    "Turkish",
    "Japanese",
    "Polish",
    "Greek",
];

const LANGUAGE_STAGES: &[&str] = &[
    " for Beginners",
    " for Improvers",
    " Intermediate",
    " Conversation",
    " for Travel",
    " Upper Intermediate",
];

const MUSIC: &[Subject] = &[
    s("Community Choir", NA, &[], (8, 12), false, false),
    s("Ukulele for Beginners", NA, &[], (6, 10), false, true),
    s("Guitar for Beginners", NA, &[], (6, 10), false, true),
    s(
        "Singing for Wellbeing",
        NA,
        &[C::WellbeingMentalHealth],
        (6, 10),
        true,
        true,
    ),
    s(
        "Music Production on a Laptop",
        NA,
        &[C::Digital],
        (6, 10),
        true,
        true,
    ),
    s("Djembe Drumming", NA, &[], (6, 10), true, false),
    s("Keyboard and Piano", NA, &[], (8, 12), true, false),
    s(
        "Songwriting",
        NA,
        &[C::CreativeWriting],
        (6, 10),
        true,
        true,
    ),
];

const WRITING: &[Subject] = &[
    s(
        "Creative Writing for Wellbeing",
        NA,
        &[C::WellbeingMentalHealth],
        (6, 10),
        false,
        true,
    ),
    s("Writing Your Life Story", NA, &[], (6, 10), true, true),
    s("Poetry Workshop", NA, &[], (4, 8), true, true),
    s("Short Story Writing", NA, &[], (6, 10), true, true),
    s(
        "Journaling for Wellbeing",
        NA,
        &[C::WellbeingMentalHealth],
        (4, 6),
        true,
        true,
    ),
    s("Writing for Performance", NA, &[], (6, 10), true, false),
    s("Reading Group", NA, &[C::English], (8, 12), true, false),
];

const FAMILY: &[Subject] = &[
    s("Family Maths", NA, &[C::Maths], (4, 8), false, false),
    s(
        "Storytelling with Your Child",
        NA,
        &[C::English],
        (4, 6),
        false,
        false,
    ),
    s("Family Cooking", NA, &[C::Cooking], (4, 6), false, false),
    s(
        "Helping Your Child with Reading",
        NA,
        &[C::English],
        (4, 8),
        false,
        true,
    ),
    s(
        "Stay and Play: Learning Through Play",
        NA,
        &[],
        (6, 10),
        false,
        false,
    ),
    s(
        "Keeping Your Child Safe Online",
        NA,
        &[C::Digital],
        (2, 4),
        false,
        true,
    ),
];

const HISTORY: &[Subject] = &[
    s(
        "Local History: {area} Through Time",
        NA,
        &[],
        (6, 10),
        false,
        false,
    ),
    s("London's Hidden History", NA, &[], (6, 10), true, true),
    s(
        "Art History: From the Renaissance to Today",
        NA,
        &[C::ArtsCrafts],
        (8, 12),
        true,
        true,
    ),
    s("Exploring London's Museums", NA, &[], (6, 10), true, false),
    s("Black British History", NA, &[], (6, 10), true, true),
    s(
        "Family History and Genealogy",
        NA,
        &[C::Digital],
        (6, 10),
        true,
        true,
    ),
    s("Film Appreciation", NA, &[], (6, 10), true, true),
];

fn subjects(c: Category) -> &'static [Subject] {
    match c {
        C::WellbeingMentalHealth => WELLBEING,
        C::Esol => ESOL,
        C::English => ENGLISH,
        C::Maths => MATHS,
        C::Digital => DIGITAL,
        C::ArtsCrafts => ARTS,
        C::Gardening => GARDENING,
        C::Exercise => EXERCISE,
        C::MoneyManagement => MONEY,
        C::Employability => EMPLOYABILITY,
        C::Cooking => COOKING,
        C::Languages => LANGUAGES,
        C::Music => MUSIC,
        C::CreativeWriting => WRITING,
        C::FamilyLearning => FAMILY,
        C::HistoryCulture => HISTORY,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Qual {
    Plain,
    Taster,
    DropIn,
}

const QUALIFIERS: &[(&str, Qual)] = &[
    (" for Beginners", Qual::Plain),
    (": Improvers", Qual::Plain),
    (" for Carers", Qual::Plain),
    (" for Parents", Qual::Plain),
    (" (Women Only)", Qual::Plain),
    (" in {area}", Qual::Plain),
    (" in {area}", Qual::Plain),
    (": Next Steps", Qual::Plain),
    (" (Relaxed Group)", Qual::Plain),
    (" Workshop", Qual::Plain),
    (" for Older Learners", Qual::Plain),
    (": Taster Session", Qual::Taster),
    (" Drop-in", Qual::DropIn),
    (" (Intermediate)", Qual::Plain),
    (" for Men", Qual::Plain),
];

/// Community languages some wellbeing, cooking, digital and money courses are taught in.
const COMMUNITY_LANGUAGES: &[(&str, &str)] = &[
    ("bn", "Bengali"),
    ("so", "Somali"),
    ("tr", "Turkish"),
    ("pl", "Polish"),
    ("ar", "Arabic"),
    ("ur", "Urdu"),
    ("pt", "Portuguese"),
    ("es", "Spanish"),
    ("ti", "Tigrinya"),
    ("ro", "Romanian"),
];

fn blurbs(c: Category) -> &'static [&'static str] {
    match c {
        C::WellbeingMentalHealth => &[
            "Learn practical ways to look after your mental health and feel more in control of everyday life.",
            "A supportive space to explore what helps you feel well, share ideas with others and try simple techniques you can use at home.",
            "Sessions mix short talks, gentle activities and discussion; you never have to speak if you would rather listen.",
        ],
        C::Esol => &[
            "Improve your English for everyday life: talking to the doctor, your child's school, shops and neighbours.",
            "Build your speaking, listening, reading and writing with a friendly teacher and learners from many countries.",
            "You will have a short assessment before the course so we can place you in the right class.",
        ],
        C::English => &[
            "Build your confidence with reading and writing for work, family and everyday life.",
            "Work at your own pace with a tutor who will help you improve spelling, grammar and punctuation.",
        ],
        C::Maths => &[
            "Get to grips with the maths you use every day: money, measures, fractions and percentages.",
            "Build confidence with numbers in a relaxed class where every question is a good question.",
        ],
        C::Digital => &[
            "Learn to use technology with confidence, step by step, at a pace that suits you.",
            "Bring your own device or borrow one of ours; a patient tutor will show you how.",
            "Covers the everyday things that matter: staying in touch, getting online safely and using public services.",
        ],
        C::ArtsCrafts => &[
            "Discover your creativity in a relaxed studio setting; all materials are provided.",
            "Learn new techniques and make work you are proud of, whether you are a complete beginner or returning after a break.",
        ],
        C::Gardening => &[
            "Get outdoors and learn to grow flowers, fruit and vegetables alongside friendly local people.",
            "Hands-on sessions in our garden, whatever the weather; tools and gloves are provided.",
        ],
        C::Exercise => &[
            "Gentle, low-impact movement to improve strength, balance and flexibility.",
            "Suitable for all fitness levels; every exercise can be done seated or standing.",
        ],
        C::MoneyManagement => &[
            "Practical help to plan a budget, cut your bills and find the support you are entitled to.",
            "Understand your money, avoid debt and feel more confident about the future.",
        ],
        C::Employability => &[
            "Gain the skills and confidence to move into work, change career or progress in your current job.",
            "Includes one-to-one advice on next steps, from volunteering to further study.",
        ],
        C::Cooking => &[
            "Cook simple, healthy and affordable meals and take home what you make.",
            "Learn new recipes and kitchen skills in our fully equipped community kitchen.",
        ],
        C::Languages => &[
            "Learn to hold everyday conversations in a friendly, communicative class.",
            "Speaking and listening come first, with grammar introduced as you need it.",
        ],
        C::Music => &[
            "Make music with others in a welcoming group; no experience or ability to read music needed.",
            "A joyful way to meet people and learn something new.",
        ],
        C::CreativeWriting => &[
            "Find your voice through short, playful writing exercises and gentle feedback.",
            "Write for yourself, share if you want to, and read work by writers from many traditions.",
        ],
        C::FamilyLearning => &[
            "For parents and carers who want to support their children's learning and learn something new together.",
            "Fun activities you can carry on at home, with ideas that cost little or nothing.",
        ],
        C::HistoryCulture => &[
            "Explore the stories, people and places that shaped London, with visits and guest speakers.",
            "Lively talks and discussion for anyone curious about the past.",
        ],
    }
}

const GENERAL_LINES: &[&str] = &[
    "No previous experience is needed.",
    "Classes are small and friendly.",
    "Tea and coffee are available at every session.",
    "Talk to us before you enrol if you have any access needs.",
    "You will get a certificate of attendance at the end.",
    "Learners can join a free taster session before enrolling.",
    "Our learner support team can help with childcare and travel costs.",
];

const MH_LINES: &[&str] = &[
    "Designed for people experiencing anxiety, low mood or stress, the course goes at a gentle pace.",
    "Many learners join through their GP or a social prescribing link worker, and you are welcome to bring someone with you to the first session.",
    "The tutor is experienced in supporting learners with mental-health needs, and there is a quiet space if you need a break.",
];

const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => panic!("valid time"),
    }
}

const DAY_SLOTS: &[(NaiveTime, NaiveTime)] = &[
    (hm(9, 30), hm(11, 30)),
    (hm(10, 0), hm(12, 0)),
    (hm(10, 0), hm(12, 30)),
    (hm(10, 30), hm(12, 0)),
    (hm(13, 0), hm(15, 0)),
    (hm(13, 30), hm(15, 30)),
    (hm(14, 0), hm(16, 0)),
    (hm(9, 30), hm(12, 30)),
];
const EVENING_SLOTS: &[(NaiveTime, NaiveTime)] = &[
    (hm(17, 30), hm(19, 30)),
    (hm(18, 0), hm(20, 0)),
    (hm(18, 30), hm(20, 30)),
    (hm(19, 0), hm(21, 0)),
    (hm(18, 0), hm(21, 0)),
];
const WEEKEND_SLOTS: &[(NaiveTime, NaiveTime)] = &[
    (hm(10, 0), hm(12, 0)),
    (hm(10, 0), hm(13, 0)),
    (hm(11, 0), hm(13, 0)),
    (hm(14, 0), hm(16, 0)),
];
const WEEKDAY_PAIRS: &[[Weekday; 2]] = &[
    [Weekday::Mon, Weekday::Wed],
    [Weekday::Tue, Weekday::Thu],
    [Weekday::Wed, Weekday::Fri],
    [Weekday::Mon, Weekday::Thu],
];
const WEEKDAYS: &[Weekday] = &[
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

// ---------------------------------------------------------------------------------------------
// The generator

struct Gen {
    rng: ChaCha8Rng,
    bundle: Bundle,
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn url_slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() && c != '\'' {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn round5(x: f64) -> f64 {
    (x * 1e5).round() / 1e5
}

impl Gen {
    fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn int(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.gen_range(lo..=hi)
    }

    /// `xs` is a non-empty constant table.
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.rng.gen_range(0..xs.len())]
    }

    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u32 = xs.iter().map(|x| x.1).sum();
        let mut r = self.rng.gen_range(0..total);
        for &(x, w) in xs {
            if r < w {
                return x;
            }
            r -= w;
        }
        xs[xs.len() - 1].0
    }

    fn verified(&mut self) -> NaiveDate {
        let back = u64::from(self.int(1, 400));
        BASE_DATE - Days::new(back)
    }

    fn phone(&mut self) -> String {
        let inner = self.pick(&['3', '7', '8']);
        format!(
            "020 {inner}{:03} {:04}",
            self.int(0, 999),
            self.int(0, 9999)
        )
    }

    // -- providers and venues ------------------------------------------------------------------

    fn borough(&mut self, b: &'static Borough) -> BoroughPlan {
        let areas: &'static [&'static str] = AREAS
            .iter()
            .find(|(code, _)| *code == b.gss_code)
            .map_or(std::slice::from_ref(&b.name), |(_, a)| *a);
        let mut kinds = vec![Kind::Council, Kind::Libraries, Kind::Mind];
        if self.chance(0.85) {
            kinds.push(Kind::College);
        }
        if self.chance(0.6) {
            kinds.push(Kind::AgeUk);
        }
        kinds.push(Kind::CommunityCentre);
        if self.chance(0.6) {
            kinds.push(Kind::CommunityCentre);
        }
        if self.chance(0.5) {
            kinds.push(Kind::Garden);
        }
        if self.chance(0.6) {
            kinds.push(Kind::Migrant);
        }
        if self.chance(0.4) {
            kinds.push(Kind::WomensCentre);
        }
        let mut plan = BoroughPlan {
            borough: b,
            areas,
            providers: Vec::with_capacity(kinds.len()),
        };
        let mut used_names: Vec<String> = Vec::new();
        for kind in kinds {
            let p = self.provider(&plan, kind, &used_names);
            used_names.push(p.1);
            plan.providers.push(p.0);
        }
        plan
    }

    fn provider(
        &mut self,
        plan: &BoroughPlan,
        kind: Kind,
        used: &[String],
    ) -> (ProviderPlan, String) {
        let bn = plan.borough.name;
        let bslug = slug(bn);
        // Community organisations are named after a neighbourhood; avoid naming two the same.
        let mut area = self.pick(plan.areas);
        for _ in 0..4 {
            if !used.iter().any(|u| u.contains(area)) {
                break;
            }
            area = self.pick(plan.areas);
        }
        let (name, description, domain, website_path, email_local) = match kind {
            Kind::Council => (
                format!("{bn} Adult Learning"),
                format!(
                    "The council's adult learning service: hundreds of part-time courses for residents of {bn} in community venues across the borough."
                ),
                format!("{bslug}.gov.uk"),
                "/adult-learning",
                "adult.learning",
            ),
            Kind::Libraries => (
                format!("{bn} Libraries"),
                format!(
                    "Free and low-cost learning in {bn}'s public libraries: digital help, reading groups, family sessions and local history."
                ),
                format!("{bslug}.gov.uk"),
                "/libraries",
                "libraries",
            ),
            Kind::College => {
                let name = if self.chance(0.5) {
                    format!("{bn} College")
                } else {
                    format!("{area} College")
                };
                let d = slug(&name);
                (
                    name,
                    "A further education college offering adult courses from entry level to level 3, with many free for eligible learners.".to_string(),
                    format!("{d}.ac.uk"),
                    "/adult-courses",
                    "adults",
                )
            }
            Kind::Mind => {
                let name = if self.chance(0.5) {
                    format!("Mind in {bn}")
                } else {
                    format!("{bn} Mind")
                };
                let d = slug(&name);
                (
                    name,
                    format!(
                        "The local Mind: wellbeing courses, peer support and creative groups for people in {bn} living with mental-health problems."
                    ),
                    format!("{d}.org.uk"),
                    "/courses",
                    "wellbeing",
                )
            }
            Kind::AgeUk => {
                let name = format!("Age UK {bn}");
                let d = slug(&name);
                (
                    name,
                    "Classes, exercise groups and digital help for older people, with a warm welcome and tea afterwards.".to_string(),
                    format!("{d}.org.uk"),
                    "/activities",
                    "activities",
                )
            }
            Kind::CommunityCentre => {
                let suffix = self.pick(&[
                    "Community Centre",
                    "Community Association",
                    "Neighbourhood Trust",
                    "Community Hub",
                ]);
                let name = format!("{area} {suffix}");
                let d = slug(&name);
                (
                    name,
                    format!(
                        "A community centre at the heart of {area}, run by and for local people."
                    ),
                    format!("{d}.org.uk"),
                    "/whats-on",
                    "hello",
                )
            }
            Kind::Garden => {
                let name = if self.chance(0.5) {
                    format!("{area} Community Garden Trust")
                } else {
                    format!("Grow {area}")
                };
                let d = slug(&name);
                (
                    name,
                    "A community food-growing charity: gardening sessions, therapeutic horticulture and cooking with what we grow.".to_string(),
                    format!("{d}.org.uk"),
                    "/sessions",
                    "grow",
                )
            }
            Kind::Migrant => {
                let name = if self.chance(0.5) {
                    format!("{area} Refugee and Migrant Centre")
                } else {
                    format!("{bn} Migrant Welcome")
                };
                let d = slug(&name);
                (
                    name,
                    "Free English classes, advice and employment support for refugees, asylum seekers and migrants.".to_string(),
                    format!("{d}.org.uk"),
                    "/learn",
                    "classes",
                )
            }
            Kind::WomensCentre => {
                let name = format!("{area} Women's Centre");
                let d = slug(&name);
                (
                    name,
                    "A safe, women-only space offering courses, wellbeing groups and a crèche."
                        .to_string(),
                    format!("{d}.org.uk"),
                    "/courses",
                    "info",
                )
            }
        };
        let id = self.uuid();
        let website = format!("https://www.{domain}{website_path}");
        let email = format!("{email_local}@{domain}");
        let ukprn = matches!(kind, Kind::Council | Kind::College)
            .then(|| format!("10{:06}", self.int(0, 999_999)));
        let charity_number = (kind.is_charity() && self.chance(0.8))
            .then(|| format!("1{:06}", self.int(0, 999_999)));
        let phone = self.phone();
        let last_verified = self.verified();
        self.bundle.providers.push(Provider {
            id,
            name: name.clone(),
            ukprn,
            charity_number,
            description: Some(description),
            email: Some(email.clone()),
            phone: Some(phone),
            website: Some(website.clone()),
            last_verified,
        });

        // Physical venues.
        let count = match kind {
            Kind::Council | Kind::Libraries => self.int(3, 5),
            Kind::College | Kind::Mind | Kind::AgeUk | Kind::Garden | Kind::Migrant => {
                self.int(1, 2)
            }
            Kind::CommunityCentre | Kind::WomensCentre => 1,
        };
        let mut venues = Vec::with_capacity(count as usize);
        let mut venue_names: Vec<String> = Vec::new();
        for i in 0..count {
            // Re-draw a few times rather than give one provider two venues of the same name.
            let mut vname = String::new();
            for attempt in 0..6 {
                vname = self.venue_name(plan, kind, &name, area, i == 0 && attempt == 0);
                if !venue_names.contains(&vname) {
                    break;
                }
            }
            if venue_names.contains(&vname) {
                vname = format!("{vname} ({})", i + 1);
            }
            venue_names.push(vname.clone());
            let v = self.venue(plan.borough, id, vname);
            venues.push(v);
        }

        // One virtual room for online courses.
        let online_venue = self.uuid();
        self.bundle.venues.push(Venue {
            id: online_venue,
            provider_id: id,
            name: format!("{name} Online"),
            address: None,
            location: None,
            accessibility: Accessibility::default(),
            virtual_url: Some(format!("{website}/online-classroom")),
        });

        (
            ProviderPlan {
                kind,
                id,
                website,
                email,
                venues,
                online_venue,
            },
            name,
        )
    }

    /// A venue name for a provider; `first_of_centre` keeps a community centre's own name.
    fn venue_name(
        &mut self,
        plan: &BoroughPlan,
        kind: Kind,
        name: &str,
        area: &str,
        first_of_centre: bool,
    ) -> String {
        let varea = if first_of_centre && matches!(kind, Kind::CommunityCentre | Kind::WomensCentre)
        {
            area
        } else {
            self.pick(plan.areas)
        };
        match kind {
            Kind::Council => {
                let s = self.pick(&[
                    "Adult Learning Centre",
                    "Library",
                    "Community Hub",
                    "Learning Centre",
                ]);
                format!("{varea} {s}")
            }
            Kind::Libraries => format!("{varea} Library"),
            Kind::College => format!("{name}, {varea} Campus"),
            Kind::Mind => format!("{varea} Wellbeing Hub"),
            Kind::AgeUk => format!("{varea} Day Centre"),
            Kind::CommunityCentre | Kind::WomensCentre => name.to_string(),
            Kind::Garden => {
                let s = self.pick(&["Community Garden", "Allotments", "Growing Space"]);
                format!("{varea} {s}")
            }
            Kind::Migrant => format!("{varea} Welcome Centre"),
        }
    }

    fn venue(&mut self, b: &'static Borough, provider_id: Uuid, name: String) -> Uuid {
        let id = self.uuid();
        let outcode = self.pick(&b.outcodes);
        let inward = format!(
            "{}{}{}",
            self.int(1, 9),
            char::from(self.pick(INWARD_LETTERS)),
            char::from(self.pick(INWARD_LETTERS))
        );
        let location = prospectus_geo::outcode_centroid(outcode).map(|c| LatLon {
            lat: round5(c.lat + self.rng.gen_range(-0.008..=0.008)),
            lon: round5(c.lon + self.rng.gen_range(-0.008..=0.008)),
        });
        let street = self.pick(STREETS);
        let number = self.int(1, 240);
        let step_free = self.chance(0.75);
        let accessibility = Accessibility {
            step_free,
            accessible_toilet: step_free && self.chance(0.8),
            hearing_loop: self.chance(0.3),
            parking: self.chance(0.35),
        };
        self.bundle.venues.push(Venue {
            id,
            provider_id,
            name,
            address: Some(Address {
                lines: vec![format!("{number} {street}")],
                town: "London".into(),
                postcode: format!("{outcode} {inward}"),
            }),
            location,
            accessibility,
            virtual_url: None,
        });
        id
    }

    // -- courses -------------------------------------------------------------------------------

    fn course(&mut self, plan: &BoroughPlan) {
        let weights: Vec<(usize, u32)> = plan
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.kind.weight()))
            .collect();
        let provider = &plan.providers[self.weighted(&weights)];
        let primary = self.weighted(provider.kind.categories());
        let subject = self.pick(subjects(primary));
        let level = self.pick(subject.levels);
        let area = self.pick(plan.areas);

        // Title.
        let level_text = match level {
            Level::Entry => format!("Entry {}", self.int(1, 3)),
            other => other.label().to_string(),
        };
        let mut title = subject
            .title
            .replace("{level}", &level_text)
            .replace("{area}", area);
        if title.contains("{language}") {
            let lang = self.pick(MODERN_LANGUAGES);
            let stage = self.pick(LANGUAGE_STAGES);
            title = title.replace("{language}", &format!("{lang}{stage}"));
        }
        let mut qual = Qual::Plain;
        if subject.qualify && self.chance(0.45) {
            let (q, k) = self.pick(QUALIFIERS);
            title.push_str(&q.replace("{area}", area));
            qual = k;
        }

        // Categories.
        let mut categories = vec![primary];
        for &c in subject.extra {
            if !categories.contains(&c) {
                categories.push(c);
            }
        }
        let mh_share = match (provider.kind, primary) {
            (Kind::Mind, _) => 0.6,
            (_, C::WellbeingMentalHealth) => 0.3,
            (_, C::ArtsCrafts | C::Gardening | C::CreativeWriting | C::Music | C::Exercise) => 0.15,
            _ => 0.0,
        };
        let mental_health_focus = level == Level::NonAccredited && self.chance(mh_share);
        if mental_health_focus
            && !categories.contains(&C::WellbeingMentalHealth)
            && self.chance(0.5)
        {
            categories.push(C::WellbeingMentalHealth);
        }

        // Taught language.
        let mut language = "en".to_string();
        if matches!(
            primary,
            C::WellbeingMentalHealth | C::Cooking | C::Digital | C::MoneyManagement | C::Exercise
        ) && level == Level::NonAccredited
            && self.chance(0.04)
        {
            let (code, name) = self.pick(COMMUNITY_LANGUAGES);
            language = code.to_string();
            title.push_str(&format!(" (taught in {name})"));
        }

        // Delivery.
        // About two thirds of subjects can be taught online; this split makes the whole offer
        // roughly 70% classroom, 20% online and 10% blended.
        let delivery = if !subject.online {
            DeliveryMode::Classroom
        } else {
            let r = self.int(0, 99);
            if r < 53 {
                DeliveryMode::Classroom
            } else if r < 84 {
                DeliveryMode::Online
            } else {
                DeliveryMode::Blended
            }
        };

        // Description.
        let mut description = self.pick(blurbs(primary)).to_string();
        if mental_health_focus {
            description.push(' ');
            description.push_str(self.pick(MH_LINES));
        }
        if level != Level::NonAccredited {
            description.push_str(&format!(
                " Successful learners gain a nationally recognised {} qualification.",
                level.label().to_lowercase()
            ));
        }
        match delivery {
            DeliveryMode::Online => description.push_str(
                " Sessions are online; we can lend you a tablet and help you get connected.",
            ),
            DeliveryMode::Blended => description
                .push_str(" Most weeks meet in person, with some sessions and homework online."),
            DeliveryMode::Classroom => {}
        }
        description.push(' ');
        description.push_str(self.pick(GENERAL_LINES));

        // Support.
        let mut support = Vec::new();
        for &s in Support::ALL {
            let p = match s {
                Support::QuietSpace if mental_health_focus => 0.7,
                Support::CompanionWelcome if mental_health_focus => 0.6,
                Support::OneToOne if mental_health_focus => 0.3,
                Support::QuietSpace => 0.1,
                Support::CompanionWelcome => 0.15,
                Support::OneToOne => 0.08,
                Support::Creche if categories.contains(&C::FamilyLearning) => 0.5,
                Support::Creche if primary == C::Esol || provider.kind == Kind::WomensCentre => {
                    0.25
                }
                Support::Creche => 0.03,
                Support::BslInterpreter => 0.03,
                Support::LearningSupport => 0.15,
            };
            if self.chance(p) {
                support.push(s);
            }
        }

        // Runs.
        let id = self.uuid();
        let n_runs = match self.int(0, 99) {
            0..65 => 1,
            65..92 => 2,
            _ => 3,
        };
        let mut runs = Vec::with_capacity(n_runs);
        for _ in 0..n_runs {
            runs.push(self.run(provider, primary, subject, delivery, qual));
        }

        let fees = self.fees(level, &categories, mental_health_focus);
        let eligibility = self.eligibility(plan, provider.kind, primary, level);

        let url = self.chance(0.8).then(|| {
            format!(
                "{}/{}-{}",
                provider.website,
                url_slug(&title),
                &id.simple().to_string()[..8]
            )
        });
        let contact_email = self.chance(0.6).then(|| provider.email.clone());
        let last_verified = self.verified();

        self.bundle.courses.push(Course {
            id,
            provider_id: provider.id,
            title,
            description,
            categories,
            level,
            delivery,
            mental_health_focus,
            support,
            language,
            runs,
            fees,
            eligibility,
            url,
            contact_email,
            last_verified,
            funding_rules: None,
        });
    }

    fn run(
        &mut self,
        provider: &ProviderPlan,
        primary: Category,
        subject: Subject,
        delivery: DeliveryMode,
        qual: Qual,
    ) -> Run {
        let id = self.uuid();
        let venue_id = if delivery == DeliveryMode::Online {
            provider.online_venue
        } else {
            self.pick(&provider.venues)
        };
        let self_paced = delivery == DeliveryMode::Online
            && matches!(primary, C::Digital | C::Languages | C::MoneyManagement)
            && self.chance(0.2);

        let (days, (start_time, end_time)) = if self_paced {
            // Tutor support hours for a learn-any-time course.
            (Vec::new(), (hm(9, 0), hm(17, 0)))
        } else {
            let r = self.int(0, 99);
            if r < 60 {
                (self.weekdays(primary), self.pick(DAY_SLOTS))
            } else if r < 90 {
                (self.weekdays(primary), self.pick(EVENING_SLOTS))
            } else {
                let d = if self.chance(0.7) {
                    Weekday::Sat
                } else {
                    Weekday::Sun
                };
                (vec![d], self.pick(WEEKEND_SLOTS))
            }
        };

        let rolling = self_paced || qual == Qual::DropIn || self.chance(0.2);
        let start = if rolling {
            Start::Rolling
        } else {
            let mut d = BASE_DATE + Days::new(u64::from(self.int(0, 182)));
            // First meeting falls on one of the run's days.
            if !days.is_empty() {
                for _ in 0..7 {
                    let wd = d.weekday().num_days_from_monday() as usize;
                    if days.contains(&Weekday::ALL[wd]) {
                        break;
                    }
                    d = d + Days::new(1);
                }
            }
            Start::On(d)
        };

        let weeks = match qual {
            Qual::DropIn => None,
            Qual::Taster => Some(1),
            Qual::Plain if rolling && self.chance(0.5) => None,
            Qual::Plain => {
                let (lo, hi) = subject.weeks;
                Some(self.int(u32::from(lo), u32::from(hi)).clamp(1, 36) as u16)
            }
        };

        let r = self.int(0, 99);
        let (places_left, waiting_weeks) = if r < 15 {
            (None, None)
        } else if r < 25 {
            (Some(0), Some(self.int(1, 12) as u16))
        } else {
            (Some(self.int(1, 18)), None)
        };

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
    }

    fn weekdays(&mut self, primary: Category) -> Vec<Weekday> {
        let two = match primary {
            C::Esol | C::English | C::Maths => 0.4,
            _ => 0.15,
        };
        if self.chance(two) {
            self.pick(WEEKDAY_PAIRS).to_vec()
        } else {
            vec![self.pick(WEEKDAYS)]
        }
    }

    fn fees(&mut self, level: Level, categories: &[Category], mh: bool) -> Fees {
        if self.chance(0.4) {
            return Fees {
                full_fee_pence: 0,
                concessions: Vec::new(),
            };
        }
        let pounds = match level {
            Level::NonAccredited => self.int(4, 44) * 5,
            Level::L3 => self.int(60, 90) * 5,
            _ => self.int(30, 90) * 5,
        };
        let mut full = pounds * 100;
        if self.chance(0.1) {
            full -= 50; // £x4.50 and the like
        }
        let mut concessions: Vec<Concession> = Vec::new();
        for &t in Template::ALL {
            let p = match t {
                Template::FirstFull19To23 => 0.85,
                Template::LowWage24PlusFirstFull => 0.7,
                Template::EnglishMaths19Plus => 0.95,
                Template::UnemployedUpToLevel2 => 0.6,
                Template::LowWageEsolUpToLevel2 => 0.8,
                Template::MeansTestedBenefits => 0.7,
                Template::SocialPrescriberReferral if mh => 0.6,
                Template::SocialPrescriberReferral => 0.1,
                // Added after the generator's stream was fixed: left out so every seed keeps
                // producing the same data set.
                Template::LowWageUpToLevel2 => continue,
            };
            // Legal entitlements are fully funded; local offers are often part-funded.
            let entitlement = matches!(t, Template::FirstFull19To23 | Template::EnglishMaths19Plus);
            let fee = if entitlement || self.chance(0.75) {
                0
            } else {
                let share = self.pick(&[25u32, 50]);
                full * share / 100 / 50 * 50
            };
            if let Ok(c) = t.concession(level, categories, fee)
                && self.chance(p)
            {
                concessions.push(c);
            }
        }
        if self.chance(0.15) {
            concessions.push(Concession {
                name: "Over 60s".into(),
                template: None,
                conditions: vec![Condition::Age {
                    min: Some(60),
                    max: None,
                }],
                fee_pence: full / 2 / 50 * 50,
                documents: vec![Document::ProofOfIdentityAndAge],
            });
        }
        Fees {
            full_fee_pence: full,
            concessions,
        }
    }

    fn eligibility(
        &mut self,
        plan: &BoroughPlan,
        kind: Kind,
        primary: Category,
        level: Level,
    ) -> Vec<Requirement> {
        let mut out = Vec::new();
        let adult_share = if level == Level::NonAccredited || primary == C::FamilyLearning {
            0.12
        } else {
            0.35
        };
        if self.chance(adult_share) {
            out.push(Requirement {
                condition: Condition::Age {
                    min: Some(19),
                    max: None,
                },
                documents: vec![Document::ProofOfIdentityAndAge],
            });
        }
        let r = self.int(0, 99);
        let borough_funded = matches!(kind, Kind::Council | Kind::Libraries) && r < 8;
        if borough_funded {
            out.push(Requirement {
                condition: Condition::ResidentInBorough {
                    boroughs: vec![plan.borough.gss_code.to_string()],
                },
                documents: vec![Document::ProofOfAddress],
            });
        } else if r < 78 {
            out.push(Requirement {
                condition: Condition::ResidentInLondon,
                documents: vec![Document::ProofOfAddress],
            });
        }
        if primary == C::Esol && self.chance(0.1) {
            out.push(Requirement {
                condition: Condition::FirstLanguageNotEnglish,
                documents: Vec::new(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_subjects_and_blurbs() {
        for &c in Category::ALL {
            assert!(!subjects(c).is_empty(), "{c}");
            assert!(!blurbs(c).is_empty(), "{c}");
            for s in subjects(c) {
                assert!(!s.levels.is_empty(), "{}", s.title);
                assert!(
                    s.weeks.0 >= 1 && s.weeks.0 <= s.weeks.1 && s.weeks.1 <= 36,
                    "{}",
                    s.title
                );
                assert!(!s.extra.contains(&c), "{}", s.title);
            }
        }
    }

    #[test]
    fn every_borough_has_areas() {
        for b in prospectus_geo::boroughs() {
            assert!(
                AREAS
                    .iter()
                    .any(|(code, a)| *code == b.gss_code && !a.is_empty()),
                "{}",
                b.name
            );
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Mind in King's Cross"), "mindinkingscross");
        assert_eq!(
            url_slug("ESOL Entry 2: Speaking & Listening"),
            "esol-entry-2-speaking-listening"
        );
        assert_eq!(url_slug("Men's Wellbeing Group"), "mens-wellbeing-group");
    }
}
