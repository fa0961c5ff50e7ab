//! `prospectus backup`, `restore` and `token enable`: a consistent copy of a running node, a
//! new data dir made from one offline, and re-enabling the provider tokens a restore suspends.

use crate::args::{BackupArgs, RestoreArgs, TokenRevokeArgs};
use anyhow::{Context, Result};
use prospectus_proto::v1 as w;
use prospectus_server::client::{self, AdminClient};
use std::io::Write;
use std::process::ExitCode;

pub async fn backup(a: BackupArgs) -> Result<ExitCode> {
    let token = crate::read_token(&a.conn.token_file)?;
    let mut c = AdminClient::new(a.conn.channel().await?).max_decoding_message_size(8 << 20);
    let mut stream = c
        .backup(client::authorized(w::BackupRequest {}, &token)?)
        .await
        .map_err(crate::publish::describe_status)?
        .into_inner();
    // A name of its own beside the output (never the output itself, never a stranger's file):
    // created new, written, synced, renamed into place, and the directory synced.
    let tmp = prospectus_server::unique_sibling(&a.out, "partial")
        .with_context(|| format!("writing {}", a.out.display()))?;
    let written = write_backup(&mut stream, &tmp).await;
    let renamed = written.and_then(|bytes| {
        std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
        Ok(bytes)
    });
    let bytes = match renamed {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    prospectus_server::sync_parent(&a.out)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote a backup of {bytes} bytes to {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the streamed backup into the new file `tmp` and syncs it; returns its size.
async fn write_backup(
    stream: &mut tonic::Streaming<w::BackupChunk>,
    tmp: &std::path::Path,
) -> Result<usize> {
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .with_context(|| format!("creating {}", tmp.display()))?
    };
    let mut bytes = 0usize;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(crate::publish::describe_status)?
    {
        bytes += chunk.data.len();
        file.write_all(&chunk.data)
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("writing {}", tmp.display()))?;
    Ok(bytes)
}

pub fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let r = prospectus_server::restore_backup(&bytes, &a.data_dir).with_context(|| {
        format!(
            "restoring {} into {}",
            a.file.display(),
            a.data_dir.display()
        )
    })?;
    outln!(
        "restored borough {} into {}: own log at epoch {} seq {} (checkpoint {}), {} records",
        r.origin,
        a.data_dir.display(),
        r.own.0,
        r.own.1,
        if r.own_checkpoint_verified {
            "verified"
        } else {
            "NOT verified"
        },
        r.records
    )?;
    for (id, label) in &r.suspended_tokens {
        outln!("suspended provider token {id} ({label})")?;
    }
    eprintln!(
        "Start the node with its origin key (--key, or copy node.key into {dir}). Before it \
         publishes it asks every peer what it holds of {origin} and takes its own newer entries \
         back; a new admin token is written to {dir}/admin-token at that start. Provider tokens \
         stay refused until you re-enable each one still valid: \
         prospectus token enable --token-id ID",
        dir = a.data_dir.display(),
        origin = r.origin
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn enable_token(a: TokenRevokeArgs) -> Result<ExitCode> {
    let token = crate::read_token(&a.conn.token_file)?;
    let mut c = AdminClient::new(a.conn.channel().await?);
    let req = w::EnableTokenRequest {
        token_id: a.token_id.clone(),
    };
    let r = c
        .enable_token(client::authorized(req, &token)?)
        .await
        .map_err(crate::publish::describe_status)?
        .into_inner();
    if r.enabled {
        outln!("enabled {}", a.token_id)?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("no suspended token with id {}", a.token_id);
        Ok(ExitCode::FAILURE)
    }
}
