//! The fixed query mix: each shape as a `Directory.Search` request and as the closest SQL
//! (see README.md for the mapping and where SQL does less than the index).

use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;

pub struct Shape {
    pub name: &'static str,
    pub req: w::SearchRequest,
    /// A SELECT returning (id, total) rows, page of 20.
    pub sql: String,
}

const NEWHAM: &str = "E09000025";

fn req() -> w::SearchRequest {
    w::SearchRequest {
        page_size: 20,
        ..Default::default()
    }
}

fn cat(c: w::Category) -> Vec<i32> {
    vec![c as i32]
}

/// The page and the total from one materialised match set: the filter runs once through its
/// indexes, the count reads the set, the top 20 is a heap sort over it. (`count(*) OVER ()`
/// next to `LIMIT` made the planner walk the primary key instead.)
fn page(matches: &str, order: &str) -> String {
    format!(
        "WITH m AS MATERIALIZED ({matches}) \
         SELECT id, (SELECT count(*) FROM m) AS total FROM m ORDER BY {order} LIMIT 20"
    )
}

/// Text match: stemmed full text, ranked (title weighted).
fn fts(text: &str, extra: &str) -> String {
    format!(
        "WITH q AS (SELECT plainto_tsquery('english', '{text}') AS q), \
         m AS MATERIALIZED (SELECT c.id, ts_rank(c.tsv, q.q) AS k FROM course c, q WHERE c.tsv @@ q.q {extra}) \
         SELECT id, (SELECT count(*) FROM m) AS total FROM m ORDER BY k DESC, id LIMIT 20"
    )
}

/// Typo-tolerant match, the pg_trgm way: each word is replaced by the (up to 5) most similar
/// words of the corpus (`words`: the distinct words, trigram-indexed), then full text as above.
fn trgm(text: &str) -> String {
    let alts: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            format!(
                "'(' || coalesce((SELECT string_agg(word, ' | ') FROM (SELECT word FROM words \
                 WHERE word % '{w}' ORDER BY similarity(word, '{w}') DESC, word LIMIT 5) a), '{w}') || ')'"
            )
        })
        .collect();
    format!(
        "WITH q AS (SELECT to_tsquery('english', {}) AS q), \
         m AS MATERIALIZED (SELECT c.id, ts_rank(c.tsv, q.q) AS k FROM course c, q WHERE c.tsv @@ q.q) \
         SELECT id, (SELECT count(*) FROM m) AS total FROM m ORDER BY k DESC, id LIMIT 20",
        alts.join(" || ' & ' || ")
    )
}

fn filtered(filter: &str) -> String {
    page(&format!("SELECT c.id FROM course c WHERE {filter}"), "id")
}

fn filtered_by_start(filter: &str) -> String {
    page(
        &format!("SELECT c.id, c.next_start FROM course c WHERE {filter}"),
        "next_start NULLS FIRST, id",
    )
}

/// Distance: bounding box on the runs' lat/lon btree, exact haversine, in-person runs only.
fn near(lat: f64, lon: f64, km: f64, extra: &str) -> String {
    let dlat = km / 111.2;
    let dlon = km / (111.2 * lat.to_radians().cos());
    page(
        &format!(
            "SELECT c.id, n.d FROM (SELECT r.course_id, min(2 * 6371.0088 * asin(sqrt(power(sin(radians(r.lat - {lat}) / 2), 2) \
             + cos(radians({lat})) * cos(radians(r.lat)) * power(sin(radians(r.lon - ({lon})) / 2), 2)))) AS d \
             FROM run r WHERE NOT r.online AND r.lat BETWEEN {} AND {} AND r.lon BETWEEN {} AND {} GROUP BY r.course_id) n \
             JOIN course c ON c.id = n.course_id WHERE n.d <= {km} {extra}",
            lat - dlat,
            lat + dlat,
            lon - dlon,
            lon + dlon
        ),
        "d, id",
    )
}

pub fn shapes() -> Vec<Shape> {
    use prospectus_model::{Employment, LearnerProfile};
    let se15 = prospectus_geo::postcode_centroid("SE15").unwrap_or(prospectus_model::LatLon {
        lat: 51.47189,
        lon: -0.06468,
    });
    let e15 = prospectus_geo::postcode_centroid("E15").unwrap_or(prospectus_model::LatLon {
        lat: 51.53911,
        lon: 0.00307,
    });
    let unemployed = LearnerProfile {
        age: Some(30),
        borough: Some("E09000028".into()),
        employment: Some(Employment::Unemployed),
        ..Default::default()
    }
    .to_wire();
    let on_benefits = LearnerProfile {
        age: Some(45),
        borough: Some("E09000028".into()),
        employment: Some(Employment::NotLooking),
        means_tested_benefits: Some(true),
        ..Default::default()
    }
    .to_wire();
    vec![
        Shape {
            name: "text: digital",
            req: w::SearchRequest {
                text: "digital".into(),
                ..req()
            },
            sql: fts("digital", ""),
        },
        Shape {
            name: "text: esol",
            req: w::SearchRequest {
                text: "esol".into(),
                ..req()
            },
            sql: fts("esol", ""),
        },
        Shape {
            name: "text: anxiety",
            req: w::SearchRequest {
                text: "anxiety".into(),
                ..req()
            },
            sql: fts("anxiety", ""),
        },
        Shape {
            name: "text: yoga beginners",
            req: w::SearchRequest {
                text: "yoga beginners".into(),
                ..req()
            },
            sql: fts("yoga beginners", ""),
        },
        Shape {
            name: "typo: digtal skills",
            req: w::SearchRequest {
                text: "digtal skills".into(),
                ..req()
            },
            sql: trgm("digtal skills"),
        },
        Shape {
            name: "typo: mindfullness",
            req: w::SearchRequest {
                text: "mindfullness".into(),
                ..req()
            },
            sql: trgm("mindfullness"),
        },
        Shape {
            name: "esol in Newham",
            req: w::SearchRequest {
                categories: cat(w::Category::Esol),
                boroughs: vec![NEWHAM.into()],
                ..req()
            },
            sql: filtered(&format!(
                "c.categories @> ARRAY['esol'] AND c.boroughs @> ARRAY['{NEWHAM}']"
            )),
        },
        Shape {
            name: "wellbeing, mental-health focus",
            req: w::SearchRequest {
                categories: cat(w::Category::Wellbeing),
                mental_health_only: true,
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['wellbeing'] AND c.mental_health"),
        },
        Shape {
            name: "text english, evening",
            req: w::SearchRequest {
                text: "english".into(),
                attendance: vec![w::Attendance::Evening as i32],
                ..req()
            },
            sql: fts("english", "AND c.attendance @> ARRAY['evening']"),
        },
        Shape {
            name: "within 3 km of SE15, nearest first",
            req: w::SearchRequest {
                postcode: "SE15".into(),
                radius_km: Some(3.0),
                exclude_online: true,
                sort: w::SortOrder::Distance as i32,
                ..req()
            },
            sql: near(se15.lat, se15.lon, 3.0, ""),
        },
        Shape {
            name: "text cooking within 5 km of E15",
            req: w::SearchRequest {
                text: "cooking".into(),
                postcode: "E15".into(),
                radius_km: Some(5.0),
                exclude_online: true,
                sort: w::SortOrder::Distance as i32,
                ..req()
            },
            sql: near(
                e15.lat,
                e15.lon,
                5.0,
                "AND c.tsv @@ plainto_tsquery('english', 'cooking')",
            ),
        },
        Shape {
            name: "online digital",
            req: w::SearchRequest {
                categories: cat(w::Category::Digital),
                delivery: vec![w::DeliveryMode::Online as i32],
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['digital'] AND c.delivery = 'online'"),
        },
        Shape {
            name: "entry-level maths",
            req: w::SearchRequest {
                categories: cat(w::Category::Maths),
                levels: vec![w::Level::Entry as i32],
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['maths'] AND c.level = 'entry'"),
        },
        Shape {
            name: "arts & crafts on Saturdays",
            req: w::SearchRequest {
                categories: cat(w::Category::ArtsCrafts),
                days: vec![w::Weekday::Sat as i32],
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['arts-crafts'] AND c.days @> ARRAY['sat']"),
        },
        Shape {
            name: "esol starting in October, soonest first",
            req: w::SearchRequest {
                categories: cat(w::Category::Esol),
                starts_after: "2026-10-01".into(),
                starts_before: "2026-10-31".into(),
                sort: w::SortOrder::StartDate as i32,
                ..req()
            },
            sql: filtered_by_start(
                "c.categories @> ARRAY['esol'] AND EXISTS (SELECT 1 FROM run r WHERE r.course_id = c.id \
                 AND (r.rolling OR r.start BETWEEN '2026-10-01' AND '2026-10-31'))",
            ),
        },
        Shape {
            name: "free exercise",
            req: w::SearchRequest {
                categories: cat(w::Category::Exercise),
                max_fee_pence: Some(0),
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['exercise'] AND c.full_fee = 0"),
        },
        Shape {
            name: "digital an unemployed client can join",
            req: w::SearchRequest {
                text: "digital".into(),
                learner: Some(unemployed),
                eligible_only: true,
                ..req()
            },
            sql: fts("digital", "AND NOT c.has_eligibility"),
        },
        Shape {
            name: "wellbeing free for a client on benefits",
            req: w::SearchRequest {
                categories: cat(w::Category::Wellbeing),
                learner: Some(on_benefits),
                max_fee_pence: Some(0),
                ..req()
            },
            sql: filtered("c.categories @> ARRAY['wellbeing'] AND c.min_fee = 0"),
        },
        Shape {
            name: "text pottery, step-free",
            req: w::SearchRequest {
                text: "pottery".into(),
                step_free_only: true,
                ..req()
            },
            sql: fts("pottery", "AND c.step_free"),
        },
        Shape {
            name: "gardening in English, afternoons",
            req: w::SearchRequest {
                text: "gardening".into(),
                languages: vec!["en".into()],
                time_from: "12:00".into(),
                ..req()
            },
            sql: fts(
                "gardening",
                "AND c.language = 'en' AND EXISTS (SELECT 1 FROM run r WHERE r.course_id = c.id AND r.start_time >= '12:00')",
            ),
        },
        Shape {
            name: "everything, soonest first",
            req: w::SearchRequest {
                sort: w::SortOrder::StartDate as i32,
                ..req()
            },
            // The natural SQL: the (next_start, id) btree gives the order, the count is separate.
            sql: "SELECT c.id, (SELECT count(*) FROM course) AS total FROM course c \
                  ORDER BY c.next_start NULLS FIRST, c.id LIMIT 20"
                .into(),
        },
        Shape {
            name: "text history, cheapest first",
            req: w::SearchRequest {
                text: "history".into(),
                sort: w::SortOrder::Fee as i32,
                ..req()
            },
            sql: page(
                "SELECT c.id, c.full_fee FROM course c WHERE c.tsv @@ plainto_tsquery('english', 'history')",
                "full_fee, id",
            ),
        },
    ]
}
