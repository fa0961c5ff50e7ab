//! A single borough node over real gRPC and a real sled store: publish, read back, authorise,
//! reject bad input atomically, survive SIGKILL.

mod common;

use common::*;
use prospectus_model::{Course, Provider, Record, RecordKind, Venue};
use prospectus_proto::FromWire;
use prospectus_proto::v1 as w;
use tonic::Code;

fn generated(courses: usize) -> prospectus_dataset::Bundle {
    prospectus_dataset::generate(7, courses, Some(SOUTHWARK)).expect("generate")
}

async fn read_back_all(node: &Node, b: &prospectus_dataset::Bundle) {
    let mut dir = node.directory().await;
    for p in &b.providers {
        let got = dir
            .get_provider(get_req(p.id))
            .await
            .expect("provider")
            .into_inner();
        assert_eq!(&Provider::from_wire(&got).expect("decode"), p);
    }
    for v in &b.venues {
        let got = dir
            .get_venue(get_req(v.id))
            .await
            .expect("venue")
            .into_inner();
        assert_eq!(&Venue::from_wire(&got).expect("decode"), v);
    }
    for c in &b.courses {
        let view = dir
            .get_course(get_req(c.id))
            .await
            .expect("course")
            .into_inner();
        let got = Course::from_wire(view.course.as_ref().expect("course set")).expect("decode");
        assert_eq!(&got, c);
        assert_eq!(view.origin, SOUTHWARK);
        assert_eq!(
            view.provider.as_ref().map(|p| p.id.clone()),
            Some(c.provider_id.to_string())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_borough_publishes_and_reads_back_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(2000);
    assert!(b.courses.len() >= 2000);
    let ops: Vec<_> = bundle_records(&b).iter().map(op).collect();
    let n = ops.len() as u64;
    let mut pubc = node.publisher().await;
    let r = publish_batch(&mut pubc, &node.admin_token(), "import-1", ops)
        .await
        .expect("publish");
    assert_eq!(
        (r.first_seq, r.last_seq, r.applied as u64, r.replayed),
        (1, n, n, false)
    );
    read_back_all(&node, &b).await;

    // Search sees the import through the store's apply hook.
    let mut dir = node.directory().await;
    let res = dir
        .search(w::SearchRequest {
            boroughs: vec![SOUTHWARK.into()],
            page_size: 5,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert_eq!(res.total_hits, b.courses.len() as u64);
    assert_eq!(res.hits.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_batch_survives_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(2000);
    let ops: Vec<_> = bundle_records(&b).iter().map(op).collect();
    let mut pubc = node.publisher().await;
    publish_batch(&mut pubc, &node.admin_token(), "k", ops)
        .await
        .expect("publish");
    // Killed the instant the acknowledgement arrives: no graceful shutdown, no final flush.
    node.kill9();
    node.restart();
    read_back_all(&node, &b).await;
    // The log continues gaplessly after the restart.
    let extra = Record::Provider(Provider {
        name: "After restart".into(),
        ..b.providers[0].clone()
    });
    let r = publish_batch(
        &mut node.publisher().await,
        &node.admin_token(),
        "k2",
        vec![op(&extra)],
    )
    .await
    .expect("publish after restart");
    let total = (b.providers.len() + b.venues.len() + b.courses.len()) as u64;
    assert_eq!((r.first_seq, r.last_seq), (total + 1, total + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_token_writes_only_its_own_records() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(40);
    assert!(b.providers.len() >= 2);
    let admin = node.admin_token();
    let mut pubc = node.publisher().await;
    publish_batch(
        &mut pubc,
        &admin,
        "seed",
        bundle_records(&b).iter().map(op).collect(),
    )
    .await
    .expect("seed");

    let (pa, pb) = (&b.providers[0], &b.providers[1]);
    let mut adm = node.admin().await;
    let mut token_for = async |p: &Provider| {
        adm.create_provider_token(bearer(
            w::CreateProviderTokenRequest {
                provider_id: p.id.to_string(),
                label: "test".into(),
            },
            &admin,
        ))
        .await
        .expect("token")
        .into_inner()
        .token
    };
    let ta = token_for(pa).await;
    let tb = token_for(pb).await;

    let course_a = b
        .courses
        .iter()
        .find(|c| c.provider_id == pa.id)
        .expect("a course of A")
        .clone();
    let mut renamed = course_a.clone();
    renamed.title = "Renamed by its owner".into();
    let ok = pubc
        .upsert_course(bearer(prospectus_proto::ToWire::to_wire(&renamed), &ta))
        .await;
    assert!(ok.is_ok(), "owner may write: {ok:?}");

    // B writing A's course as A's: refused.
    let mut hijack = course_a.clone();
    hijack.title = "Hijacked".into();
    let e = pubc
        .upsert_course(bearer(prospectus_proto::ToWire::to_wire(&hijack), &tb))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // B claiming A's course id under its own provider id: refused too.
    hijack.provider_id = pb.id;
    hijack.runs.clear();
    hijack.runs.push(
        b.courses
            .iter()
            .find(|c| c.provider_id == pb.id)
            .expect("course of B")
            .runs[0]
            .clone(),
    );
    let e = pubc
        .upsert_course(bearer(prospectus_proto::ToWire::to_wire(&hijack), &tb))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    // B deleting A's course: refused.
    let del = w::DeleteRequest {
        kind: w::RecordKind::Course as i32,
        id: course_a.id.to_string(),
    };
    let e = pubc.delete(bearer(del.clone(), &tb)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // A batch from B that touches one of A's records is refused whole.
    let own_b = b
        .courses
        .iter()
        .find(|c| c.provider_id == pb.id)
        .expect("course of B")
        .clone();
    let mut own_b2 = own_b.clone();
    own_b2.title = "B's own, in a bad batch".into();
    let e = publish_batch(
        &mut pubc,
        &tb,
        "",
        vec![
            op(&Record::Course(own_b2)),
            op(&Record::Course(hijack.clone())),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    // No token, and a made-up token: unauthenticated.
    let e = pubc
        .delete(tonic::Request::new(del.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = pubc
        .delete(bearer(del.clone(), "pst_not-a-real-token"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    // A provider token cannot mint tokens.
    let e = node
        .admin()
        .await
        .create_provider_token(bearer(
            w::CreateProviderTokenRequest {
                provider_id: pb.id.to_string(),
                label: String::new(),
            },
            &tb,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // Nothing B tried changed anything.
    let mut dir = node.directory().await;
    let got = dir
        .get_course(get_req(course_a.id))
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(got.course.expect("course").title, "Renamed by its owner");
    let got_b = dir
        .get_course(get_req(own_b.id))
        .await
        .expect("b")
        .into_inner();
    assert_eq!(got_b.course.expect("course").title, own_b.title);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_batch_changes_nothing_and_names_every_bad_field() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(30);
    let admin = node.admin_token();
    let mut pubc = node.publisher().await;
    // Providers and venues first, so only the courses' own problems remain.
    let setup: Vec<_> = b
        .providers
        .iter()
        .cloned()
        .map(Record::Provider)
        .chain(b.venues.iter().cloned().map(Record::Venue))
        .map(|r| op(&r))
        .collect();
    let before = publish_batch(&mut pubc, &admin, "setup", setup)
        .await
        .expect("setup");

    let mut ops: Vec<w::PublishOp> = b.courses[..10]
        .iter()
        .cloned()
        .map(|c| op(&Record::Course(c)))
        .collect();
    let wire = |i: usize, ops: &mut Vec<w::PublishOp>| -> w::Course {
        match ops[i].op.take() {
            Some(w::publish_op::Op::Course(c)) => c,
            _ => unreachable!(),
        }
    };
    let put = |i: usize, c: w::Course, ops: &mut Vec<w::PublishOp>| {
        ops[i].op = Some(w::publish_op::Op::Course(c))
    };
    let mut c1 = wire(1, &mut ops);
    c1.runs[0].end_time = "08:00".into();
    c1.runs[0].start_time = "09:00".into();
    c1.title = String::new();
    put(1, c1, &mut ops);
    let mut c3 = wire(3, &mut ops);
    c3.id = "not-a-uuid".into();
    c3.runs[0].start_time = "25:00".into();
    put(3, c3, &mut ops);
    let mut c5 = wire(5, &mut ops);
    c5.fees = Some(w::Fees {
        full_fee_pence: 1000,
        concessions: vec![w::Concession {
            name: "Too dear".into(),
            template: 0,
            conditions: vec![prospectus_proto::ToWire::to_wire(
                &prospectus_model::Condition::Unemployed,
            )],
            fee_pence: 5000,
            documents: vec![],
        }],
    });
    c5.categories.clear();
    put(5, c5, &mut ops);
    let mut c7 = wire(7, &mut ops);
    c7.runs[0].venue_id = prospectus_model::Uuid::new_v4().to_string();
    put(7, c7, &mut ops);

    // Decoding/validation problems: all reported together.
    let e = publish_batch(&mut pubc, &admin, "bad", ops.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    for want in [
        "ops[1].course.runs[0].end_time",
        "ops[1].course.title",
        "ops[3].course.id",
        "ops[3].course.runs[0].start_time",
        "ops[5].course.fees.concessions[0].fee_pence",
        "ops[5].course.categories",
    ] {
        assert!(
            fields.iter().any(|f| f == want),
            "missing {want} in {fields:?}"
        );
    }

    // With those fixed, the dangling venue reference is still caught, and still nothing lands.
    for i in [1, 3, 5] {
        ops[i] = op(&Record::Course(b.courses[i].clone()));
    }
    let e = publish_batch(&mut pubc, &admin, "bad2", ops.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, vec!["ops[7].course.runs[0].venue_id".to_string()]);

    let mut dir = node.directory().await;
    for c in &b.courses[..10] {
        let e = dir.get_course(get_req(c.id)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "course {} must not exist", c.id);
    }
    let info = node
        .admin()
        .await
        .node_info(bearer(w::NodeInfoRequest {}, &admin))
        .await
        .expect("info")
        .into_inner();
    assert_eq!(
        info.seq, before.last_seq,
        "no seq was consumed by rejected batches"
    );
    assert_eq!(info.courses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_and_refuses_reuse_for_other_content() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(20);
    let admin = node.admin_token();
    let mut pubc = node.publisher().await;
    let ops: Vec<_> = bundle_records(&b).iter().map(op).collect();
    let first = publish_batch(&mut pubc, &admin, "same", ops.clone())
        .await
        .expect("first");
    let again = publish_batch(&mut pubc, &admin, "same", ops.clone())
        .await
        .expect("retry");
    assert!(again.replayed);
    assert_eq!(
        (again.first_seq, again.last_seq),
        (first.first_seq, first.last_seq)
    );
    let e = publish_batch(&mut pubc, &admin, "same", ops[..3].to_vec())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let info = node
        .admin()
        .await
        .node_info(bearer(w::NodeInfoRequest {}, &admin))
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.seq, first.last_seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_not_found_and_bad_ids_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let mut dir = node.directory().await;
    let e = dir
        .get_course(get_req(prospectus_model::Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = dir
        .get_venue(w::GetRequest {
            id: "nope".into(),
            learner: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violations(&e)[0].0, "id");
    let _ = RecordKind::Course;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_lie_about_dates_or_repeat_an_id_are_refused_and_nothing_lands() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(6);
    let admin = node.admin_token();
    let mut pubc = node.publisher().await;
    let setup: Vec<_> = b
        .providers
        .iter()
        .cloned()
        .map(Record::Provider)
        .chain(b.venues.iter().cloned().map(Record::Venue))
        .map(|r| op(&r))
        .collect();
    let before = publish_batch(&mut pubc, &admin, "setup", setup)
        .await
        .expect("setup");

    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let mut verified_in_future = b.courses[0].clone();
    verified_in_future.last_verified = date(9999, 12, 31);
    let mut starts_in_9999 = b.courses[1].clone();
    starts_in_9999.runs[0].start = prospectus_model::Start::On(date(9999, 1, 1));
    let twice = b.courses[2].clone();
    let mut twice_again = twice.clone();
    twice_again.title = "The same id, different content".into();
    let mut provider_in_future = b.providers[0].clone();
    provider_in_future.last_verified = date(2999, 1, 1);
    let ops: Vec<w::PublishOp> = [
        Record::Course(verified_in_future),
        Record::Course(starts_in_9999),
        Record::Course(twice),
        Record::Course(twice_again),
        Record::Course(b.courses[3].clone()),
        Record::Provider(provider_in_future),
    ]
    .iter()
    .map(op)
    .collect();

    let e = publish_batch(&mut pubc, &admin, "lies", ops.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let fields: Vec<String> = violations(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "ops[0].course.last_verified",
            "ops[1].course.runs[0].start",
            "ops[3].course.id",
            "ops[5].provider.last_verified",
        ],
        "every lie named once, at its field"
    );
    // Short messages, not echoes of the input.
    for (_, d) in violations(&e) {
        assert!(d.len() < 200, "{d}");
    }

    // A batch whose only fault is the repeated id is refused by the store as well.
    let dup = vec![
        op(&Record::Course(b.courses[4].clone())),
        op(&Record::Course(b.courses[4].clone())),
    ];
    let e = publish_batch(&mut pubc, &admin, "dup", dup)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let v = violations(&e);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, "ops[1].course.id");
    assert!(v[0].1.contains("ops[0]"), "{}", v[0].1);

    // A single-record write is dated too.
    let mut single = b.courses[5].clone();
    single.last_verified = date(9999, 12, 31);
    let e = pubc
        .upsert_course(bearer(prospectus_proto::ToWire::to_wire(&single), &admin))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(violations(&e)[0].0, "last_verified");

    // Nothing was written: no course exists, no seq was consumed.
    let mut dir = node.directory().await;
    for c in &b.courses {
        let e = dir.get_course(get_req(c.id)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "course {} must not exist", c.id);
    }
    let info = node
        .admin()
        .await
        .node_info(bearer(w::NodeInfoRequest {}, &admin))
        .await
        .expect("info")
        .into_inner();
    assert_eq!(info.seq, before.last_seq);
    assert_eq!(info.courses, 0);

    // The honest batch goes through.
    let ok: Vec<w::PublishOp> = b
        .courses
        .iter()
        .cloned()
        .map(|c| op(&Record::Course(c)))
        .collect();
    publish_batch(&mut pubc, &admin, "honest", ok)
        .await
        .expect("valid courses publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_request_id_reaches_the_log_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(&tmp.path().join("node"), SOUTHWARK);
    let b = generated(3);
    let chunk = w::PublishBatchChunk {
        idempotency_key: "request-id".into(),
        ops: b.clone().into_records().iter().map(op).collect(),
    };
    let mut req = bearer(futures::stream::iter(vec![chunk]), &node.admin_token());
    let id = "r".repeat(5000);
    req.metadata_mut()
        .insert("x-request-id", id.parse().expect("ascii"));
    node.publisher()
        .await
        .publish_batch(req)
        .await
        .expect("publish");
    let log = wait_for("the commit logged", || {
        let log = node.log();
        log.contains("batch committed").then_some(log)
    });
    let line = log
        .lines()
        .find(|l| l.contains("batch committed"))
        .expect("a commit line");
    assert!(line.contains(&"r".repeat(64)), "the id is kept: {line}");
    assert!(
        !line.contains(&"r".repeat(65)),
        "a 5,000-character request id is cut to 64 in the log ({} characters)",
        line.len()
    );
}
