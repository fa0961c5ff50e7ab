//! `prospectus search`: a link worker's query from the terminal.

use crate::args::{LearnerArgs, SearchArgs};
use anyhow::{Context, Result, anyhow};
use prospectus_model::{Category, Employment, LearnerProfile, Level, Residency};
use prospectus_proto::ToWire;
use prospectus_proto::v1 as w;
use prospectus_server::client::{self, DirectoryClient};
use std::process::ExitCode;

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

pub async fn run(a: SearchArgs) -> Result<ExitCode> {
    let categories = a
        .categories
        .iter()
        .map(|c| {
            c.parse::<Category>()
                .map(prospectus_proto::WireEnum::to_i32)
                .map_err(|e| anyhow!("--category: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let req = w::SearchRequest {
        text: a.text.clone(),
        categories,
        boroughs: a.boroughs.clone(),
        learner: learner(&a.learner)?.map(|l| l.to_wire()),
        eligible_only: a.eligible_only,
        page_size: a.page_size,
        page_token: a.page_token.clone(),
    };
    let ch = client::connect(&a.node, a.ca.as_deref()).await?;
    let r = DirectoryClient::new(ch)
        .search(req)
        .await
        .map_err(crate::publish::describe_status)?
        .into_inner();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&response_json(&r)).context("encoding JSON")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} courses match", r.total_hits);
    for h in &r.hits {
        let Some(v) = &h.course else { continue };
        let Some(c) = &v.course else { continue };
        let provider = v.provider.as_ref().map_or("?", |p| p.name.as_str());
        let fee = match &v.evaluation {
            Some(e) => {
                let mut s = pounds(e.fee_pence);
                if let Some(con) = &e.concession {
                    s.push_str(&format!(" ({con})"));
                }
                if !e.eligible {
                    s.push_str(" — not eligible: ");
                    s.push_str(
                        &e.unmet
                            .iter()
                            .map(|u| u.description.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                }
                s
            }
            None => pounds(c.fees.as_ref().map_or(0, |f| f.full_fee_pence)),
        };
        let start = c.runs.first().map_or("", |r| r.start.as_str());
        println!(
            "- {}  [{}]  {}  {}  starts {}  id {}",
            c.title, v.origin, provider, fee, start, c.id
        );
        if let Some(e) = &v.evaluation
            && !e.document_descriptions.is_empty()
        {
            println!("    bring: {}", e.document_descriptions.join("; "));
        }
    }
    if !r.next_page_token.is_empty() {
        println!("next page: --page-token {}", r.next_page_token);
    }
    Ok(ExitCode::SUCCESS)
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
                "full_fee_pence": c.fees.as_ref().map(|f| f.full_fee_pence),
                "evaluation": v.evaluation.as_ref().map(|e| serde_json::json!({
                    "eligible": e.eligible,
                    "fee_pence": e.fee_pence,
                    "concession": e.concession,
                    "unmet": e.unmet.iter().map(|u| serde_json::json!({"condition": u.description, "not_stated": u.not_stated})).collect::<Vec<_>>(),
                    "documents": e.document_descriptions,
                })),
            }))
        })
        .collect();
    serde_json::json!({ "total_hits": r.total_hits, "next_page_token": r.next_page_token, "hits": hits })
}
