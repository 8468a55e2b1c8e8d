//! The `andibase` binary: command-line interface and wiring of the crates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use andibase_common::Clock;
use andibase_identity::{Identity, KeyRole, Permissions};
use andibase_server::{AppState, ServerConfig};
use clap::{Parser, Subcommand};

mod data_cli;
mod migrate;
mod stores;

#[derive(Parser)]
#[command(
    name = "andibase",
    version,
    about = "One workspace for AI agents and the humans they work for."
)]
struct Cli {
    /// Where the databases live.
    #[arg(
        long,
        global = true,
        env = "ANDIBASE_DATA_DIR",
        default_value = "./andibase-data"
    )]
    data_dir: PathBuf,
    /// A PostgreSQL server to keep every database on (`postgres://user@host/db`), for
    /// several replicas; without it, SQLite files in the data dir.
    #[arg(long, global = true, env = "ANDIBASE_DATABASE_URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage humans.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manage API keys (for operators without a browser).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Import or export the records of a data definition.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Write a consistent copy of every database to a folder, safe while serving (on
    /// PostgreSQL, a `pg_dump` of the database in its custom format).
    Backup {
        /// Destination folder (created; must not already hold a backup).
        #[arg(long)]
        out: PathBuf,
    },
    /// Copy a SQLite installation (identity, every workspace, every memory space) into
    /// the PostgreSQL database of `--database-url`, replacing what it held; safe to run
    /// again. Stop the server on the data dir first (or copy from an `andibase backup`).
    MigrateToPostgres {
        /// The SQLite installation's data dir.
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// On PostgreSQL, how often (ms) to look for jobs other replicas enqueued or left
    /// behind.
    #[arg(long, env = "ANDIBASE_JOB_SWEEP_MS", default_value_t = 10_000)]
    job_sweep_ms: u64,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ANDIBASE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Public base URL used in links; defaults to `http://<listen address>`.
    #[arg(long, env = "ANDIBASE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ANDIBASE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Failed sign-ins per client address, and per account, per minute; past that each
    /// attempt (right or wrong) waits `--sign-in-slow-path-ms`, one at a time.
    #[arg(long, env = "ANDIBASE_SIGN_IN_PER_MINUTE", default_value_t = 10)]
    sign_in_per_minute: u32,
    /// Open connections in all; past it new ones are closed at once.
    #[arg(long, env = "ANDIBASE_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Open connections from one client address.
    #[arg(
        long,
        env = "ANDIBASE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    max_connections_per_address: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection stays open.
    #[arg(
        long,
        env = "ANDIBASE_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    header_read_timeout_ms: u64,
    /// Ed25519 public keys (comma-separated base64, raw 32 bytes) whose CWT bearer tokens
    /// the memory API accepts; none turns CWT off.
    #[arg(long, env = "ED25519_PUBKEYS", default_value = "")]
    ed25519_pubkeys: String,
    /// Principals (CWT `sub`) that are platform admins of the memory API.
    #[arg(long, env = "MANAGERS", default_value = "")]
    memory_managers: String,
    /// A record list slower than this counts as a slow query of its shape.
    #[arg(long, env = "ANDIBASE_SLOW_QUERY_MS", default_value_t = 50)]
    slow_query_ms: u64,
    /// So does one that takes this many steps of SQLite's machine (about 10 to 30 a row
    /// it reads), whatever the machine's load.
    #[arg(long, env = "ANDIBASE_SLOW_QUERY_STEPS", default_value_t = 200_000)]
    slow_query_steps: u64,
    /// A shape slow this many times gets the index that serves it (unless the workspace
    /// turned automatic indexes off with `PATCH /api/v1/data-settings`).
    #[arg(long, env = "ANDIBASE_AUTO_INDEX_AFTER", default_value_t = 5)]
    auto_index_after: u64,
    /// A record list is stopped (a 400 naming the filter) after this long.
    #[arg(long, env = "ANDIBASE_QUERY_TIME_LIMIT_MS", default_value_t = 2000)]
    query_time_limit_ms: u64,
    /// How long a sign-in past the failure limit waits before its password is checked.
    #[arg(long, env = "ANDIBASE_SIGN_IN_SLOW_PATH_MS", default_value_t = 3000)]
    sign_in_slow_path_ms: u64,
    /// Agent-login starts per client address per minute.
    #[arg(long, env = "ANDIBASE_AGENT_LOGIN_PER_MINUTE", default_value_t = 30)]
    agent_login_per_minute: u32,
    /// How long an agent login request can be approved and exchanged, in seconds.
    #[arg(long, env = "ANDIBASE_AGENT_LOGIN_TTL_SECONDS", default_value_t = 900)]
    agent_login_ttl_seconds: i64,
    /// Smallest timeout an approval may have, in seconds.
    #[arg(
        long,
        env = "ANDIBASE_APPROVAL_MIN_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    approval_min_timeout_seconds: i64,
    /// Timeout of approvals whose agent has no settings, in seconds.
    #[arg(
        long,
        env = "ANDIBASE_APPROVAL_DEFAULT_TIMEOUT_SECONDS",
        default_value_t = 86_400
    )]
    approval_default_timeout_seconds: i64,
    /// Approval creates allowed per agent per sliding minute.
    #[arg(
        long,
        env = "ANDIBASE_APPROVAL_CREATES_PER_MINUTE",
        default_value_t = 60
    )]
    approval_creates_per_minute: usize,
    /// Approvals a workspace may create per calendar month (unset: no cap).
    #[arg(long, env = "ANDIBASE_APPROVAL_MONTHLY_QUOTA")]
    approval_monthly_quota: Option<i64>,
    /// Seconds a memory space's graph stays open unused before it is closed (its file
    /// reopens on the next use).
    #[arg(long, env = "ANDIBASE_MEMORY_IDLE_SECONDS", default_value_t = 540)]
    memory_idle_seconds: u64,
    /// The longest wait for a model provider's next bytes, in seconds.
    #[arg(long, env = "ANDIBASE_MODEL_TIMEOUT_SECONDS", default_value_t = 120)]
    model_timeout_seconds: u64,
    /// Retries of a model call after a 429, a 5xx or a network failure.
    #[arg(long, env = "ANDIBASE_MODEL_RETRIES", default_value_t = 3)]
    model_retries: u32,
    /// Agent chat turns running at once, server-wide; past it a new turn is refused with
    /// 429 (a turn can hold a thread for minutes: an approval wait, a slow provider).
    #[arg(long, env = "ANDIBASE_MAX_CONCURRENT_TURNS", default_value_t = 64)]
    max_concurrent_turns: usize,
    /// MCP sessions held at once, server-wide (a session lives until deleted or idle for 5
    /// minutes); past it a new one is refused with 503.
    #[arg(long, env = "ANDIBASE_MAX_MCP_SESSIONS", default_value_t = 10_000)]
    max_mcp_sessions: usize,
    /// Allow callbacks (and other outbound requests) to loopback and private addresses.
    #[arg(long, env = "ANDIBASE_ALLOW_PRIVATE_CALLBACKS")]
    allow_private_callbacks: bool,
    /// First retry delay of a failed callback, doubling each attempt, in milliseconds.
    #[arg(long, env = "ANDIBASE_CALLBACK_RETRY_BASE_MS", default_value_t = 2_000)]
    callback_retry_base_ms: i64,
    /// Attempts before a callback is marked failed.
    #[arg(long, env = "ANDIBASE_CALLBACK_MAX_ATTEMPTS", default_value_t = 8)]
    callback_max_attempts: i64,
    /// Show remote images in approval context Markdown (off: they render as links).
    #[arg(long, env = "ANDIBASE_ALLOW_REMOTE_IMAGES")]
    allow_remote_images: bool,
    /// Tests only (debug builds): the clock stands still until `POST /__test/clock`
    /// moves it, which also runs the jobs then due.
    #[cfg(debug_assertions)]
    #[arg(long, hide = true)]
    test_clock: bool,
    /// Log format: text or json.
    #[arg(long, env = "ANDIBASE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a human who can sign in.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "ANDIBASE_USER_PASSWORD")]
        password: String,
        #[arg(long)]
        name: Option<String>,
        /// Make the user a server admin.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace owned by an existing user.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        handle: Option<String>,
        /// Email of the owner.
        #[arg(long)]
        owner: String,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Import a .csv (header row of field keys, optional id and name) or .jsonl file.
    Import {
        workspace: String,
        definition: String,
        file: PathBuf,
        /// Records per atomic batch.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// upsert, insert (fail on existing records) or update.
        #[arg(long, default_value = "upsert")]
        mode: andibase_data::UpsertMode,
        /// Match existing records on this unique field instead of id.
        #[arg(long)]
        match_on: Option<String>,
    },
    /// Export records as jsonl (default) or csv, to --out or stdout.
    Export {
        workspace: String,
        definition: String,
        #[arg(long, default_value = "jsonl")]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only records matching this filter.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key and print its secret once.
    Create {
        #[arg(long)]
        workspace: String,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long)]
        name: String,
    },
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc: request handling allocates many small, short-lived objects (rows, JSON
/// values), where glibc's malloc spent a quarter of the server's CPU (perf, filtered query).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let place = stores::Place {
        data_dir: cli.data_dir,
        database_url: cli.database_url,
    };
    let open_main = || async { place.open().await.map(|s| s.main) };
    match cli.command {
        Command::Serve(args) => serve(&place, args).await,
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    name,
                    admin,
                },
        } => {
            let identity = Identity::new(open_main().await?, Clock::system());
            let user = identity
                .create_user(&email, name.as_deref(), &password, admin)
                .await
                .map_err(describe)?;
            println!(
                "created user {} ({}){}",
                user.email,
                user.id,
                if admin { " as admin" } else { "" }
            );
            Ok(())
        }
        Command::Workspace {
            command:
                WorkspaceCommand::Create {
                    name,
                    handle,
                    owner,
                },
        } => {
            let identity = Identity::new(open_main().await?, Clock::system());
            let user = identity
                .user_by_email(&owner)
                .await
                .map_err(describe)?
                .ok_or(format!("no user with email {owner}"))?;
            let ws = identity
                .create_workspace(
                    andibase_identity::CreateWorkspace { name, handle },
                    &user.id,
                )
                .await
                .map_err(describe)?;
            println!(
                "created workspace {} ({}) owned by {}",
                ws.handle, ws.name, user.email
            );
            Ok(())
        }
        Command::Key {
            command:
                KeyCommand::Create {
                    workspace,
                    role,
                    name,
                },
        } => {
            let identity = Identity::new(open_main().await?, Clock::system());
            let ws = identity
                .workspace_by_handle(&workspace)
                .await
                .map_err(describe)?
                .ok_or(format!("no workspace {workspace}"))?;
            let role = KeyRole::parse(&role).ok_or("role must be admin, editor or viewer")?;
            let created = identity
                .create_operator_key(&ws, &name, role, &Permissions::new())
                .await
                .map_err(describe)?;
            println!("{}", created.key);
            eprintln!(
                "created {} key {} ({}) in {}; the secret above is shown once",
                role.as_str(),
                created.api_key.name,
                created.api_key.id,
                ws.handle
            );
            Ok(())
        }
        Command::Backup { out } => backup(&place, &out).await,
        Command::MigrateToPostgres { from } => match &place.database_url {
            Some(url) => migrate::migrate_to_postgres(&from, url).await,
            None => Err("give the PostgreSQL database to copy into: --database-url postgres://… (or ANDIBASE_DATABASE_URL)".into()),
        },
        Command::Data {
            command:
                DataCommand::Import {
                    workspace,
                    definition,
                    file,
                    batch,
                    mode,
                    match_on,
                },
        } => {
            let opts = data_cli::ImportOptions {
                batch: batch.clamp(1, 1000),
                mode,
                match_on,
            };
            match data_cli::import(&place, &workspace, &definition, &file, opts).await? {
                true => Ok(()),
                false => std::process::exit(1),
            }
        }
        Command::Data {
            command:
                DataCommand::Export {
                    workspace,
                    definition,
                    format,
                    out,
                    filter,
                },
        } => {
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let n = data_cli::export(&place, &workspace, &definition, &format, filter, &mut sink)
                .await?;
            sink.flush().map_err(|e| e.to_string())?;
            eprintln!("exported {n} records");
            Ok(())
        }
    }
}

fn describe(e: andibase_common::DomainError) -> String {
    match e {
        andibase_common::DomainError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

async fn backup(place: &stores::Place, out: &Path) -> Result<(), String> {
    if let Some(url) = &place.database_url {
        let (url, out) = (url.clone(), out.to_path_buf());
        return tokio::task::spawn_blocking(move || backup_postgres(&url, &out))
            .await
            .map_err(|e| e.to_string())?;
    }
    let data_dir = place.data_dir();
    if out.join("main.db").exists() {
        return Err(format!("{} already holds a backup", out.display()));
    }
    andibase_storage::files::private_dir(&out.join("workspaces")).map_err(|e| e.to_string())?;
    andibase_storage::files::private_dir(out).map_err(|e| e.to_string())?;
    let stores = place.open().await?;
    stores
        .main
        .backup_to(out.join("main.db"))
        .await
        .map_err(describe)?;
    let workspaces = stores.workspaces;
    let (mut n, mut spaces) = (0, 0);
    if let Ok(entries) = std::fs::read_dir(data_dir.join("workspaces")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".db") {
                let db = workspaces.get(id).await.map_err(describe)?;
                db.backup_to(out.join("workspaces").join(&name))
                    .await
                    .map_err(describe)?;
                n += 1;
            } else if name.ends_with(".spaces") {
                // Memory spaces' graphs, each a SQLite file of its own.
                let into = out.join("workspaces").join(&name);
                andibase_storage::files::private_dir(&into).map_err(|e| e.to_string())?;
                for graph in std::fs::read_dir(entry.path())
                    .map_err(|e| e.to_string())?
                    .flatten()
                {
                    let file = graph.file_name().to_string_lossy().into_owned();
                    if file.ends_with(".kip.db") {
                        let (src, dest) = (graph.path(), into.join(&file));
                        tokio::task::spawn_blocking(move || {
                            andibase_storage::files::snapshot_sqlite(&src, &dest)
                        })
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("{file}: {e}"))?;
                        spaces += 1;
                    }
                }
            }
        }
    }
    println!(
        "backed up main.db, {n} workspace database(s) and {spaces} memory space(s) to {}",
        out.display()
    );
    Ok(())
}

/// The dump `andibase backup` writes on PostgreSQL, in PostgreSQL's own format.
const POSTGRES_DUMP: &str = "andibase.pgdump";

/// `andibase backup` on PostgreSQL: the whole database, one snapshot taken while serving,
/// through PostgreSQL's own `pg_dump` (its custom format, restored by `pg_restore`). The
/// read-only SQL schemas (`sqlv_…`) are left out: their views are granted to login roles,
/// which live in the cluster, not the database, and they are rebuilt on first use.
fn backup_postgres(url: &str, out: &Path) -> Result<(), String> {
    let file = out.join(POSTGRES_DUMP);
    if file.exists() {
        return Err(format!("{} already holds a backup", out.display()));
    }
    andibase_storage::files::private_dir(out).map_err(|e| e.to_string())?;
    let pg_dump = std::env::var("ANDIBASE_PG_DUMP").unwrap_or_else(|_| "pg_dump".into());
    let (address, password) = andibase_storage::split_password(url).map_err(describe)?;
    let mut command = std::process::Command::new(&pg_dump);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let done = command
        .args(["--format=custom", "--exclude-schema=sqlv_*", "--file"])
        .arg(&file)
        .arg(format!("--dbname={address}"))
        .status()
        .map_err(|e| {
            format!(
                "could not run {pg_dump} ({e}): install PostgreSQL's client tools, of the server's major version or newer, or name the program in ANDIBASE_PG_DUMP"
            )
        })?;
    if !done.success() {
        let _ = std::fs::remove_file(&file);
        return Err(format!("{pg_dump} failed ({done}); nothing was kept"));
    }
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up the PostgreSQL database to {} ({bytes} bytes); restore it into an empty database with pg_restore --dbname <url> {}, then serve it with the same ANDIBASE_SECRET_KEY",
        file.display(),
        file.display()
    );
    Ok(())
}

/// This replica's name, kept in its data dir (`replica.id`) so it stays the same across
/// restarts: job leases carry it, and a restart frees the ones it held.
fn replica_id(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("replica.id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = andibase_common::id::uuid7();
    andibase_storage::files::private_dir(data_dir).map_err(|e| e.to_string())?;
    andibase_storage::files::private_file(&path).map_err(|e| e.to_string())?;
    std::fs::write(&path, &id).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(id)
}

#[cfg(debug_assertions)]
fn test_clock(args: &ServeArgs) -> bool {
    args.test_clock
}

#[cfg(not(debug_assertions))]
fn test_clock(_: &ServeArgs) -> bool {
    false
}

/// A test server's manual clock and what must catch up when it moves.
struct TestClock {
    clock: Clock,
    scheduler: Arc<andibase_jobs::Scheduler>,
    identity: Arc<Identity>,
}

impl andibase_server::state::TimeControl for TestClock {
    fn advance(
        &self,
        ms: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = andibase_common::Timestamp> + Send + '_>>
    {
        Box::pin(async move {
            self.clock.advance_millis(ms);
            if !self
                .scheduler
                .settle(&self.clock, Duration::from_secs(30))
                .await
            {
                tracing::warn!("jobs did not settle within 30 s of a test clock move");
            }
            if let Err(e) = self.identity.flush_last_requests().await {
                tracing::warn!(error = %e, "could not write key use times");
            }
            self.clock.now()
        })
    }
}

async fn serve(place: &stores::Place, args: ServeArgs) -> Result<(), String> {
    init_logging(args.log_format);
    let started = std::time::Instant::now();
    let data_dir = place.data_dir();
    let stores::Stores { main, workspaces } = place.open().await?;
    let test_clock = test_clock(&args);
    let clock = if test_clock {
        Clock::manual(Clock::system().now())
    } else {
        Clock::system()
    };
    let main_for_memory = main.clone();
    let main_for_windows = main.clone();
    let identity = Arc::new(
        Identity::new(main, clock.clone()).with_agent_login_ttl(args.agent_login_ttl_seconds),
    );
    // Secrets kept for users are sealed with this key; never logged. Replicas must all
    // have the same one, so on PostgreSQL it comes from the environment, never a file.
    let secret_key = std::env::var("ANDIBASE_SECRET_KEY").ok();
    if place.database_url.is_some() && secret_key.is_none() {
        return Err("with --database-url, set ANDIBASE_SECRET_KEY (64 hex characters, the same on every replica): the key that seals stored secrets".into());
    }
    let vault = andibase_vault::Vault::open(data_dir, secret_key.as_deref()).map_err(describe)?;
    let scheduler = Arc::new(andibase_jobs::Scheduler::default());
    // Model providers from the ecosystem's variables (see `andibase_llm::Providers`).
    let mut providers = andibase_llm::Providers::from_env()?;
    providers.settings.timeout = Duration::from_secs(args.model_timeout_seconds.max(1));
    providers.settings.retries = args.model_retries;
    match providers.default_model_name() {
        Some(m) => tracing::info!(model = m, "model-backed memory and agents use {m}"),
        None => tracing::info!(
            "no default model (ANDIBASE_DEFAULT_MODEL): memory runs model-free unless a space brings its own"
        ),
    }
    let models = Arc::new(providers);
    let memory = andibase_memory::Memory::new(
        main_for_memory,
        workspaces.clone(),
        data_dir.join("workspaces"),
        scheduler.clone(),
        clock.clone(),
    );
    // On PostgreSQL, spaces' graphs are schemas there too, so every replica serves them.
    let memory = match &place.database_url {
        Some(url) => memory.with_postgres_graphs(url.clone()),
        None => memory,
    };
    let memory = Arc::new(
        memory
            .with_cwt(
                andibase_memory::CwtVerifier::new(&args.ed25519_pubkeys, &args.memory_managers)
                    .map_err(|e| format!("--ed25519-pubkeys: {e}"))?,
            )
            .with_vault(vault.clone())
            .with_models(
                models.clone(),
                andibase_outbound::Policy {
                    allow_private: args.allow_private_callbacks,
                },
            ),
    );
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    // Where the console's pages are, for links that domain code hands out.
    let links: Arc<dyn andibase_common::Links> =
        Arc::new(andibase_server::links::ConsoleLinks::new(&public_url));
    let events = andibase_events::EventBus::new(workspaces.clone());
    // Sign-in and agent-login windows per address: in memory for one process; in the
    // database when replicas share it, so they count one window.
    let windows: Arc<dyn andibase_common::rate::RateWindows> = match &place.database_url {
        Some(_) => Arc::new(andibase_identity::SharedRateWindows::new(
            main_for_windows,
            clock.clone(),
        )),
        None => Arc::new(andibase_common::rate::LocalRateWindows::new(clock.clone())),
    };
    let approvals = Arc::new(andibase_approvals::Approvals::new(
        andibase_approvals::ApprovalsParts {
            workspaces: workspaces.clone(),
            scheduler: scheduler.clone(),
            vault: vault.clone(),
            clock: clock.clone(),
            bus: events.clone(),
            links: links.clone(),
        },
        andibase_approvals::ApprovalsConfig {
            min_timeout_secs: args.approval_min_timeout_seconds.max(1),
            default_timeout_secs: args.approval_default_timeout_seconds,
            creates_per_minute: args.approval_creates_per_minute.max(1),
            monthly_quota: args.approval_monthly_quota,
            callback_base_backoff_ms: args.callback_retry_base_ms.max(1),
            callback_max_attempts: args.callback_max_attempts.max(1),
            callback_timeout: Duration::from_secs(10),
            outbound: andibase_outbound::Policy {
                allow_private: args.allow_private_callbacks,
            },
        },
    ));
    let runner = Arc::new(
        andibase_jobs::Runner::new(workspaces.clone(), scheduler.clone(), clock.clone())
            .with_replica(&replica_id(data_dir)?)
            .handle(
                andibase_approvals::EXPIRE_JOB,
                Arc::new(andibase_approvals::ExpireJob(approvals.clone())),
            )
            .handle(
                andibase_approvals::CALLBACK_JOB,
                Arc::new(andibase_approvals::CallbackJob(approvals.clone())),
            )
            .handle(
                andibase_memory::FORMATION_JOB,
                Arc::new(andibase_memory::FormationJob(memory.clone())),
            )
            .handle(
                andibase_memory::MAINTENANCE_JOB,
                Arc::new(andibase_memory::MaintenanceJob(memory.clone())),
            ),
    );
    let recovered = runner.recover().await.map_err(describe)?;
    if recovered > 0 {
        tracing::info!(workspaces = recovered, "resuming pending jobs");
    }
    let sweeps = tokio::spawn(
        runner
            .clone()
            .sweep_every(Duration::from_millis(args.job_sweep_ms.max(100))),
    );
    let jobs = tokio::spawn(runner.run());
    // What other replicas change, this one forgets from its caches (PostgreSQL only).
    let definitions: Arc<dyn andibase_data::DefinitionCache> =
        Arc::new(andibase_data::LocalDefinitionCache::default());
    let replicas = {
        let (identity, definitions) = (identity.clone(), definitions.clone());
        let heard = workspaces.postgres_server().map(|pg| pg.announcements());
        tokio::spawn(async move {
            let definitions = async move {
                if let Some(heard) = heard {
                    andibase_data::follow_other_replicas(&*definitions, heard).await
                }
            };
            tokio::join!(identity.follow_other_replicas(), definitions);
        })
    };
    let state = AppState {
        identity: identity.clone(),
        workspaces: workspaces.clone(),
        events,
        links,
        approvals,
        definitions: definitions.clone(),
        memory,
        models: models.clone(),
        turns: Arc::new(tokio::sync::Semaphore::new(
            args.max_concurrent_turns.max(1),
        )),
        vault,
        query_log: Arc::new(andibase_data::QueryLog::new(andibase_data::UsageSettings {
            slow: Duration::from_millis(args.slow_query_ms),
            slow_steps: args.slow_query_steps,
            build_after: args.auto_index_after.max(1),
            time_limit: Duration::from_millis(args.query_time_limit_ms.max(1)),
        })),
        data_hooks: Arc::new(andibase_data::Pipeline::default()),
        config: Arc::new(ServerConfig {
            public_url: public_url.clone(),
            body_limit: args.body_limit,
            sign_in_per_minute: args.sign_in_per_minute,
            sign_in_slow_path: Duration::from_millis(args.sign_in_slow_path_ms),
            agent_login_per_minute: args.agent_login_per_minute,
            allow_remote_images: args.allow_remote_images,
            outbound: andibase_outbound::Policy {
                allow_private: args.allow_private_callbacks,
            },
            mcp_sessions: args.max_mcp_sessions.max(1),
            connections: andibase_server::ConnectionLimits {
                total: args.max_connections,
                per_address: args.max_connections_per_address,
                header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            },
        }),
        metrics: Default::default(),
        limiter: windows,
        slow_sign_ins: Default::default(),
        clock: clock.clone(),
        time_control: test_clock.then(|| {
            Arc::new(TestClock {
                clock,
                scheduler: scheduler.clone(),
                identity: identity.clone(),
            }) as Arc<dyn andibase_server::state::TimeControl>
        }),
    };
    if let Some(token) = identity.issue_setup_token().await.map_err(describe)? {
        println!("No users yet. Open this one-time link to create the first admin: {public_url}/setup?token={token}");
    }

    let memory_idle = Duration::from_secs(args.memory_idle_seconds.max(1));
    let background = {
        let (identity, workspaces) = (identity.clone(), workspaces.clone());
        let memory = state.memory.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                if let Err(e) = identity.flush_last_requests().await {
                    tracing::warn!(error = %e, "could not record key use times");
                }
                let closed = memory.close_idle(memory_idle).await;
                if closed > 0 {
                    tracing::debug!(closed, "closed idle memory spaces");
                }
                if n.is_multiple_of(12) {
                    let closed = workspaces.close_idle(Duration::from_secs(300));
                    if closed > 0 {
                        tracing::debug!(closed, "closed idle workspace databases");
                    }
                }
            }
        })
    };

    println!(
        "andibase listening on {public_url} (data in {}, ready in {} ms)",
        data_dir.display(),
        started.elapsed().as_millis()
    );
    andibase_server::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;

    background.abort();
    jobs.abort();
    sweeps.abort();
    replicas.abort();
    tracing::info!("shutting down: finishing writes");
    let _ = identity.flush_last_requests().await;
    workspaces.close_all();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
