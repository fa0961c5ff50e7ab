//! The PostgreSQL side of the comparison: the same courses in two tables with a tsvector + GIN
//! index, trigram GIN, GIN on the array filters and btree indexes, loaded with COPY; the mix
//! run by N client threads, each on its own connection with prepared statements.

use crate::measure::{Run, record};
use crate::mix::Shape;
use anyhow::{Context, Result};
use postgres::{Client, NoTls};
use prospectus_dataset::Bundle;
use prospectus_model::{Course, Provider, Start, Uuid, Venue};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

const SCHEMA: &str = "
DROP TABLE IF EXISTS words; DROP TABLE IF EXISTS run; DROP TABLE IF EXISTS course;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE course (
  id uuid PRIMARY KEY,
  title text NOT NULL,
  body text NOT NULL,
  doc text NOT NULL,
  categories text[] NOT NULL,
  level text NOT NULL,
  delivery text NOT NULL,
  attendance text[] NOT NULL,
  days text[] NOT NULL,
  mental_health boolean NOT NULL,
  step_free boolean NOT NULL,
  language text NOT NULL,
  boroughs text[] NOT NULL,
  full_fee integer NOT NULL,
  min_fee integer NOT NULL,
  has_eligibility boolean NOT NULL,
  next_start date,
  tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', body), 'B')
  ) STORED
);
CREATE TABLE run (
  course_id uuid NOT NULL,
  start date,
  rolling boolean NOT NULL,
  days text[] NOT NULL,
  start_time time NOT NULL,
  end_time time NOT NULL,
  places_left integer,
  lat double precision,
  lon double precision,
  online boolean NOT NULL,
  step_free boolean NOT NULL
);";

const INDEXES: &str = "
CREATE INDEX course_tsv ON course USING gin (tsv);
CREATE INDEX course_doc_trgm ON course USING gin (doc gin_trgm_ops);
CREATE INDEX course_categories ON course USING gin (categories);
CREATE INDEX course_boroughs ON course USING gin (boroughs);
CREATE INDEX course_attendance ON course USING gin (attendance);
CREATE INDEX course_days ON course USING gin (days);
CREATE INDEX course_level ON course (level);
CREATE INDEX course_delivery ON course (delivery);
CREATE INDEX course_language ON course (language);
CREATE INDEX course_full_fee ON course (full_fee, id);
CREATE INDEX course_min_fee ON course (min_fee);
CREATE INDEX course_next_start ON course (next_start NULLS FIRST, id);
CREATE INDEX run_course ON run (course_id);
CREATE INDEX run_latlon ON run (lat, lon);
CREATE INDEX run_start ON run (start);
CREATE TABLE words AS SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', doc) FROM course');
CREATE INDEX words_trgm ON words USING gin (word gin_trgm_ops);";

fn csv(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn arr(items: &[&str]) -> String {
    csv(&format!("{{{}}}", items.join(",")))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The same searchable text the index builds (title; description with category, level,
/// delivery and attendance labels, provider, venue and borough names).
fn body(c: &Course, provider: Option<&Provider>, venues: &[&Venue], boroughs: &[&str]) -> String {
    let mut s = c.description.clone();
    let mut push = |t: &str| {
        s.push(' ');
        s.push_str(t);
    };
    for cat in &c.categories {
        push(cat.label());
        push(cat.as_str());
    }
    push(c.level.label());
    push(c.delivery.label());
    for a in c.attendance() {
        push(a.label());
    }
    if c.mental_health_focus {
        push("mental health wellbeing");
    }
    if let Some(p) = provider {
        push(&p.name);
    }
    for v in venues {
        push(&v.name);
    }
    for b in boroughs {
        if let Some(b) = prospectus_geo::borough(b) {
            push(b.name);
        }
    }
    s
}

/// Creates the tables, COPYs the courses in, builds the indexes. `origin` is the borough
/// online runs count in (as in the index).
pub fn load(conn: &str, b: &Bundle, origin: &str) -> Result<Duration> {
    let started = Instant::now();
    let mut client = Client::connect(conn, NoTls).context("connecting to PostgreSQL")?;
    client
        .batch_execute(SCHEMA)
        .context("creating the schema")?;
    let providers: HashMap<Uuid, &Provider> = b.providers.iter().map(|p| (p.id, p)).collect();
    let venues: HashMap<Uuid, &Venue> = b.venues.iter().map(|v| (v.id, v)).collect();
    {
        let mut w = client.copy_in("COPY course (id, title, body, doc, categories, level, delivery, attendance, days, mental_health, step_free, language, boroughs, full_fee, min_fee, has_eligibility, next_start) FROM STDIN WITH (FORMAT csv)")?;
        for c in &b.courses {
            let mut vs: Vec<&Venue> = Vec::new();
            let mut boroughs: Vec<&str> = Vec::new();
            let mut step_free = false;
            let mut days: Vec<&str> = Vec::new();
            let mut origin_too = false;
            for r in &c.runs {
                let v = venues.get(&r.venue_id).copied();
                let online = v.is_none_or(|v| v.is_virtual());
                step_free |= online || v.is_some_and(|v| v.accessibility.step_free);
                match v
                    .filter(|v| !v.is_virtual())
                    .and_then(|v| v.address.as_ref())
                    .and_then(|a| {
                        prospectus_geo::borough_of_postcode(&a.postcode)
                            .ok()
                            .flatten()
                    }) {
                    Some(bo) => {
                        if !boroughs.contains(&bo.gss_code) {
                            boroughs.push(bo.gss_code);
                        }
                    }
                    None => origin_too = true,
                }
                if let Some(v) = v
                    && !vs.iter().any(|x| x.id == v.id)
                {
                    vs.push(v);
                }
                for d in &r.days {
                    if !days.contains(&d.as_str()) {
                        days.push(d.as_str());
                    }
                }
            }
            if (origin_too || boroughs.is_empty()) && !boroughs.contains(&origin) {
                boroughs.push(origin);
            }
            let text = body(c, providers.get(&c.provider_id).copied(), &vs, &boroughs);
            let doc = format!("{} {}", c.title, text);
            let cats: Vec<&str> = c.categories.iter().map(|x| x.as_str()).collect();
            let att: Vec<&str> = c.attendance().iter().map(|x| x.as_str()).collect();
            let min_fee = c
                .fees
                .concessions
                .iter()
                .map(|x| x.fee_pence)
                .fold(c.fees.full_fee_pence, u32::min);
            let next = c
                .runs
                .iter()
                .filter_map(|r| match r.start {
                    Start::On(d) => Some(d),
                    Start::Rolling => None,
                })
                .min();
            let rolling = c.runs.iter().any(|r| r.start == Start::Rolling);
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                c.id,
                csv(&c.title),
                csv(&text),
                csv(&doc),
                arr(&cats),
                c.level.as_str(),
                c.delivery.as_str(),
                arr(&att),
                arr(&days),
                c.mental_health_focus,
                step_free,
                csv(&c.language),
                arr(&boroughs),
                c.fees.full_fee_pence,
                min_fee,
                !c.eligibility.is_empty(),
                if rolling { String::new() } else { opt(next) },
            )?;
        }
        w.finish()?;
    }
    {
        let mut w = client.copy_in("COPY run (course_id, start, rolling, days, start_time, end_time, places_left, lat, lon, online, step_free) FROM STDIN WITH (FORMAT csv)")?;
        for c in &b.courses {
            for r in &c.runs {
                let v = venues.get(&r.venue_id).copied();
                let online = v.is_none_or(|v| v.is_virtual());
                let loc = v.and_then(|v| v.location);
                let days: Vec<&str> = r.days.iter().map(|d| d.as_str()).collect();
                writeln!(
                    w,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    c.id,
                    match r.start {
                        Start::On(d) => d.to_string(),
                        Start::Rolling => String::new(),
                    },
                    r.start == Start::Rolling,
                    arr(&days),
                    r.start_time.format("%H:%M:%S"),
                    r.end_time.format("%H:%M:%S"),
                    opt(r.places_left),
                    opt(loc.map(|l| l.lat)),
                    opt(loc.map(|l| l.lon)),
                    online,
                    online || v.is_some_and(|v| v.accessibility.step_free),
                )?;
            }
        }
        w.finish()?;
    }
    client.batch_execute(INDEXES).context("building indexes")?;
    // VACUUM cannot share a (implicit) transaction with other statements.
    client.batch_execute("VACUUM ANALYZE course")?;
    client.batch_execute("VACUUM ANALYZE run")?;
    client.batch_execute("VACUUM ANALYZE words")?;
    Ok(started.elapsed())
}

/// The plan's first lines and whether it uses an index, per shape.
pub fn explain(conn: &str, shapes: &[Shape]) -> Result<Vec<(String, bool)>> {
    let mut client = Client::connect(conn, NoTls)?;
    let mut out = Vec::new();
    for s in shapes {
        let rows = client.query(&format!("EXPLAIN {}", s.sql), &[])?;
        let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        let uses = plan
            .iter()
            .any(|l| l.contains("Index") || l.contains("Bitmap"));
        out.push((plan.join("\n"), uses));
    }
    Ok(out)
}

pub fn settings(conn: &str) -> Result<Vec<(String, String)>> {
    let mut client = Client::connect(conn, NoTls)?;
    let mut out = Vec::new();
    for name in [
        "server_version",
        "shared_buffers",
        "effective_cache_size",
        "work_mem",
        "max_parallel_workers_per_gather",
        "jit",
    ] {
        let r = client.query_one(&format!("SHOW {name}"), &[])?;
        out.push((name.to_string(), r.get::<_, String>(0)));
    }
    let r = client.query_one(
        "SELECT pg_size_pretty(pg_total_relation_size('course') + pg_total_relation_size('run'))",
        &[],
    )?;
    out.push(("data + indexes".into(), r.get::<_, String>(0)));
    Ok(out)
}

/// Runs the mix on `threads` connections for `secs`.
pub fn run(conn: &str, shapes: &[Shape], threads: usize, secs: f64, label: &str) -> Result<Run> {
    let sqls: Vec<String> = shapes.iter().map(|s| s.sql.clone()).collect();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let conn = conn.to_string();
            let sqls = sqls.clone();
            let label = label.to_string();
            std::thread::spawn(move || -> Result<Run> {
                let mut client = Client::connect(&conn, NoTls)?;
                let stmts = sqls
                    .iter()
                    .map(|s| client.prepare(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut run = Run::new(&label, sqls.len());
                let started = Instant::now();
                let deadline = started + Duration::from_secs_f64(secs);
                let mut i = t * 7;
                while Instant::now() < deadline {
                    let k = i % stmts.len();
                    let t0 = Instant::now();
                    let rows = client.query(&stmts[k], &[])?;
                    let d = t0.elapsed();
                    record(&mut run.all, d);
                    record(&mut run.shapes[k], d);
                    if run.totals[k] == 0 {
                        run.totals[k] = rows.first().map_or(0, |r| r.get::<_, i64>(1) as u64);
                    }
                    i += 1;
                }
                run.elapsed = started.elapsed();
                Ok(run)
            })
        })
        .collect();
    let mut all = Run::new(label, shapes.len());
    for h in handles {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("a PostgreSQL client thread panicked"))??;
        all.merge(&r);
    }
    Ok(all)
}
