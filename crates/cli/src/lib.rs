//! The `prospectus` command line. Parsing (clap) and human output live here; each command is a
//! small function over the server, dataset and geo crates. Commands exit non-zero with a
//! message a borough admin or provider can act on; they never panic on bad input.

/// `println!` that returns the write error instead of panicking, so a closed pipe
/// (`prospectus search … | head -1`) ends the command quietly (see [`main`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::StdoutError)
    }};
}

/// A failed write to stdout (told apart from network errors, which may also be broken pipes).
#[derive(Debug)]
pub struct StdoutError(std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to stdout: {}", self.0)
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

mod args;
mod backup;
mod demo;
mod publish;
mod search;
mod status;

use anyhow::{Context, Result};
use args::{Cli, Command, DatasetCommand, KeyCommand, TokenCommand};
use clap::Parser;
use prospectus_server::client::{self, AdminClient};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        // The reader went away (`| head`): what it wanted it has; nothing to report.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `offer.csv` → `offer-providers.csv` (beside it).
fn sheet_path(out: &std::path::Path, name: &str) -> std::path::PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}-{name}.csv"))
}

fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StdoutError>()
            .is_some_and(|o| o.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(cli: &Cli) {
    let default = match &cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal; files and log shippers get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => serve(*a).await,
        Command::Token(TokenCommand::Create(a)) => {
            let token = read_token(&a.conn.token_file)?;
            let mut c = AdminClient::new(a.conn.channel().await?);
            let req = prospectus_proto::v1::CreateProviderTokenRequest {
                provider_id: a.provider.clone(),
                label: a.label.unwrap_or_default(),
            };
            let r = c
                .create_provider_token(client::authorized(req, &token)?)
                .await?
                .into_inner();
            eprintln!(
                "token id {} for provider {} (shown once; store it safely)",
                r.token_id, a.provider
            );
            outln!("{}", r.token)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Revoke(a)) => {
            let token = read_token(&a.conn.token_file)?;
            let mut c = AdminClient::new(a.conn.channel().await?);
            let req = prospectus_proto::v1::RevokeTokenRequest {
                token_id: a.token_id.clone(),
            };
            let r = c
                .revoke_token(client::authorized(req, &token)?)
                .await?
                .into_inner();
            if r.revoked {
                outln!("revoked {}", a.token_id)?;
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no token with id {}", a.token_id);
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Info(a) => {
            let token = read_token(&a.token_file)?;
            let mut c = AdminClient::new(a.channel().await?);
            let r = c
                .node_info(client::authorized(
                    prospectus_proto::v1::NodeInfoRequest {},
                    &token,
                )?)
                .await?
                .into_inner();
            outln!("origin     {} ({})", r.origin, r.borough_name)?;
            outln!("key        {} (id {})", r.public_key, r.key_id)?;
            outln!("log head   epoch {} seq {}", r.epoch, r.seq)?;
            outln!(
                "records    {} providers, {} venues, {} courses",
                r.providers,
                r.venues,
                r.courses
            )?;
            outln!("version    {}", r.version)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataset(DatasetCommand::Generate(a)) => {
            let bundle = prospectus_dataset::generate(a.seed, a.courses, a.borough.as_deref())
                .map_err(|e| anyhow::anyhow!("--borough: {e} (see `prospectus boroughs`)"))?;
            let text = match a.format {
                args::DataFormat::Json => serde_json::to_string_pretty(&bundle)?,
                args::DataFormat::Csv => {
                    // The providers and venues sheets beside the course sheet: OUT-providers.csv,
                    // OUT-venues.csv.
                    for (name, sheet) in [
                        (
                            "providers",
                            prospectus_dataset::write_providers_csv(&bundle.providers),
                        ),
                        (
                            "venues",
                            prospectus_dataset::write_venues_csv(&bundle.venues),
                        ),
                    ] {
                        let path = sheet_path(&a.out, name);
                        std::fs::write(&path, sheet)
                            .with_context(|| format!("writing {}", path.display()))?;
                        eprintln!("wrote the {name} sheet to {}", path.display());
                    }
                    prospectus_dataset::write_csv(&bundle.courses)?
                }
            };
            std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
            eprintln!(
                "wrote {} providers, {} venues, {} courses to {}",
                bundle.providers.len(),
                bundle.venues.len(),
                bundle.courses.len(),
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(a) => status::run(a).await,
        Command::Backup(a) => backup::backup(a).await,
        Command::Restore(a) => backup::restore(a),
        Command::Token(TokenCommand::Enable(a)) => backup::enable_token(a).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Publish(a) => publish::run(a).await,
        Command::Search(a) => search::run(*a).await,
        Command::Keygen(a) => {
            let (key, created) = prospectus_server::NodeKey::load_or_create(&a.key)?;
            if created {
                eprintln!("created {}", a.key.display());
            }
            outln!("public_key = \"{}\"", key.public_hex())?;
            outln!("key_id = \"{}\"", key.key_id())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCommand::Rotate(a)) => rotate_key(&a),
        Command::Boroughs => {
            for b in prospectus_geo::boroughs() {
                outln!("{}  {}", b.gss_code, b.name)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `key rotate`: a new key in the same file (the old one's public half recorded in it), and
/// the roster lines for it on stdout.
fn rotate_key(a: &args::KeyRotateArgs) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    let until = match &a.old_valid_until {
        None => now + chrono::Duration::days(7),
        Some(t) => parse_when(t).with_context(|| {
            format!("--old-valid-until {t:?}: expected RFC 3339 (2027-01-31T00:00:00Z) or a date (2027-01-31)")
        })?,
    };
    let (new, old) = prospectus_server::NodeKey::rotate(&a.key, until.timestamp_millis())?;
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    eprintln!(
        "rotated {}: new key id {} (old key id {} stays valid until {}).\n\
         1. Replace your borough's [[member.keys]] in the roster with the lines below (keep any \
         valid_from the old key had) and give that roster to every member: their nodes re-read \
         it live (no restart).\n\
         2. Restart this node (`systemctl restart prospectus`): it signs with the new key from \
         then on; its data dir and provider tokens are kept.",
        a.key.display(),
        new.key_id(),
        old.key_id(),
        rfc(until)
    );
    println!("[[member.keys]]");
    println!("public_key = \"{}\"", new.public_hex());
    println!("valid_from = \"{}\"", rfc(now));
    println!();
    println!("[[member.keys]]");
    println!("public_key = \"{}\"", old.public_hex());
    println!("valid_until = \"{}\"", rfc(until));
    Ok(ExitCode::SUCCESS)
}

/// RFC 3339, or a date meaning its midnight UTC.
fn parse_when(t: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t.trim()) {
        return Ok(d.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")?;
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

pub(crate) fn read_token(path: &std::path::Path) -> Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("reading token file {}", path.display()))?;
    let t = t.trim().to_string();
    if t.is_empty() {
        anyhow::bail!("token file {} is empty", path.display());
    }
    Ok(t)
}

/// Exit status for a configuration mistake (sysexits.h `EX_CONFIG`).
const EX_CONFIG: u8 = 78;

async fn serve(a: args::ServeArgs) -> Result<ExitCode> {
    let mut cfg = match &a.config {
        Some(p) => match prospectus_server::NodeConfig::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(EX_CONFIG));
            }
        },
        None => prospectus_server::NodeConfig::default(),
    };
    if let Some(d) = a.data_dir {
        cfg.data_dir = d;
    }
    if let Some(l) = a.listen {
        cfg.listen = l;
    }
    if let Some(b) = a.borough {
        cfg.borough = Some(b);
    }
    if let Some(k) = a.key {
        cfg.key_file = Some(k);
    }
    match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => {
            cfg.tls = Some(prospectus_server::TlsPaths {
                cert,
                key,
                client_ca: a.tls_client_ca,
            })
        }
        (None, None) if a.tls_client_ca.is_some() => {
            anyhow::bail!("--tls-client-ca needs --tls-cert and --tls-key")
        }
        (None, None) => {}
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    }
    if let Some(r) = a.roster {
        cfg.federation.roster = Some(r);
    }
    if !a.peers.is_empty() {
        cfg.federation.peers = Some(a.peers);
    }
    if let Some(ca) = a.federation_ca {
        cfg.federation.ca = Some(ca);
    }
    cfg.insecure_dev |= a.insecure_dev;
    if let Some(g) = a.tombstone_grace_secs {
        cfg.tombstone_grace_secs = g;
    }
    cfg.federation.public |= a.public_federation;
    if let Some(n) = a.max_streams {
        cfg.max_streams = n;
    }
    if let Some(n) = a.max_streams_per_peer {
        cfg.max_streams_per_peer = n;
    }
    if let Some(s) = a.stream_stall_secs {
        cfg.stream_stall_secs = s;
    }
    if let Some(s) = a.snapshot_interval_secs {
        cfg.snapshot_interval_secs = s;
    }
    if let Some(s) = a.roster_poll_secs {
        cfg.federation.roster_poll_secs = Some(s);
    }
    cfg.new_member |= a.new_member;
    if let Some(u) = a.public_url {
        cfg.public_url = Some(u);
    }
    if let Some(m) = a.store_cache_mb {
        cfg.store_cache_mb = m;
    }
    let l = &mut cfg.limits;
    l.http_concurrency = a.http_concurrency.unwrap_or(l.http_concurrency);
    l.http_timeout_ms = a.http_timeout_ms.unwrap_or(l.http_timeout_ms);
    l.http_body_bytes = a.http_body_bytes.unwrap_or(l.http_body_bytes);
    l.grpc_timeout_ms = a.grpc_timeout_ms.unwrap_or(l.grpc_timeout_ms);
    l.grpc_concurrency_per_connection = a
        .grpc_concurrency_per_connection
        .unwrap_or(l.grpc_concurrency_per_connection);
    l.grpc_max_message_bytes = a.grpc_max_message_bytes.unwrap_or(l.grpc_max_message_bytes);
    let node = match prospectus_server::start(cfg).await {
        Ok(node) => node,
        // A mistake in the configuration will not mend itself: exit 78 (EX_CONFIG), which the
        // systemd unit does not restart on.
        Err(e) if e.is_config() => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EX_CONFIG));
        }
        Err(e) => return Err(e.into()),
    };
    let addr = node.addr;
    // systemd (Type=notify): ready once the listener is bound and the store is open. Without
    // NOTIFY_SOCKET (not under systemd) this does nothing.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "could not notify systemd of readiness");
    }
    tokio::select! {
        r = wait_for_signal() => {
            r?;
            tracing::info!(%addr, "shutting down");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            node.shutdown().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
