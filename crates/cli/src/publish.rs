//! `prospectus publish FILE`: validate locally, then stream the whole file as one
//! all-or-nothing batch. Every problem is reported at its place in the file (CSV row and
//! column, or the JSON path), whether found here or by the node.

use crate::args::PublishArgs;
use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use prospectus_dataset::CsvKind;
use prospectus_model::{FieldViolation, Record, validate_record_at};
use prospectus_proto::v1 as w;
use prospectus_server::client::{self, PublisherClient};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tonic_types::StatusExt;

/// Where an op came from in the input files, to report problems there.
enum Source {
    Json(Vec<String>),
    Csv(prospectus_dataset::CsvCourses),
    Dfe(prospectus_dataset::DfeOffer),
    /// A providers or venues sheet: its name, each record's row, the column of a field.
    Sheet {
        file: String,
        rows: Vec<usize>,
        column: fn(&str) -> &'static str,
    },
    /// Several files in one batch: each part's first op and source.
    Parts(Vec<(usize, Source)>),
}

impl Source {
    /// `field` is relative to the record (e.g. `runs[1].end_time`).
    fn locate(&self, op: usize, field: &str) -> String {
        match self {
            Source::Json(paths) => match paths.get(op) {
                Some(p) if field.is_empty() => p.clone(),
                Some(p) => format!("{p}.{field}"),
                None => format!("ops[{op}].{field}"),
            },
            Source::Csv(csv) => match csv.locate(op, field) {
                Some((row, column)) => format!("row {row}, column {column}"),
                None => format!("course {op}, field {field}"),
            },
            Source::Dfe(offer) => offer.locate(op, field),
            Source::Sheet { file, rows, column } => match rows.get(op) {
                Some(row) => format!("{file} row {row}, column {}", column(field)),
                None => format!("{file} record {op}, field {field}"),
            },
            Source::Parts(parts) => match parts.iter().rev().find(|(first, _)| *first <= op) {
                Some((first, s)) => s.locate(op - first, field),
                None => format!("ops[{op}].{field}"),
            },
        }
    }
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Records and where they came from, gathered from several files into one batch.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    parts: Vec<(usize, Source)>,
}

impl Batch {
    fn add(&mut self, records: Vec<Record>, source: Source) {
        self.parts.push((self.records.len(), source));
        self.records.extend(records);
    }

    /// Our template's providers or venues sheet.
    fn add_sheet(&mut self, path: &std::path::Path, text: &str, kind: CsvKind) -> Result<()> {
        let file = path.display().to_string();
        let bad = |e: prospectus_dataset::FileError| anyhow!("{file}:\n{e}\nnothing was published");
        let (records, rows, column): (Vec<Record>, _, fn(&str) -> &'static str) = match kind {
            CsvKind::TemplateProviders => {
                let r = prospectus_dataset::read_providers_csv(text).map_err(bad)?;
                let records = r.records.into_iter().map(Record::Provider).collect();
                (records, r.rows, prospectus_dataset::provider_column)
            }
            CsvKind::TemplateVenues => {
                let r = prospectus_dataset::read_venues_csv(text).map_err(bad)?;
                let records = r.records.into_iter().map(Record::Venue).collect();
                (records, r.rows, prospectus_dataset::venue_column)
            }
            _ => bail!("{file}: not a providers or venues sheet of the CSV template"),
        };
        self.add(records, Source::Sheet { file, rows, column });
        Ok(())
    }
}

/// A DfE Course Directory course file (and its venues file, if `venues` is one) as the
/// provider's records.
fn load_dfe(a: &PublishArgs, text: &str, venues: Option<&str>) -> Result<(Vec<Record>, Source)> {
    let provider = a.provider.as_deref().ok_or_else(|| {
        anyhow!(
            "{} is a DfE Course Directory course file: give --provider UUID (the provider it is for)",
            a.file.display()
        )
    })?;
    let provider = uuid::Uuid::parse_str(provider.trim())
        .map_err(|_| anyhow!("--provider: expected the provider's UUID"))?;
    let today = chrono::Utc::now().date_naive();
    let offer = prospectus_dataset::read_dfe(text, venues, provider, today)
        .map_err(|e| anyhow!("{}: {e}\nnothing was published", a.file.display()))?;
    Ok((offer.records(), Source::Dfe(offer)))
}

/// Everything `a` names, in dependency order (providers, venues, then the main file).
fn load(a: &PublishArgs) -> Result<(Vec<Record>, Source)> {
    let mut batch = Batch::default();
    if let Some(p) = &a.providers {
        let text = read(p)?;
        batch.add_sheet(p, &text, CsvKind::TemplateProviders)?;
    }
    // A DfE venues file is read with its course file; ours is a sheet of its own.
    let mut dfe_venues = None;
    if let Some(p) = &a.venues {
        let text = read(p)?;
        match prospectus_dataset::csv_kind(&text) {
            CsvKind::DfeVenues => dfe_venues = Some(text),
            _ => batch.add_sheet(p, &text, CsvKind::TemplateVenues)?,
        }
    }
    let (records, source) = load_main(a, dfe_venues.as_deref())?;
    batch.add(records, source);
    Ok((batch.records, Source::Parts(batch.parts)))
}

fn load_main(a: &PublishArgs, dfe_venues: Option<&str>) -> Result<(Vec<Record>, Source)> {
    let path = a.file.as_path();
    let text = read(path)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "json" => {
            let b = prospectus_dataset::read_json(&text)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            let mut records = Vec::new();
            let mut paths = Vec::new();
            for (i, p) in b.providers.into_iter().enumerate() {
                records.push(Record::Provider(p));
                paths.push(format!("providers[{i}]"));
            }
            for (i, v) in b.venues.into_iter().enumerate() {
                records.push(Record::Venue(v));
                paths.push(format!("venues[{i}]"));
            }
            for (i, c) in b.courses.into_iter().enumerate() {
                records.push(Record::Course(c));
                paths.push(format!("courses[{i}]"));
            }
            Ok((records, Source::Json(paths)))
        }
        "csv" => {
            let kind = prospectus_dataset::csv_kind(&text);
            if dfe_venues.is_some() && kind != CsvKind::DfeCourses {
                bail!("a DfE Course Directory venues file goes with a DfE course file");
            }
            match kind {
                CsvKind::DfeCourses => load_dfe(a, &text, dfe_venues),
                CsvKind::DfeVenues => bail!(
                    "{} is a DfE Course Directory venues file: publish its course file, with --venues {}",
                    path.display(),
                    path.display()
                ),
                CsvKind::TemplateProviders | CsvKind::TemplateVenues => {
                    let mut one = Batch::default();
                    one.add_sheet(path, &text, kind)?;
                    Ok((one.records, Source::Parts(one.parts)))
                }
                CsvKind::Template => {
                    let csv = prospectus_dataset::read_csv(&text)
                        .map_err(|e| anyhow!("{}:\n{e}", path.display()))?;
                    let records = csv.courses.iter().cloned().map(Record::Course).collect();
                    Ok((records, Source::Csv(csv)))
                }
            }
        }
        _ => bail!(
            "{}: expected a .json bundle or a .csv sheet",
            path.display()
        ),
    }
}

fn report(problems: &[String]) {
    for p in problems.iter().take(200) {
        eprintln!("  {p}");
    }
    if problems.len() > 200 {
        eprintln!("  … and {} more", problems.len() - 200);
    }
}

/// Splits a node-side path `ops[12].course.runs[0].end_time` into (12, "runs[0].end_time").
fn split_op_path(field: &str) -> Option<(usize, String)> {
    let rest = field.strip_prefix("ops[")?;
    let (n, rest) = rest.split_once(']')?;
    let n = n.parse().ok()?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    let rest = match rest.split_once('.') {
        Some((kind, r)) if ["provider", "venue", "course", "delete"].contains(&kind) => {
            r.to_string()
        }
        _ if ["provider", "venue", "course", "delete"].contains(&rest) => String::new(),
        _ => rest.to_string(),
    };
    Some((n, rest))
}

/// Turns a failed call into an error that lists its field violations.
pub fn describe_status(s: tonic::Status) -> anyhow::Error {
    let mut msg = format!("{:?}: {}", s.code(), s.message());
    if let Some(br) = s.get_details_bad_request() {
        for v in br.field_violations {
            msg.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow!(msg)
}

pub async fn run(a: PublishArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (records, source) = load(&a)?;
    if records.is_empty() {
        bail!("{}: no records to publish", a.file.display());
    }
    let mut problems = Vec::new();
    // The node checks the same as of its own clock; checking here first keeps a bad file
    // from being sent at all.
    let today = chrono::Utc::now().date_naive();
    let mut seen = std::collections::HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Err(e) = validate_record_at(r, today) {
            for FieldViolation { field, description } in e.0 {
                problems.push(format!("{}: {description}", source.locate(i, &field)));
            }
        }
        if let Some(first) = seen.insert((r.kind(), r.id()), i) {
            problems.push(format!(
                "{}: {} {} is already in this file at {}; one record at most once per batch",
                source.locate(i, "id"),
                r.kind(),
                r.id(),
                source.locate(first, "id")
            ));
        }
    }
    if !problems.is_empty() {
        eprintln!(
            "{}: {} problems; nothing was published:",
            a.file.display(),
            problems.len()
        );
        report(&problems);
        return Ok(ExitCode::from(2));
    }
    if a.dry_run {
        eprintln!(
            "{}: {} records valid (dry run, nothing published)",
            a.file.display(),
            records.len()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let token = crate::read_token(&a.conn.token_file)?;
    let key = a
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let channel = a.conn.channel().await?;
    let bar = ProgressBar::new(records.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ops ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("publishing");
    let result = send_batch(channel, &token, &key, &records, a.chunk, &bar).await;
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            eprintln!(
                "published {} records to {} (epoch {}, seq {}..={}){} in {:.2}s",
                r.applied,
                r.origin,
                r.epoch,
                r.first_seq,
                r.last_seq,
                if r.replayed {
                    " [already committed earlier; replayed receipt]"
                } else {
                    ""
                },
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(s) => {
            let mut problems = Vec::new();
            if let Some(br) = s.get_details_bad_request() {
                for v in br.field_violations {
                    let at = match split_op_path(&v.field) {
                        Some((i, f)) => source.locate(i, &f),
                        None => v.field.clone(),
                    };
                    problems.push(format!("{at}: {}", v.description));
                }
            }
            eprintln!(
                "{}: the node refused the batch ({:?}): {}; nothing was published",
                a.file.display(),
                s.code(),
                s.message()
            );
            report(&problems);
            Ok(ExitCode::from(2))
        }
    }
}

use futures::StreamExt;

/// Streams `records` as one all-or-nothing batch in chunks. Transport failures are retried with
/// the same idempotency key, so a batch that did commit before the connection dropped is
/// answered from the node's record, never applied twice.
pub async fn send_batch(
    channel: tonic::transport::Channel,
    token: &str,
    key: &str,
    records: &[Record],
    chunk: usize,
    bar: &ProgressBar,
) -> Result<w::PublishReceipt, tonic::Status> {
    let chunk = chunk.clamp(1, 10_000);
    let ops: Vec<w::PublishOp> = records.iter().map(prospectus_proto::publish_op).collect();
    let mut client = PublisherClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    let mut attempt = 0;
    loop {
        attempt += 1;
        bar.set_position(0);
        let chunks: Vec<w::PublishBatchChunk> = ops
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| w::PublishBatchChunk {
                idempotency_key: if i == 0 {
                    key.to_string()
                } else {
                    String::new()
                },
                ops: c.to_vec(),
            })
            .collect();
        let b = bar.clone();
        let stream = futures::stream::iter(chunks).inspect(move |c| b.inc(c.ops.len() as u64));
        let req = client::authorized(stream, token)
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        match client.publish_batch(req).await {
            Err(s)
                if attempt < 3
                    && matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) =>
            {
                bar.set_message(format!("retrying ({})", s.message()));
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            other => return other.map(|r| r.into_inner()),
        }
    }
}
