//! `prospectus search`: a link worker's query from the terminal.

use crate::args::{LearnerArgs, SearchArgs};
use anyhow::{Context, Result, anyhow};
use prospectus_model::{
    Attendance, Category, DeliveryMode, Employment, LearnerProfile, Level, Residency, Weekday,
};
use prospectus_proto::v1 as w;
use prospectus_proto::{ToWire, WireEnum};
use prospectus_server::client::{self, DirectoryClient};
use std::path::Path;
use std::process::ExitCode;

/// The learner flags, read from a file or stdin (`--learner-file`).
#[derive(clap::Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct LearnerFile {
    #[command(flatten)]
    learner: LearnerArgs,
}

/// Most a learner file may hold (a profile is a few hundred bytes).
const MAX_LEARNER_FILE: u64 = 64 * 1024;

/// Reads `name value` lines (`-` = stdin) and parses them exactly as the learner flags are.
fn learner_file(path: &Path) -> Result<LearnerArgs> {
    use std::io::Read as _;
    let shown = path.display();
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_LEARNER_FILE)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_LEARNER_FILE).read_to_string(&mut text))
    };
    read.with_context(|| format!("--learner-file {shown}"))?;
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        // `name value` or `name = value`.
        let end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let (name, value) = line.split_at(end);
        let value = value.trim_start();
        let value = value.strip_prefix('=').unwrap_or(value).trim();
        tokens.push(format!("--{}", name.trim_start_matches('-')));
        if !value.is_empty() {
            tokens.push(value.to_string());
        }
    }
    <LearnerFile as clap::Parser>::try_parse_from(tokens)
        .map(|f| f.learner)
        .map_err(|e| {
            // clap's first line names the problem; the rest is usage for a command line.
            let msg = e.to_string();
            let first = msg
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            anyhow!("--learner-file {shown}: {first}")
        })
}

/// The learner profile from the flags or from `--learner-file`, never both.
fn learner_of(a: &SearchArgs) -> Result<Option<LearnerProfile>> {
    let from_flags = learner(&a.learner)?;
    match &a.learner_file {
        None => Ok(from_flags),
        Some(_) if from_flags.is_some() => Err(anyhow!(
            "give the learner's circumstances either as flags or with --learner-file, not both"
        )),
        Some(path) => learner(&learner_file(path)?),
    }
}

fn learner(a: &LearnerArgs) -> Result<Option<LearnerProfile>> {
    let p = LearnerProfile {
        age: a.age,
        borough: a.lives_in.clone(),
        residency: a
            .residency
            .as_deref()
            .map(str::parse::<Residency>)
            .transpose()
            .map_err(|e| anyhow!("--residency: {e}"))?,
        employment: a
            .employment
            .as_deref()
            .map(str::parse::<Employment>)
            .transpose()
            .map_err(|e| anyhow!("--employment: {e}"))?,
        annual_gross_earnings_pence: a.earnings.map(|p| p.saturating_mul(100)),
        means_tested_benefits: a.benefits,
        highest_qualification: a
            .highest_qualification
            .as_deref()
            .map(str::parse::<Level>)
            .transpose()
            .map_err(|e| anyhow!("--highest-qualification: {e}"))?,
        referred_by_social_prescriber: a.referred,
        first_language_english: a.first_language_english,
        date_of_birth: a
            .date_of_birth
            .as_deref()
            .map(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d"))
            .transpose()
            .map_err(|e| anyhow!("--date-of-birth: expected YYYY-MM-DD: {e}"))?,
        gcse_english_grade4: a.gcse_english,
        gcse_maths_grade4: a.gcse_maths,
        claiming_jobseeker_benefits: a.claiming_jobseeker_benefits,
        in_work_benefits: a.in_work_benefits,
        uk_resident_3_years: a.uk_resident_3_years,
    };
    Ok((p != LearnerProfile::default()).then_some(p))
}

fn pounds(p: u32) -> String {
    if p == 0 {
        "free".into()
    } else {
        format!("£{}.{:02}", p / 100, p % 100)
    }
}

/// Parses repeatable enum flags into wire numbers, naming the flag on error.
fn enums<T>(flag: &str, values: &[String]) -> Result<Vec<i32>>
where
    T: std::str::FromStr<Err = String> + WireEnum,
{
    values
        .iter()
        .map(|v| {
            v.parse::<T>()
                .map(WireEnum::to_i32)
                .map_err(|e| anyhow!("--{flag}: {e}"))
        })
        .collect()
}

fn sort_order(s: &str) -> Result<i32> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "relevance" => w::SortOrder::Relevance,
        "distance" => w::SortOrder::Distance,
        "start-date" | "start" | "date" => w::SortOrder::StartDate,
        "fee" => w::SortOrder::Fee,
        other => {
            return Err(anyhow!(
                "--sort: unknown order {other:?}; expected relevance, distance, start-date or fee"
            ));
        }
    } as i32)
}

/// The request the flags describe (the same filters the gRPC `SearchRequest` has).
pub fn request(a: &SearchArgs) -> Result<w::SearchRequest> {
    Ok(w::SearchRequest {
        text: a.text.clone(),
        categories: enums::<Category>("category", &a.categories)?,
        boroughs: a.boroughs.clone(),
        learner: learner_of(a)?.map(|l| l.to_wire()),
        eligible_only: a.eligible_only,
        page_size: a.page_size,
        page_token: a.page_token.clone(),
        levels: enums::<Level>("level", &a.levels)?,
        delivery: enums::<DeliveryMode>("delivery", &a.delivery)?,
        attendance: enums::<Attendance>("attendance", &a.attendance)?,
        days: enums::<Weekday>("day", &a.days)?,
        time_from: a.time_from.clone(),
        time_to: a.time_to.clone(),
        starts_after: a.starts_after.clone(),
        starts_before: a.starts_before.clone(),
        flexible_start_only: a.flexible_start,
        min_places_left: a.min_places,
        max_fee_pence: a.max_fee.map(|p| p.saturating_mul(100)),
        mental_health_only: a.mental_health,
        step_free_only: a.step_free,
        languages: a.languages.clone(),
        postcode: a.postcode.clone(),
        near: None,
        radius_km: a.radius_km,
        exclude_online: a.exclude_online,
        sort: sort_order(&a.sort)?,
        // The lines printed need only what a result list shows; `--json` prints everything.
        view: if a.json {
            w::HitView::Full
        } else {
            w::HitView::Summary
        } as i32,
    })
}

pub async fn run(a: SearchArgs) -> Result<ExitCode> {
    let req = request(&a)?;
    let ch = client::connect_with(&a.node, a.ca.as_deref(), a.insecure_dev).await?;
    let r = DirectoryClient::new(ch)
        .search(req)
        .await
        .map_err(crate::publish::describe_status)?
        .into_inner();
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&response_json(&r)).context("encoding JSON")?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} courses match", r.total_hits)?;
    if !r.category_facets.is_empty() {
        let f: Vec<String> = r
            .category_facets
            .iter()
            .map(|f| format!("{} {}", f.value, f.count))
            .collect();
        outln!("by category: {}", f.join(", "))?;
    }
    for h in &r.hits {
        let Some(v) = &h.course else { continue };
        let Some(c) = &v.course else { continue };
        let provider = v.provider.as_ref().map_or("?", |p| p.name.as_str());
        let fee = match &v.evaluation {
            Some(e) => answer_text(e),
            None => pounds(c.fees.as_ref().map_or(0, |f| f.full_fee_pence)),
        };
        let distance = h
            .distance_km
            .map(|d| format!("  {d:.1} km"))
            .unwrap_or_default();
        let stale = if h.freshness.as_ref().is_some_and(|f| f.stale) {
            "  [STALE: origin not heard from recently]"
        } else {
            ""
        };
        outln!(
            "- {}  [{}]  {}  {}  starts {}{}  id {}{}",
            c.title,
            v.origin,
            provider,
            fee,
            h.next_start,
            distance,
            c.id,
            stale
        )?;
        if let Some(e) = &v.evaluation {
            for p in &e.possible_concessions {
                outln!(
                    "    {} for {} if: {}",
                    pounds(p.fee_pence),
                    p.name,
                    p.not_stated_descriptions.join("; ")
                )?;
            }
            if !e.document_descriptions.is_empty() {
                outln!("    bring: {}", e.document_descriptions.join("; "))?;
            }
        }
    }
    if !r.next_page_token.is_empty() {
        outln!("next page: --page-token {}", r.next_page_token)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: the fee only with an eligible answer; otherwise why not, or what to ask.
fn answer_text(e: &w::Evaluation) -> String {
    let unmet = |not_stated: bool| {
        e.unmet
            .iter()
            .filter(|u| u.not_stated == not_stated)
            .map(|u| u.description.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match (w::Answer::try_from(e.answer), e.fee_pence) {
        (Ok(w::Answer::Eligible), Some(fee)) => {
            let mut s = pounds(fee);
            if let Some(con) = &e.concession {
                s.push_str(&format!(" ({con})"));
            }
            s
        }
        (Ok(w::Answer::DependsOn), _) => format!(
            "depends on {}: {}",
            e.depends_on_descriptions.join(", "),
            unmet(true)
        ),
        _ => format!("not eligible: {}", unmet(false)),
    }
}

fn answer_name(e: &w::Evaluation) -> &'static str {
    match w::Answer::try_from(e.answer) {
        Ok(w::Answer::Eligible) => "eligible",
        Ok(w::Answer::NotEligible) => "not-eligible",
        Ok(w::Answer::DependsOn) => "depends-on",
        _ => "unknown",
    }
}

/// A JSON rendering of the response for scripts (prost types carry no serde).
fn response_json(r: &w::SearchResponse) -> serde_json::Value {
    let hits: Vec<serde_json::Value> = r
        .hits
        .iter()
        .filter_map(|h| {
            let v = h.course.as_ref()?;
            let c = v.course.as_ref()?;
            Some(serde_json::json!({
                "id": c.id,
                "title": c.title,
                "origin": v.origin,
                "provider": v.provider.as_ref().map(|p| p.name.clone()),
                "score": h.score,
                "distance_km": h.distance_km,
                "next_start": h.next_start,
                "fee_pence": h.fee_pence,
                "stale": h.freshness.as_ref().map(|f| f.stale),
                "provider_last_verified": h.freshness.as_ref().map(|f| f.provider_last_verified.clone()),
                "full_fee_pence": c.fees.as_ref().map(|f| f.full_fee_pence),
                "evaluation": v.evaluation.as_ref().map(|e| serde_json::json!({
                    "answer": answer_name(e),
                    "eligible": e.eligible,
                    "fee_pence": e.fee_pence,
                    "concession": e.concession,
                    "depends_on": e.depends_on_descriptions,
                    "unmet": e.unmet.iter().map(|u| serde_json::json!({"condition": u.description, "not_stated": u.not_stated})).collect::<Vec<_>>(),
                    "possible_concessions": e.possible_concessions.iter().map(|p| serde_json::json!({"name": p.name, "fee_pence": p.fee_pence, "if": p.not_stated_descriptions})).collect::<Vec<_>>(),
                    "documents": e.document_descriptions,
                })),
            }))
        })
        .collect();
    let facets = |v: &[w::FacetCount]| {
        v.iter()
            .map(|f| (f.value.clone(), serde_json::json!(f.count)))
            .collect::<serde_json::Map<_, _>>()
    };
    serde_json::json!({
        "total_hits": r.total_hits,
        "next_page_token": r.next_page_token,
        "category_facets": facets(&r.category_facets),
        "borough_facets": facets(&r.borough_facets),
        "hits": hits,
    })
}
