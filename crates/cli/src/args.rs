//! Command-line shape. Scripts and the README depend on it: change with care.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "prospectus",
    version,
    about = "A borough node of the pan-London adult-education course directory"
)]
pub struct Cli {
    /// Log as JSON lines (for log shippers) instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a borough node (gRPC; TLS required beyond loopback).
    Serve(Box<ServeArgs>),
    /// Create or revoke provider write tokens (needs the admin token).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Generate offer files.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Publish an offer file (JSON bundle or CSV template), all or nothing.
    Publish(PublishArgs),
    /// Search the directory.
    Search(Box<SearchArgs>),
    /// Show a node's origin, key, log head and record counts (needs the admin token).
    Info(Conn),
    /// Replication status per origin and per peer (needs the admin token).
    Status(Conn),
    /// Write a consistent copy of a running node's store to a file (needs the admin token).
    Backup(BackupArgs),
    /// Make a new data dir from a backup file, offline (the node catches up from peers at start).
    Restore(RestoreArgs),
    /// Start a local federation of N nodes on loopback with generated data, until Ctrl-C.
    Demo(DemoArgs),
    /// Create (if absent) an origin key file and print its public key for the roster.
    Keygen(KeygenArgs),
    /// Manage the origin key (rotation).
    #[command(subcommand)]
    Key(KeyCommand),
    /// List the London boroughs and their GSS codes.
    Boroughs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (store, keys, admin token) [default: ./prospectus-data]
    #[arg(long, env = "PROSPECTUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7400]; port 0 picks a free port.
    #[arg(long, env = "PROSPECTUS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// GSS code of this node's borough, e.g. E09000028 (required on first start).
    #[arg(long, env = "PROSPECTUS_BOROUGH")]
    pub borough: Option<String>,
    /// TOML config file; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Origin key file [default: DATA_DIR/node.key]. Keep a copy off the data disk.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// PEM certificate chain for TLS.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) for peers' client certificates: enables mutual TLS on the Federation service.
    #[arg(long)]
    pub tls_client_ca: Option<PathBuf>,
    /// Federation roster (TOML): members, endpoints, public keys.
    #[arg(long)]
    pub roster: Option<PathBuf>,
    /// Peer URL to replicate from (repeatable); default every roster member but us.
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// CA (PEM) that signed peers' server certificates.
    #[arg(long)]
    pub federation_ca: Option<PathBuf>,
    /// How long deletions are remembered before purging [default: 30 days].
    #[arg(long)]
    pub tombstone_grace_secs: Option<u64>,
    /// Allow plaintext on a non-loopback address, and to non-loopback peers. Local demos only.
    #[arg(long)]
    pub insecure_dev: bool,
    /// With TLS, serve Federation to any client (a public read mirror), not only roster
    /// members presenting a client certificate.
    #[arg(long)]
    pub public_federation: bool,
    /// Long-lived streams (Subscribe, Pull, WatchChanges) open at once [default: 256].
    #[arg(long)]
    pub max_streams: Option<usize>,
    /// Long-lived streams open at once per peer (roster member, else IP address) [default: 16].
    #[arg(long)]
    pub max_streams_per_peer: Option<usize>,
    /// Drop a stream whose consumer reads nothing for this long [default: 30].
    #[arg(long)]
    pub stream_stall_secs: Option<u64>,
    /// Serve one peer a snapshot request at most this often, after a burst of 4 [default: 10].
    #[arg(long)]
    pub snapshot_interval_secs: Option<u64>,
    /// Check the roster file for changes this often (it is also re-read on SIGHUP); 0: on
    /// SIGHUP only [default: 5].
    #[arg(long)]
    pub roster_poll_secs: Option<u64>,
    /// The first borough of a federation (pre-made key, no peer up yet): publish without
    /// waiting for peers to answer. Only while the data dir holds nothing of this borough.
    #[arg(long)]
    pub new_member: bool,
    /// Base URL clients reach this node at, for absolute links (RPDE `next`) [default: from
    /// --listen]. Never taken from a request's Host header.
    #[arg(long, env = "PROSPECTUS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Bound of the store's page cache in MiB (searches never read it) [default: 64].
    #[arg(long)]
    pub store_cache_mb: Option<u64>,
    /// HTTP API requests in progress at once; more get 503 + Retry-After [default: 64].
    #[arg(long)]
    pub http_concurrency: Option<usize>,
    /// HTTP request timeout in milliseconds; slower get 503 [default: 10000].
    #[arg(long)]
    pub http_timeout_ms: Option<u64>,
    /// Largest HTTP request body in bytes; larger get 413 [default: 65536].
    #[arg(long)]
    pub http_body_bytes: Option<usize>,
    /// gRPC call timeout in milliseconds [default: 60000].
    #[arg(long)]
    pub grpc_timeout_ms: Option<u64>,
    /// gRPC calls in progress at once per connection [default: 256].
    #[arg(long)]
    pub grpc_concurrency_per_connection: Option<usize>,
    /// Largest gRPC message in bytes [default: 33554432].
    #[arg(long)]
    pub grpc_max_message_bytes: Option<usize>,
}

/// How to reach a node.
#[derive(Debug, Args)]
pub struct Conn {
    /// Node URL, e.g. http://127.0.0.1:7400 or https://node.example:7400
    #[arg(long, default_value = "http://127.0.0.1:7400", env = "PROSPECTUS_NODE")]
    pub node: String,
    /// CA certificate (PEM) to trust for https:// nodes: the federation CA that signed the
    /// node's certificate (needed unless it is signed by a public web CA).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// File holding the token (admin or provider).
    #[arg(long, default_value = "./prospectus-data/admin-token")]
    pub token_file: PathBuf,
    /// Allow plaintext http:// to a non-loopback node (the token would cross the network in
    /// the clear). Local demos only.
    #[arg(long)]
    pub insecure_dev: bool,
}

impl Conn {
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        Ok(prospectus_server::client::connect_with(
            &self.node,
            self.ca.as_deref(),
            self.insecure_dev,
        )
        .await?)
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a new token that may write only PROVIDER's records.
    Create(TokenCreateArgs),
    /// Revoke a token by its id.
    Revoke(TokenRevokeArgs),
    /// Re-enable a provider token a restore suspended, by its id.
    Enable(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// File to write (made readable by its owner only; replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `prospectus backup`.
    pub file: PathBuf,
    /// Data dir to create; must not exist or be empty.
    #[arg(long)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Provider UUID the token may write for.
    #[arg(long)]
    pub provider: String,
    /// Note for the admin's records (who holds it).
    #[arg(long)]
    pub label: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Id of the token to revoke (printed by `token create`).
    #[arg(long)]
    pub token_id: String,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Write a deterministic synthetic London offer (same seed, same file).
    Generate(GenerateArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DataFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Random seed: the same seed, count and borough give the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of courses (with the providers and venues they need).
    #[arg(long, default_value_t = 2000)]
    pub courses: usize,
    /// Only this borough (GSS code); default all 33.
    #[arg(long)]
    pub borough: Option<String>,
    /// File to write.
    #[arg(long)]
    pub out: PathBuf,
    /// json: the full bundle (providers, venues, courses); csv: the CSV template's course
    /// sheet at OUT, with its providers and venues sheets beside it (OUT-providers.csv,
    /// OUT-venues.csv).
    #[arg(long, value_enum, default_value_t = DataFormat::Json)]
    pub format: DataFormat,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Reuse to retry a batch safely; default a fresh key per run.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Ops per streamed chunk.
    #[arg(long, default_value_t = 500)]
    pub chunk: usize,
    /// Validate locally and report, without publishing.
    #[arg(long)]
    pub dry_run: bool,
    /// A providers sheet of the CSV template (provider_id, name, …, last_verified), published
    /// first in the same batch.
    #[arg(long, value_name = "FILE")]
    pub providers: Option<PathBuf>,
    /// A venues sheet, published in the same batch before the courses: the CSV template's
    /// (venue_id, provider_id, name, address, town, postcode, …) or, with a DfE Course
    /// Directory course file, its venues file (YOUR_VENUE_REFERENCE, VENUE_NAME, …, POSTCODE).
    #[arg(long, value_name = "FILE")]
    pub venues: Option<PathBuf>,
    /// With a DfE Course Directory file: the provider UUID the courses and venues belong to
    /// (the one your token writes for; its record must be published already).
    #[arg(long, value_name = "UUID")]
    pub provider: Option<String>,
    /// DATA.json (bundle), DATA.csv (our template, see docs/csv-template.md) or a DfE Course
    /// Directory bulk-upload course file (told by its header; see docs/dfe-csv.md).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Node URL, e.g. http://127.0.0.1:7400 or https://node.example:7400
    #[arg(long, default_value = "http://127.0.0.1:7400", env = "PROSPECTUS_NODE")]
    pub node: String,
    /// CA certificate (PEM) to trust for https:// nodes: the federation CA that signed the
    /// node's certificate (needed unless it is signed by a public web CA).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Allow plaintext http:// to a non-loopback node. Local demos only.
    #[arg(long)]
    pub insecure_dev: bool,
    /// Free text.
    #[arg(long, default_value = "")]
    pub text: String,
    /// Category (repeatable): wellbeing, esol, maths, digital, …
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// Borough GSS code where a run meets (repeatable).
    #[arg(long = "borough")]
    pub boroughs: Vec<String>,
    /// Qualification level (repeatable): non-accredited, entry, level-1 … level-7
    #[arg(long = "level")]
    pub levels: Vec<String>,
    /// Delivery mode (repeatable): classroom, online, blended
    #[arg(long = "delivery")]
    pub delivery: Vec<String>,
    /// Attendance pattern (repeatable): daytime, evening, weekend
    #[arg(long = "attendance")]
    pub attendance: Vec<String>,
    /// Day of week a run meets (repeatable): mon … sun
    #[arg(long = "day")]
    pub days: Vec<String>,
    /// A run starts at or after this time (HH:MM), e.g. 12:00 for "not mornings".
    #[arg(long, default_value = "")]
    pub time_from: String,
    /// A run ends at or before this time (HH:MM).
    #[arg(long, default_value = "")]
    pub time_to: String,
    /// A run starts on or after this date (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub starts_after: String,
    /// A run starts on or before this date (YYYY-MM-DD).
    #[arg(long, default_value = "")]
    pub starts_before: String,
    /// Only flexible (rolling) starts.
    #[arg(long)]
    pub flexible_start: bool,
    /// A run has at least this many places left.
    #[arg(long)]
    pub min_places: Option<u32>,
    /// Most the learner should pay, in pounds (0 = free).
    #[arg(long)]
    pub max_fee: Option<u32>,
    /// Only courses designed for people with mental-health needs.
    #[arg(long)]
    pub mental_health: bool,
    /// Only runs at step-free venues (or online).
    #[arg(long)]
    pub step_free: bool,
    /// Language of delivery, ISO 639-1 (repeatable).
    #[arg(long = "language")]
    pub languages: Vec<String>,
    /// Distance from a postcode or outward code (SE15).
    #[arg(long, default_value = "")]
    pub postcode: String,
    /// Within this many km of --postcode (online courses still match).
    #[arg(long)]
    pub radius_km: Option<f64>,
    /// Leave online courses out.
    #[arg(long)]
    pub exclude_online: bool,
    /// relevance, distance, start-date or fee
    #[arg(long, default_value = "relevance")]
    pub sort: String,
    /// Courses per page (1..=100).
    #[arg(long, default_value_t = 20)]
    pub page_size: u32,
    /// Continue from a previous answer's "next page" token.
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Print the raw response as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub learner: LearnerArgs,
    /// Read the learner's circumstances from FILE (`-` for stdin) instead of the flags above,
    /// so they are not visible to other users of the machine in `ps`: one `name value` per
    /// line, names as the learner flags without `--` (`age 30`, `lives-in E09000028`,
    /// `benefits true`); `#` starts a comment.
    #[arg(long, visible_alias = "learner", value_name = "FILE")]
    pub learner_file: Option<PathBuf>,
    /// Only courses the learner is eligible for.
    #[arg(long)]
    pub eligible_only: bool,
}

/// The client's circumstances, for fee and eligibility answers. Sent with the query only.
#[derive(Debug, Args, Default)]
pub struct LearnerArgs {
    /// Age today (the funding rules' age on 31 August is derived from it).
    #[arg(long)]
    pub age: Option<u8>,
    /// Date of birth, YYYY-MM-DD (exact age on 31 August; takes precedence over --age).
    #[arg(long)]
    pub date_of_birth: Option<String>,
    /// Borough of residence (GSS code).
    #[arg(long)]
    pub lives_in: Option<String>,
    /// british-or-irish, settled-status, pre-settled-status, indefinite-leave, refugee, asylum-seeker, other
    #[arg(long)]
    pub residency: Option<String>,
    /// employed, self-employed, unemployed, not-looking
    #[arg(long)]
    pub employment: Option<String>,
    /// Annual gross earnings in pounds.
    #[arg(long)]
    pub earnings: Option<u32>,
    /// Receives means-tested benefits (true/false).
    #[arg(long)]
    pub benefits: Option<bool>,
    /// Highest qualification: non-accredited (none), entry, level-1 … level-7
    #[arg(long)]
    pub highest_qualification: Option<String>,
    /// Referred by a social prescriber or link worker (true/false).
    #[arg(long)]
    pub referred: Option<bool>,
    /// English is the learner's first language (true/false).
    #[arg(long)]
    pub first_language_english: Option<bool>,
    /// Holds GCSE (or equivalent) English at grade 4/C or above.
    #[arg(long)]
    pub gcse_english: Option<bool>,
    /// Holds GCSE (or equivalent) maths at grade 4/C or above.
    #[arg(long)]
    pub gcse_maths: Option<bool>,
    /// Claims JSA, Universal Credit or ESA and is looking for work.
    #[arg(long)]
    pub claiming_jobseeker_benefits: Option<bool>,
    /// Claims an in-work benefit (e.g. Universal Credit while working).
    #[arg(long)]
    pub in_work_benefits: Option<bool>,
    /// Has lived in the UK for the last 3 years.
    #[arg(long)]
    pub uk_resident_3_years: Option<bool>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key file to create or read.
    #[arg(long, default_value = "./prospectus-data/node.key")]
    pub key: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace the origin key with a new one (same file) and print the roster lines to paste.
    /// The data dir, its records and provider tokens are kept; the node signs with the new
    /// key once restarted; peers need only the new roster (they re-read it live).
    Rotate(KeyRotateArgs),
}

#[derive(Debug, Args)]
pub struct KeyRotateArgs {
    /// The origin key file (the node's `key_file` / `--key`); it is replaced in place.
    #[arg(long, default_value = "./prospectus-data/node.key")]
    pub key: PathBuf,
    /// Until when the old key stays valid in the roster: RFC 3339 (2027-01-31T00:00:00Z) or a
    /// date (2027-01-31, midnight UTC) [default: 7 days from now].
    #[arg(long)]
    pub old_valid_until: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of boroughs (1..=33), taken in GSS-code order.
    #[arg(long, default_value_t = 3)]
    pub boroughs: usize,
    /// Node i listens on 127.0.0.1:(BASE_PORT + i).
    #[arg(long, default_value_t = 7400)]
    pub base_port: u16,
    /// Directory for the nodes' data (one sub-directory per borough).
    #[arg(long, default_value = "./prospectus-demo")]
    pub data_dir: PathBuf,
    /// Generated courses published to each node.
    #[arg(long, default_value_t = 200)]
    pub courses_per_borough: usize,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it is for in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if a.get_help().is_none() && !matches!(id, "help" | "version") {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "prospectus", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
