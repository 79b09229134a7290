//! The `dtr` command line (CONTRACT §1).

use crate::config::Config;
use crate::db::Db;
use crate::{audit, keys_cmd, serve};
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
    Verify,
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
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
    if let Command::Validate { files, as_of } = &command {
        return crate::validate_cmd::run(files, as_of.as_deref());
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
            let running = serve::start(config, true).await?;
            eprintln!("dtr listening on http://{} (docs at /docs)", running.addr);
            serve::shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown().await;
            Ok(ExitCode::SUCCESS)
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
            command: AuditCommand::Verify,
        } => {
            let db = Db::connect(&config.database_url)
                .await
                .context("connecting to the database")?;
            let v = audit::verify(db.conn())
                .await
                .context("reading the audit log")?;
            let report = serde_json::json!({
                "valid": v.first_broken.is_none(),
                "events": v.events,
                "head": v.head,
                "first_broken": v.first_broken,
            });
            println!("{report}");
            Ok(match v.first_broken {
                None => ExitCode::SUCCESS,
                Some(seq) => {
                    eprintln!("dtr audit verify: the chain is broken at seq {seq}");
                    ExitCode::from(1)
                }
            })
        }
        Command::Validate { .. } | Command::Openapi => Ok(ExitCode::from(2)),
    }
}
