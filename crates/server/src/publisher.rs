//! `prospectus.v1.Publisher`: providers' writes. Every call is authorised, fully validated, and
//! committed durably, all or nothing (one transaction, or the store's journal for a batch over
//! `store::PUBLISH_CHUNK` ops), before it is acknowledged. A batch's request chunks are decoded
//! one at a time and dropped: only the decoded records are held, and the store moves them on.

use crate::{auth, errors};
use futures::StreamExt;
use prospectus_model::{
    Course, FieldViolation, Provider, Record, RecordKind, Uuid, ValidationErrors, Venue,
    validate_record_at,
};
use prospectus_proto::FromWire;
use prospectus_proto::v1::{self as w, publisher_server::Publisher};
use prospectus_store::{Change, Receipt, Scope, Store};
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// Most ops one batch may carry; a larger import is split by the client.
pub const MAX_BATCH_OPS: usize = 200_000;

pub struct PublisherService {
    pub store: Arc<Store>,
    pub fed: Arc<crate::peers::Fed>,
    /// Waited on (bounded) after a commit so a publisher reads its own writes in search.
    pub index: Arc<prospectus_search::Index>,
}

/// How long an acknowledgement waits for the search index; past it the publish is still
/// acknowledged (it is durable) and shows up in search moments later.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl PublisherService {
    /// Writes wait until the join gate is open: every peer has answered what it holds of this
    /// origin, or one holds it and this node has taken its own entries back.
    fn writable(&self) -> Result<(), Status> {
        match self.fed.gate() {
            prospectus_federation::JoinState::Open => Ok(()),
            closed => Err(errors::joining(&closed.describe())),
        }
    }

    async fn visible(&self, origin: &str, epoch: u64, seq: u64) {
        let index = self.index.clone();
        let origin = origin.to_string();
        let ok =
            tokio::task::spawn_blocking(move || index.wait_for(&origin, epoch, seq, INDEX_WAIT))
                .await
                .unwrap_or(false);
        if !ok {
            tracing::warn!(
                seq,
                "publish acknowledged before the search index caught up"
            );
        }
    }
}

fn receipt(r: Receipt) -> w::PublishReceipt {
    w::PublishReceipt {
        origin: r.origin,
        epoch: r.epoch,
        first_seq: r.first_seq,
        last_seq: r.last_seq,
        applied: r.applied,
        replayed: r.replayed,
    }
}

/// Decodes and validates one wire op, reporting every problem under `prefix`.
fn change(op: &w::PublishOp, prefix: &str) -> Result<Change, ValidationErrors> {
    use w::publish_op::Op;
    let (name, record) = match &op.op {
        Some(Op::Provider(p)) => ("provider", Provider::from_wire(p).map(Record::Provider)),
        Some(Op::Venue(v)) => ("venue", Venue::from_wire(v).map(Record::Venue)),
        Some(Op::Course(c)) => ("course", Course::from_wire(c).map(Record::Course)),
        Some(Op::Delete(d)) => return delete(d, &format!("{prefix}.delete")),
        None => {
            return Err(violation(
                prefix,
                "op is empty: set provider, venue, course or delete",
            ));
        }
    };
    let at = format!("{prefix}.{name}");
    let record = record.map_err(|e| e.prefixed(&at))?;
    validate_record_at(&record, prospectus_store::today()).map_err(|e| e.prefixed(&at))?;
    Ok(Change::Upsert(record))
}

fn violation(field: &str, description: &str) -> ValidationErrors {
    ValidationErrors(vec![FieldViolation {
        field: field.to_string(),
        description: description.to_string(),
    }])
}

fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn delete(d: &w::DeleteRequest, prefix: &str) -> Result<Change, ValidationErrors> {
    let mut errs = Vec::new();
    let kind = <RecordKind as prospectus_proto::WireEnum>::from_i32(d.kind);
    if kind.is_none() {
        errs.extend(violation(&path(prefix, "kind"), "must be provider, venue or course").0);
    }
    let id = Uuid::parse_str(d.id.trim()).ok();
    if id.is_none() {
        errs.extend(violation(&path(prefix, "id"), "is not a UUID").0);
    }
    match (kind, id) {
        (Some(kind), Some(id)) => Ok(Change::Delete { kind, id }),
        _ => Err(ValidationErrors(errs)),
    }
}

impl PublisherService {
    async fn commit(
        &self,
        scope: Scope,
        key: Option<String>,
        changes: Vec<Change>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        self.writable()?;
        let store = self.store.clone();
        let n = changes.len();
        let r = tokio::task::spawn_blocking(move || store.publish(&scope, key.as_deref(), changes))
            .await
            .map_err(errors::join)?
            .map_err(errors::store)?;
        tracing::info!(
            origin = %r.origin, epoch = r.epoch, first_seq = r.first_seq, last_seq = r.last_seq,
            ops = n, replayed = r.replayed, "batch committed"
        );
        self.visible(&r.origin, r.epoch, r.last_seq).await;
        Ok(Response::new(receipt(r)))
    }

    /// A one-record write: field paths are relative to the record (`runs[0].end_time`).
    async fn single(
        &self,
        scope: Scope,
        record: Result<Record, ValidationErrors>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let record = record
            .and_then(|r| validate_record_at(&r, prospectus_store::today()).map(|()| r))
            .map_err(|e| errors::invalid(&e))?;
        self.writable()?;
        let prefix = format!("ops[0].{}.", record.kind());
        let store = self.store.clone();
        let r = tokio::task::spawn_blocking(move || {
            store.publish(&scope, None, vec![Change::Upsert(record)])
        })
        .await
        .map_err(errors::join)?;
        match r {
            Ok(r) => {
                tracing::info!(origin = %r.origin, seq = r.last_seq, "record committed");
                self.visible(&r.origin, r.epoch, r.last_seq).await;
                Ok(Response::new(receipt(r)))
            }
            Err(prospectus_store::StoreError::Invalid(v)) => {
                Err(errors::invalid(&ValidationErrors(
                    v.0.into_iter()
                        .map(|f| FieldViolation {
                            field: f
                                .field
                                .strip_prefix(&prefix)
                                .unwrap_or(&f.field)
                                .to_string(),
                            description: f.description,
                        })
                        .collect(),
                )))
            }
            Err(e) => Err(errors::store(e)),
        }
    }
}

#[tonic::async_trait]
impl Publisher for PublisherService {
    async fn upsert_provider(
        &self,
        req: Request<w::Provider>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let scope = auth::scope(&self.store, &req)?;
        let r = Provider::from_wire(req.get_ref()).map(Record::Provider);
        self.single(scope, r).await
    }

    async fn upsert_venue(
        &self,
        req: Request<w::Venue>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let scope = auth::scope(&self.store, &req)?;
        let r = Venue::from_wire(req.get_ref()).map(Record::Venue);
        self.single(scope, r).await
    }

    async fn upsert_course(
        &self,
        req: Request<w::Course>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let scope = auth::scope(&self.store, &req)?;
        let r = Course::from_wire(req.get_ref()).map(Record::Course);
        self.single(scope, r).await
    }

    async fn delete(
        &self,
        req: Request<w::DeleteRequest>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let scope = auth::scope(&self.store, &req)?;
        let c = delete(req.get_ref(), "").map_err(|e| errors::invalid(&e))?;
        let kind: RecordKind = match &c {
            Change::Delete { kind, .. } => *kind,
            Change::Upsert(r) => r.kind(),
        };
        tracing::debug!(%kind, "delete");
        self.commit(scope, None, vec![c]).await
    }

    async fn publish_batch(
        &self,
        req: Request<Streaming<w::PublishBatchChunk>>,
    ) -> Result<Response<w::PublishReceipt>, Status> {
        let scope = auth::scope(&self.store, &req)?;
        let mut stream = req.into_inner();
        let mut key: Option<String> = None;
        let mut changes = Vec::new();
        let mut violations = prospectus_model::Violations::default();
        let mut seen = std::collections::HashMap::new();
        let mut index = 0usize;
        let mut first = true;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if first {
                let k = chunk.idempotency_key.trim();
                if k.len() > 128 {
                    return Err(errors::invalid_field(
                        "idempotency_key",
                        "must be at most 128 characters",
                    ));
                }
                key = (!k.is_empty()).then(|| k.to_string());
                first = false;
            }
            for op in &chunk.ops {
                if index >= MAX_BATCH_OPS {
                    return Err(errors::invalid_field(
                        "ops",
                        format!("a batch may carry at most {MAX_BATCH_OPS} ops; split the import"),
                    ));
                }
                match change(op, &format!("ops[{index}]")) {
                    Ok(c) => {
                        // Reported here too, so one pass names every problem in the batch.
                        if let Some(&first) = seen.get(&(c.kind(), c.id())) {
                            violations.push(prospectus_store::repeated_in_batch(index, &c, first));
                        } else {
                            seen.insert((c.kind(), c.id()), index);
                        }
                        changes.push(c);
                    }
                    Err(e) => violations.extend(e),
                }
                index += 1;
            }
        }
        // Not held while the batch is written.
        drop(seen);
        violations.finish().map_err(|e| errors::invalid(&e))?;
        if changes.is_empty() {
            return Err(errors::invalid_field("ops", "the batch is empty"));
        }
        self.commit(scope, key, changes).await
    }
}
