//! "What would this client pay, and what should they bring?" answered over gRPC by a real node,
//! for the concession cases link workers meet most.

mod common;

use chrono::{NaiveDate, NaiveTime};
use common::*;
use prospectus_model::*;
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;

fn provider() -> Provider {
    Provider {
        id: Uuid::new_v4(),
        name: "Southwark Adult Learning".into(),
        ukprn: Some("10012345".into()),
        charity_number: None,
        description: None,
        email: Some("learn@example.org".into()),
        phone: None,
        website: Some("https://example.org".into()),
        last_verified: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
    }
}

fn venue(p: &Provider) -> Venue {
    Venue {
        id: Uuid::new_v4(),
        provider_id: p.id,
        name: "Peckham Library".into(),
        address: Some(Address {
            lines: vec!["122 Peckham Hill Street".into()],
            town: "London".into(),
            postcode: "SE15 5JR".into(),
        }),
        location: Some(LatLon {
            lat: 51.4739,
            lon: -0.0686,
        }),
        accessibility: Accessibility {
            step_free: true,
            ..Default::default()
        },
        virtual_url: None,
    }
}

fn course(
    p: &Provider,
    v: &Venue,
    title: &str,
    level: Level,
    cats: Vec<Category>,
    full: u32,
    templates: &[(Template, u32)],
) -> Course {
    let mut concessions: Vec<Concession> = templates
        .iter()
        .map(|(t, fee)| t.concession(level, &cats, *fee).expect("template applies"))
        .collect();
    concessions.push(Concession {
        name: "Over 60s".into(),
        template: None,
        conditions: vec![Condition::Age {
            min: Some(60),
            max: None,
        }],
        fee_pence: full / 2,
        documents: vec![Document::ProofOfIdentityAndAge],
    });
    Course {
        id: Uuid::new_v4(),
        provider_id: p.id,
        title: title.into(),
        description: "A friendly course.".into(),
        categories: cats,
        level,
        delivery: DeliveryMode::Classroom,
        mental_health_focus: false,
        support: vec![],
        language: "en".into(),
        runs: vec![Run {
            id: Uuid::new_v4(),
            venue_id: v.id,
            start: Start::On(NaiveDate::from_ymd_opt(2027, 1, 11).unwrap()),
            days: vec![Weekday::Tue],
            start_time: NaiveTime::from_hms_opt(18, 30, 0).unwrap(),
            end_time: NaiveTime::from_hms_opt(20, 30, 0).unwrap(),
            weeks: Some(10),
            places_left: Some(8),
            waiting_weeks: None,
        }],
        fees: Fees {
            full_fee_pence: full,
            concessions,
        },
        eligibility: vec![Requirement {
            condition: Condition::ResidentInLondon,
            documents: vec![Document::ProofOfAddress],
        }],
        url: None,
        contact_email: None,
        last_verified: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        funding_rules: None,
    }
}

fn londoner() -> LearnerProfile {
    LearnerProfile {
        borough: Some(SOUTHWARK.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_get_the_right_fee_concession_and_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let p = provider();
    let v = venue(&p);
    let digital = course(
        &p,
        &v,
        "Digital Skills Level 1",
        Level::L1,
        vec![Category::Digital],
        24000,
        &[
            (Template::UnemployedUpToLevel2, 0),
            (Template::MeansTestedBenefits, 0),
            (Template::SocialPrescriberReferral, 2500),
        ],
    );
    let level2 = course(
        &p,
        &v,
        "Business Admin Level 2",
        Level::L2,
        vec![Category::Employability],
        60000,
        &[
            (Template::FirstFull19To23, 0),
            (Template::LowWage24PlusFirstFull, 0),
        ],
    );
    let esol = course(
        &p,
        &v,
        "ESOL Entry 3",
        Level::Entry,
        vec![Category::Esol],
        18000,
        &[(Template::LowWageEsolUpToLevel2, 0)],
    );
    let maths = course(
        &p,
        &v,
        "Functional Skills Maths",
        Level::L1,
        vec![Category::Maths],
        30000,
        &[(Template::EnglishMaths19Plus, 0)],
    );
    let records = [
        Record::Provider(p.clone()),
        Record::Venue(v.clone()),
        Record::Course(digital.clone()),
        Record::Course(level2.clone()),
        Record::Course(esol.clone()),
        Record::Course(maths.clone()),
    ];
    publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "fees",
        records.iter().map(op).collect(),
    )
    .await
    .expect("publish");

    use Document as D;
    struct Case {
        what: &'static str,
        course: Course,
        learner: LearnerProfile,
        fee: u32,
        concession: Option<Template>,
        docs: Vec<D>,
    }
    let cases = vec![
        Case {
            what: "unemployed, digital L1",
            course: digital.clone(),
            learner: LearnerProfile {
                age: Some(45),
                employment: Some(Employment::Unemployed),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::UnemployedUpToLevel2),
            docs: vec![D::ProofOfAddress, D::ProofOfUnemployment],
        },
        Case {
            what: "on Universal Credit, in work",
            course: digital.clone(),
            learner: LearnerProfile {
                employment: Some(Employment::Employed),
                means_tested_benefits: Some(true),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::MeansTestedBenefits),
            docs: vec![D::ProofOfAddress, D::ProofOfBenefits],
        },
        Case {
            what: "referred by a link worker, no other concession",
            course: digital.clone(),
            learner: LearnerProfile {
                age: Some(35),
                employment: Some(Employment::Employed),
                means_tested_benefits: Some(false),
                referred_by_social_prescriber: Some(true),
                ..londoner()
            },
            fee: 2500,
            concession: Some(Template::SocialPrescriberReferral),
            docs: vec![D::ProofOfAddress, D::ReferralLetter],
        },
        Case {
            what: "age 21, no level 2 yet",
            course: level2.clone(),
            learner: LearnerProfile {
                age: Some(21),
                highest_qualification: Some(Level::L1),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::FirstFull19To23),
            docs: vec![
                D::ProofOfAddress,
                D::ProofOfIdentityAndAge,
                D::QualificationsDeclaration,
            ],
        },
        Case {
            what: "age 30, low wage, no level 2",
            course: level2.clone(),
            learner: LearnerProfile {
                age: Some(30),
                employment: Some(Employment::Employed),
                annual_gross_earnings_pence: Some(1_800_000),
                highest_qualification: Some(Level::Entry),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::LowWage24PlusFirstFull),
            docs: vec![
                D::ProofOfAddress,
                D::ProofOfIdentityAndAge,
                D::Payslips,
                D::QualificationsDeclaration,
            ],
        },
        Case {
            what: "ESOL learner on a low wage",
            course: esol.clone(),
            learner: LearnerProfile {
                age: Some(40),
                employment: Some(Employment::SelfEmployed),
                annual_gross_earnings_pence: Some(1_500_000),
                first_language_english: Some(false),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::LowWageEsolUpToLevel2),
            docs: vec![D::ProofOfAddress, D::Payslips],
        },
        Case {
            what: "maths legal entitlement, age 50 without GCSE maths",
            course: maths.clone(),
            learner: LearnerProfile {
                age: Some(50),
                highest_qualification: Some(Level::NonAccredited),
                gcse_maths_grade4: Some(false),
                ..londoner()
            },
            fee: 0,
            concession: Some(Template::EnglishMaths19Plus),
            docs: vec![
                D::ProofOfAddress,
                D::ProofOfIdentityAndAge,
                D::QualificationsDeclaration,
            ],
        },
        Case {
            what: "over 60, employed on a good wage: half price",
            course: digital.clone(),
            learner: LearnerProfile {
                age: Some(64),
                employment: Some(Employment::Employed),
                means_tested_benefits: Some(false),
                referred_by_social_prescriber: Some(false),
                ..londoner()
            },
            fee: 12000,
            concession: None,
            docs: vec![D::ProofOfAddress, D::ProofOfIdentityAndAge],
        },
        Case {
            what: "24 with a level 3 already: full fee",
            course: level2.clone(),
            learner: LearnerProfile {
                age: Some(24),
                employment: Some(Employment::Employed),
                annual_gross_earnings_pence: Some(1_000_000),
                highest_qualification: Some(Level::L3),
                ..londoner()
            },
            fee: 60000,
            concession: None,
            docs: vec![D::ProofOfAddress],
        },
    ];

    let mut dir = node.directory().await;
    for case in cases {
        let view = dir
            .get_course(w::GetRequest {
                id: case.course.id.to_string(),
                learner: Some(case.learner.to_wire()),
            })
            .await
            .expect("get")
            .into_inner();
        let e = view
            .evaluation
            .expect("evaluation present when a learner is given");
        assert!(e.eligible, "{}: eligible", case.what);
        assert_eq!(
            e.answer,
            w::Answer::Eligible as i32,
            "{}: answer",
            case.what
        );
        assert_eq!(e.fee_pence, Some(case.fee), "{}: fee", case.what);
        assert_eq!(e.full_fee_pence, case.course.fees.full_fee_pence);
        let want_template = case
            .concession
            .map(prospectus_proto::WireEnum::to_i32)
            .unwrap_or(0);
        assert_eq!(
            e.concession_template, want_template,
            "{}: concession",
            case.what
        );
        if case.what.starts_with("over 60") {
            assert_eq!(e.concession.as_deref(), Some("Over 60s"));
        }
        let docs: Vec<i32> = case
            .docs
            .iter()
            .map(|d| prospectus_proto::WireEnum::to_i32(*d))
            .collect();
        assert_eq!(e.documents, docs, "{}: documents", case.what);
        assert_eq!(e.document_descriptions.len(), docs.len());
    }

    // Someone who lives outside London is not eligible, and is told why.
    let view = dir
        .get_course(w::GetRequest {
            id: digital.id.to_string(),
            learner: Some(
                LearnerProfile {
                    borough: Some("E07000001".into()),
                    ..Default::default()
                }
                .to_wire(),
            ),
        })
        .await
        .expect("get")
        .into_inner();
    let e = view.evaluation.expect("evaluation");
    assert!(!e.eligible);
    assert_eq!(e.answer, w::Answer::NotEligible as i32);
    assert_eq!(e.unmet.len(), 1);
    assert!(!e.unmet[0].not_stated);
    assert_eq!(e.unmet[0].description, "lives in Greater London");
    // No fee is presented as theirs, and no route is offered on a course they cannot join.
    assert_eq!(e.fee_pence, None);
    assert!(e.possible_concessions.is_empty());

    // With the borough unstated, the answer depends on it, and the cheaper routes are listed
    // with the facts that would unlock them.
    let view = dir
        .get_course(w::GetRequest {
            id: digital.id.to_string(),
            learner: Some(LearnerProfile::default().to_wire()),
        })
        .await
        .expect("get")
        .into_inner();
    let e = view.evaluation.expect("evaluation");
    assert_eq!(e.answer, w::Answer::DependsOn as i32);
    assert_eq!(e.depends_on, vec![w::Fact::Borough as i32]);
    assert_eq!(e.fee_pence, None);
    assert!(
        e.possible_concessions
            .iter()
            .any(|p| p.fee_pence == 0 && p.unlock.contains(&(w::Fact::Employment as i32)))
    );
    // The rule set it was answered under is London's for this academic year.
    let gla_now = prospectus_model::RuleSet::current(
        prospectus_model::Funder::Gla,
        chrono::Utc::now().date_naive(),
    );
    assert_eq!(
        e.rules,
        prospectus_proto::WireEnum::to_i32(gla_now.id),
        "a London node answers under the GLA set for the current academic year"
    );

    // Search carries the same answer per result, and eligible_only filters.
    let res = dir
        .search(w::SearchRequest {
            learner: Some(
                LearnerProfile {
                    borough: Some("E07000001".into()),
                    ..Default::default()
                }
                .to_wire(),
            ),
            eligible_only: true,
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(res.total_hits, 0);
    let res = dir
        .search(w::SearchRequest {
            text: "digital".into(),
            learner: Some(
                LearnerProfile {
                    age: Some(45),
                    employment: Some(Employment::Unemployed),
                    ..londoner()
                }
                .to_wire(),
            ),
            eligible_only: true,
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(res.total_hits, 1);
    let e = res.hits[0]
        .course
        .as_ref()
        .and_then(|c| c.evaluation.clone())
        .expect("evaluation");
    assert_eq!(e.fee_pence, Some(0));
    assert_eq!(res.hits[0].fee_pence, Some(0));
}
