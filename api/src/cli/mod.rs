//! The `dtr` command line (docs/contract.md §1).

pub(crate) mod validate;

use crate::config::Config;
use crate::db::Db;
use crate::keys::commands as keys_cmd;
use crate::{audit, serve};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use openapi::Role;
use std::path::PathBuf;
use std::process::ExitCode;

/// The duty-to-refer service (s.213B Housing Act 1996). Configuration is read from DTR_* environment
/// variables (see the README).
#[derive(Debug, Parser)]
#[command(name = "dtr", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service and the delivery worker (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate referral documents offline with the same rules and output as
    /// `POST /v1/referrals/validate`. Exit 0 when all are valid, 1 when any is invalid, 2 on an
    /// IO or usage error. `-` reads standard input.
    Validate {
        /// Files to validate (`-` for standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Judge as of this RFC 3339 instant instead of now (to reproduce a past decision).
        #[arg(long, value_name = "INSTANT")]
        as_of: Option<String>,
        /// Judge as a referral made by this agency type (as a referrer key's), for the messages
        /// that speak to the referrer's own duties; without it they are general.
        #[arg(long, value_name = "AGENCY_TYPE")]
        agency_type: Option<String>,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI spec (byte-identical to GET /openapi.json).
    Openapi,
    /// SQLite: write a consistent copy of the live database to FILE (which must not exist), safe
    /// while `dtr serve` runs: every commit up to the copy's moment, WAL included, nothing after.
    /// Exit 1 when the copy fails. On PostgreSQL use `pg_dump` (see the operator guide).
    Backup {
        /// Where to write the copy (a new file).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; prints the key alone on the first line of stdout, details on stderr.
    Create(CreateKey),
    /// List every key (never the key itself): one JSON object per line.
    List,
    /// Revoke a key by its id: 401 from then on. Exit 1 when there is no such key or it is the
    /// last active admin key.
    Revoke {
        /// The key's id (from `dtr keys list` or the answer that created it).
        id: String,
    },
}

#[derive(Debug, Args)]
struct CreateKey {
    /// referrer, authority or admin.
    #[arg(long)]
    role: String,
    /// Referrer keys: the organisation's name.
    #[arg(long)]
    organisation: Option<String>,
    /// Referrer keys: the agency type (e.g. probation, emergency_department).
    #[arg(long = "agency-type")]
    agency_type: Option<String>,
    /// Authority keys: the housing authority's GSS code (`--authority` is the older name).
    #[arg(long = "gss-code", alias = "authority")]
    gss_code: Option<String>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the whole hash chain: exit 0 when intact, 1 with the first broken sequence number.
    /// With `--checkpoint`, also check each saved checkpoint (the JSON of GET
    /// /v1/audit/checkpoint): its signature, and that event n still has hash `head`; exit 1 naming
    /// the first checkpoint that fails.
    Verify {
        /// Saved checkpoints to check the chain against.
        #[arg(long = "checkpoint", value_name = "FILE", num_args = 1..)]
        checkpoints: Vec<PathBuf>,
        /// The service's public key (base64), for checking without the key file; by default the
        /// key in DTR_AUDIT_KEY_FILE.
        #[arg(long = "public-key", value_name = "BASE64")]
        public_key: Option<String>,
    },
    /// Print the public half of the audit signing key (DTR_AUDIT_KEY_FILE; created when absent),
    /// for whoever keeps checkpoints.
    PublicKey,
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a file or a log collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if config.log_json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Every connection is a file descriptor: the soft limit many systems start a service with (1,024)
/// would let a few hundred held connections shut every new client out, so `dtr serve` raises it to
/// the hard limit the operator allows, and says what it got.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => tracing::info!(open_files = soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

/// Tasks a runtime thread runs before it looks again for I/O and timers (tokio's default is 61).
/// Our tasks are short and most wait on I/O — a client's bytes, a PostgreSQL reply, the
/// admission timer — so under full load the default leaves ready work unseen while queued tasks
/// run: at twice saturation on one CPU with 24 requests at once, looking every 15 tasks took the
/// accepted requests' p99 from 39–49 ms to 31 ms and accepted more (3,076–3,112/s against
/// 2,440–2,862/s; README, benchmark measure 8).
const EVENT_INTERVAL: u32 = 15;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .event_interval(EVENT_INTERVAL)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn connect_migrated(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

/// Runs the chosen command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Validate {
        files,
        as_of,
        agency_type,
    } = &command
    {
        return crate::cli::validate::run(files, as_of.as_deref(), agency_type.as_deref());
    }
    if let Command::Openapi = command {
        print!("{}", crate::http::spec_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dtr: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let result = runtime().and_then(|rt| rt.block_on(run_async(command, config)));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dtr: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_async(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            raise_open_file_limit();
            let running = serve::start(config, true).await?;
            // One write of the whole line: stderr is unbuffered, and a script waiting for this line
            // must never read half of it.
            let line = format!("dtr listening on http://{} (docs at /docs)\n", running.addr);
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
            serve::shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file } => {
            let db = connect_migrated(&config).await?;
            match db.backup_to(&file).await {
                Ok(()) => {
                    eprintln!("copied the database to {}", file.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("dtr backup: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url)
                .await
                .context("connecting to the database")?;
            db.migrate().await.context("applying migrations")?;
            eprintln!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::List,
        } => {
            let db = connect_migrated(&config).await?;
            let mut after = None;
            loop {
                let page = crate::keys::list(db.conn(), after.clone(), 100).await?;
                for row in &page {
                    let line = serde_json::json!({
                        "id": row.id,
                        "role": row.role,
                        "organisation": row.organisation,
                        "agency_type": row.agency_type,
                        "gss_code": row.gss_code,
                        "created_at": crate::db::rfc3339_ms(row.created_at_ms),
                        "last_used_at": row.last_used_at_ms.map(crate::db::rfc3339_ms),
                        "revoked_at": row.revoked_at_ms.map(crate::db::rfc3339_ms),
                    });
                    println!("{line}");
                }
                match page.last() {
                    Some(last) if page.len() == 100 => {
                        after = Some((last.created_at_ms, last.id.clone()))
                    }
                    _ => break,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            command: KeysCommand::Revoke { id },
        } => {
            let db = connect_migrated(&config).await?;
            let now = crate::clock::Clock::system().now_ms();
            let Some(id) = crate::ids::KeyId::parse(&id) else {
                eprintln!("dtr keys revoke: {}", keys_cmd::RevokeRefusal::NotFound);
                return Ok(ExitCode::from(1));
            };
            match keys_cmd::revoke(&db, &id, audit::Actor::system(), now).await {
                Ok(row) => {
                    eprintln!("revoked {} (role={})", row.id, row.role);
                    Ok(ExitCode::SUCCESS)
                }
                Err(keys_cmd::RevokeRefusal::Db(e)) => Err(e.into()),
                Err(refusal) => {
                    eprintln!("dtr keys revoke: {refusal}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Keys {
            command: KeysCommand::Create(args),
        } => {
            let Some(role) = Role::from_stored(&args.role) else {
                eprintln!("dtr keys create: --role must be referrer, authority or admin");
                return Ok(ExitCode::from(2));
            };
            let scope = match keys_cmd::scope(
                role,
                args.organisation.as_deref(),
                args.agency_type.as_deref(),
                args.gss_code.as_deref(),
            ) {
                Ok(s) => s,
                Err(errors) => {
                    for e in errors {
                        let flag = match e.pointer.as_str() {
                            "/gss_code" => "--gss-code",
                            "/agency_type" => "--agency-type",
                            "/organisation" => "--organisation",
                            other => other,
                        };
                        eprintln!("dtr keys create: {flag}: {} ({})", e.message, e.code);
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            let db = connect_migrated(&config).await?;
            let now = crate::clock::Clock::system().now_ms();
            let created = keys_cmd::create(&db, &scope, audit::Actor::system(), now)
                .await
                .context("storing the key")?;
            println!("{}", created.key);
            eprintln!(
                "id={} role={} organisation={} agency_type={} gss_code={}",
                created.id,
                created.role.as_str(),
                created.organisation.unwrap_or_default(),
                created.agency_type.unwrap_or_default(),
                created.gss_code.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    checkpoints,
                    public_key,
                },
        } => {
            // The public key first: a checkpoint cannot be judged without it, and no database
            // work is wasted on a typo in a path.
            let public_key = match (&public_key, checkpoints.is_empty()) {
                (_, true) => None,
                (Some(k), false) => Some(k.clone()),
                (None, false) => Some(
                    crate::audit::checkpoint::AuditKey::load(&config.audit_key_file)
                        .context(
                            "reading the audit key (DTR_AUDIT_KEY_FILE, or pass --public-key)",
                        )?
                        .public_key(),
                ),
            };
            let mut saved = Vec::new();
            for path in &checkpoints {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the checkpoint {}", path.display()))?;
                let checkpoint: crate::audit::checkpoint::Checkpoint = serde_json::from_str(&text)
                    .with_context(|| {
                        format!(
                            "{} is not a checkpoint (the JSON of GET /v1/audit/checkpoint)",
                            path.display()
                        )
                    })?;
                saved.push((path, checkpoint));
            }
            let db = Db::connect(&config.database_url)
                .await
                .context("connecting to the database")?;
            let v = audit::verify(db.conn())
                .await
                .context("reading the audit log")?;
            let mut failed_checkpoint = None;
            let mut results = Vec::new();
            for (path, checkpoint) in &saved {
                let problem = match crate::audit::checkpoint::check_with(
                    public_key.as_deref().unwrap_or_default(),
                    checkpoint,
                ) {
                    Err(e) => Some(e.to_string()),
                    Ok(()) => checkpoint_against_chain(&db, &v, checkpoint)
                        .await
                        .context("reading the audit log")?,
                };
                if let (Some(p), None) = (&problem, &failed_checkpoint) {
                    failed_checkpoint = Some(format!("{}: {p}", path.display()));
                }
                results.push(serde_json::json!({
                    "file": path.display().to_string(),
                    "events": checkpoint.events,
                    "valid": problem.is_none(),
                    "problem": problem,
                }));
            }
            let mut report = serde_json::json!({
                "valid": v.first_broken.is_none() && failed_checkpoint.is_none(),
                "events": v.events,
                "head": v.head,
                "first_broken": v.first_broken,
            });
            if !saved.is_empty() {
                report["checkpoints"] = serde_json::Value::Array(results);
            }
            println!("{report}");
            if let Some(seq) = v.first_broken {
                eprintln!("dtr audit verify: the chain is broken at seq {seq}");
            }
            if let Some(failure) = &failed_checkpoint {
                eprintln!("dtr audit verify: checkpoint {failure}");
            }
            Ok(if v.first_broken.is_none() && failed_checkpoint.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Audit {
            command: AuditCommand::PublicKey,
        } => {
            let key = crate::audit::checkpoint::AuditKey::load_or_create(&config.audit_key_file)
                .context("loading the audit signing key (DTR_AUDIT_KEY_FILE)")?;
            println!("{}", key.public_key());
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { .. } | Command::Openapi => Ok(ExitCode::from(2)),
    }
}

/// Why a validly signed checkpoint does not hold against the chain as it is now, if it does not:
/// the chain must still have event `events`, with hash `head`.
async fn checkpoint_against_chain(
    db: &Db,
    chain: &audit::Verification,
    checkpoint: &crate::audit::checkpoint::Checkpoint,
) -> Result<Option<String>, sea_orm::DbErr> {
    if checkpoint.events == 0 {
        return Ok(None);
    }
    if chain.events < checkpoint.events {
        return Ok(Some(format!(
            "it was signed when the chain had {} events; it now has {} (events were removed)",
            checkpoint.events, chain.events
        )));
    }
    let seq = i64::try_from(checkpoint.events).unwrap_or(i64::MAX);
    Ok(match audit::hash_at(db.conn(), seq).await? {
        Some(hash) if hash == checkpoint.head => None,
        Some(_) => Some(format!(
            "event {seq} no longer has the signed hash (the chain was rewritten)"
        )),
        None => Some(format!("event {seq} is missing (events were removed)")),
    })
}
