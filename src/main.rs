//! `hark`: the one binary. See `hark --help`.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hark::app::{self, App, Service};
use hark::plugin_cmd;
use hark_core::{
    config::Config,
    password,
    store::users::{self, UserInsertForm},
};
use std::{io::Write, path::PathBuf};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "hark",
    version,
    about = "IVR plus unified messaging with Wasm delivery plugins"
)]
struct Cli {
    /// Configuration file (TOML); `HARK_…` environment variables override it.
    #[arg(long, short, global = true, env = "HARK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in this process (embedded defaults: SQLite, in-process bus, e-mail to
    /// an outbox folder).
    Serve {
        /// Seed demo users, contacts and a group first.
        #[arg(long)]
        demo: bool,
    },
    /// Run the IVR (SIP) service alone, against PostgreSQL + RabbitMQ.
    Ivr,
    /// Run the router alone, against PostgreSQL + RabbitMQ.
    Router,
    /// Run the notifier alone, against PostgreSQL + RabbitMQ.
    Notifier,
    /// Run the web portal alone, against PostgreSQL + RabbitMQ.
    Portal,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Also seed the demo users, contacts and group (once; a later run changes nothing).
        #[arg(long)]
        demo: bool,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage delivery plugins (WebAssembly components).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage people's devices, and the SIP sign-in phones register with.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Decode one uploaded audio file from stdin to the canonical WAV on stdout, within
    /// limits (the portal runs this as a child for every upload).
    #[command(hide = true)]
    DecodeUpload {
        #[arg(long)]
        max_seconds: u32,
        #[arg(long)]
        memory_mib: u32,
        #[arg(long)]
        cpu_seconds: u32,
        /// Set by the child itself when it starts again under its limits.
        #[arg(long)]
        limited: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Validate a .wasm component and install it (or replace the installed version).
    Add {
        file: PathBuf,
        /// Asked in this order, lowest first.
        #[arg(long, default_value_t = 100)]
        priority: i32,
        /// The plugin's configuration (often JSON). (`--config` names Hark's own file.)
        #[arg(long, default_value = "")]
        plugin_config: String,
        /// Install without enabling.
        #[arg(long)]
        disabled: bool,
    },
    /// List installed plugins.
    List,
    /// Enable a plugin by name.
    Enable { name: String },
    /// Disable a plugin by name.
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Add a device for a person (verified at once: an admin added it). With
    /// `--sip-username`, the phone also gets a SIP sign-in, its password read from standard
    /// input (one line, 8 characters or more).
    Add {
        #[arg(long)]
        extension: String,
        /// email, phone, sip or browser.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        sip_username: Option<String>,
        /// Calls from this registered phone need no PIN.
        #[arg(long)]
        trusted: bool,
        /// Send it message-waiting NOTIFYs without a SUBSCRIBE.
        #[arg(long)]
        mwi: bool,
    },
    /// List devices (one person's with `--extension`), with their SIP sign-in and where they
    /// are registered.
    List {
        #[arg(long)]
        extension: Option<String>,
    },
    /// Remove a device by its id (where it is registered goes with it).
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        #[arg(long)]
        extension: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// SIP URI or phone number for callback calls.
        #[arg(long)]
        phone: Option<String>,
        /// Read the portal password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Phone PIN (digits).
        #[arg(long)]
        pin: Option<String>,
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The decoding child: limits first, then nothing but the file (no runtime, no config, no
    // threads; its stderr reaches the portal's log when it fails).
    if let Command::DecodeUpload {
        max_seconds,
        memory_mib,
        cpu_seconds,
        limited,
    } = cli.command
    {
        if !limited {
            hark_core::audio::limit_this_process(hark_core::audio::ChildLimits {
                memory_mib,
                seconds: cpu_seconds,
            })
            .context("limiting the decoding child")?;
            // An address-space limit binds mappings made after it, and mimalloc reserved its
            // 1 GiB arena before `main`: start this program again, limited from its start.
            use std::os::unix::process::CommandExt;
            let exec = std::process::Command::new(std::env::current_exe()?)
                .args(std::env::args_os().skip(1))
                .arg("--limited")
                .exec();
            return Err(exec).context("starting the decoding child again under its limits");
        }
        // The portal sends only what it accepted; more than the memory limit could not be
        // held anyway.
        hark_core::audio::serve_child(
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
            max_seconds,
            u64::from(memory_mib) << 20,
        )
        .context("decoding an upload")?;
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_server=warn,lapin=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal only: a log file, journald or a test's capture
        // gets plain text (escape codes made CI's copy of a failing process's log unreadable).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

async fn dispatch(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve { demo } => {
            let app = App::build(config).await?;
            let realm = app.config.ivr.sip_realm.clone();
            if demo && hark::demo::seed(&app.deps.store, Some(&realm)).await? {
                tracing::info!(
                    password = hark::demo::DEMO_PASSWORD,
                    pin = hark::demo::DEMO_PIN,
                    "seeded demo users 101-104 (each with a softphone sign-in: the extension \
                     and the password) and group 200"
                );
            }
            serve(
                &app,
                &[
                    Service::Router,
                    Service::Notifier,
                    Service::Portal,
                    Service::Ivr,
                ],
            )
            .await
        }
        Command::Ivr => distributed(config, Service::Ivr).await,
        Command::Router => distributed(config, Service::Router).await,
        Command::Notifier => distributed(config, Service::Notifier).await,
        Command::Portal => distributed(config, Service::Portal).await,
        Command::Migrate { demo } => {
            let store = app::open_store(&config)?;
            tracing::info!("database is up to date");
            if demo && hark::demo::seed(&store, Some(&config.ivr.sip_realm)).await? {
                tracing::info!(
                    password = hark::demo::DEMO_PASSWORD,
                    pin = hark::demo::DEMO_PIN,
                    "seeded demo users 101-104 and group 200"
                );
            }
            Ok(())
        }
        Command::User(cmd) => user(cmd, &config).await,
        Command::Device(cmd) => device(cmd, &config).await,
        Command::DecodeUpload { .. } => bail!("decode-upload runs before the runtime starts"),
        Command::Plugin(cmd) => {
            let store = app::open_store(&config)?;
            match cmd {
                PluginCommand::Add {
                    file,
                    priority,
                    plugin_config,
                    disabled,
                } => {
                    let name =
                        plugin_cmd::add(&store, &config, &file, plugin_config, priority, !disabled)
                            .await?;
                    writeln!(std::io::stdout().lock(), "installed {name}")?;
                    Ok(())
                }
                PluginCommand::List => plugin_cmd::list(&store).await,
                PluginCommand::Enable { name } => plugin_cmd::set_enabled(&store, name, true).await,
                PluginCommand::Disable { name } => {
                    plugin_cmd::set_enabled(&store, name, false).await
                }
            }
        }
    }
}

async fn distributed(config: Config, service: Service) -> Result<()> {
    if config.bus.url.expose().starts_with("memory:") {
        bail!(
            "`hark {}` runs one service of a distributed deployment: set bus.url \
             (HARK_BUS__URL) to amqp://… and database.url to postgres://…, or run \
             `hark serve` for everything in one process",
            format!("{service:?}").to_lowercase()
        );
    }
    let app = App::build(config).await?;
    serve(&app, &[service]).await
}

async fn serve(app: &App, services: &[Service]) -> Result<()> {
    let running = app::start(app, services, None).await?;
    if let Some(addr) = running.portal_addr {
        tracing::info!("portal listening on http://{addr}");
    }
    if let Some(addr) = running.ivr_addr {
        tracing::info!("IVR taking calls at sip:{addr} (UDP and TCP)");
    }
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight work");
        shutdown.cancel();
    });
    running.wait().await
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; only Ctrl-C stops hark");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn device(cmd: DeviceCommand, config: &Config) -> Result<()> {
    use hark_core::store::{devices, registrations};
    let store = app::open_store(config)?;
    let mut out = std::io::stdout().lock();
    let person = |extension: String| {
        let store = store.clone();
        async move {
            let ext = extension.clone();
            store
                .run(move |c| users::find_by_extension(c, &ext))
                .await?
                .ok_or_else(|| anyhow::anyhow!("nobody has extension {extension}"))
        }
    };
    match cmd {
        DeviceCommand::Add {
            extension,
            kind,
            address,
            sip_username,
            trusted,
            mwi,
        } => {
            let u = person(extension).await?;
            let password = match &sip_username {
                Some(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                }
                None => None,
            };
            let realm = config.ivr.sip_realm.clone();
            let uid = u.user_id();
            let d = store
                .transaction(move |c| {
                    let d = devices::add(c, &uid, &kind, &address, None)?;
                    if let (Some(name), Some(pw)) = (&sip_username, &password) {
                        devices::set_sip_credentials(
                            c, &uid, &d.id, name, pw, &realm, trusted, mwi,
                        )?;
                    }
                    Ok(d)
                })
                .await?;
            writeln!(
                out,
                "added {} {} {} for {}",
                d.id, d.kind, d.address, u.extension
            )?;
        }
        DeviceCommand::List { extension } => {
            let people = match extension {
                Some(e) => vec![person(e).await?],
                None => store.run(users::list).await?,
            };
            writeln!(
                out,
                "{:<38} {:<10} {:<8} {:<32} {:<12} REGISTERED",
                "ID", "EXTENSION", "KIND", "ADDRESS", "SIP"
            )?;
            for u in people {
                let uid = u.user_id();
                let (list, accounts, bound) = store
                    .run(move |c| {
                        Ok((
                            devices::list_for_user(c, &uid)?,
                            devices::sip_accounts_of_user(c, &uid)?,
                            registrations::of_user(c, &uid, hark_core::store::now())?,
                        ))
                    })
                    .await?;
                for d in list {
                    let sip = accounts
                        .iter()
                        .find(|a| a.device_id == d.id)
                        .and_then(|a| a.sip_username.clone())
                        .unwrap_or_else(|| "-".into());
                    let here: Vec<&str> = bound
                        .iter()
                        .filter(|r| r.device_id == d.id)
                        .map(|r| r.source.as_str())
                        .collect();
                    let registered = if here.is_empty() {
                        "-".to_owned()
                    } else {
                        here.join(", ")
                    };
                    writeln!(
                        out,
                        "{:<38} {:<10} {:<8} {:<32} {:<12} {}",
                        d.id, u.extension, d.kind, d.address, sip, registered
                    )?;
                }
            }
        }
        DeviceCommand::Remove { id } => {
            let people = store.run(users::list).await?;
            let mut removed = false;
            for u in people {
                let (uid, id) = (u.user_id(), id.clone());
                if store
                    .transaction(move |c| devices::delete(c, &uid, &id))
                    .await?
                {
                    removed = true;
                    break;
                }
            }
            if !removed {
                bail!("no device {id}");
            }
            writeln!(out, "removed {id}")?;
        }
    }
    Ok(())
}

async fn user(cmd: UserCommand, config: &Config) -> Result<()> {
    let store = app::open_store(config)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        UserCommand::List => {
            let list = store.run(users::list).await?;
            writeln!(
                out,
                "{:<10} {:<24} {:<28} ROLE",
                "EXTENSION", "NAME", "E-MAIL"
            )?;
            for u in list {
                writeln!(
                    out,
                    "{:<10} {:<24} {:<28} {}",
                    u.extension,
                    u.display_name,
                    u.email.as_deref().unwrap_or("-"),
                    u.role
                )?;
            }
        }
        UserCommand::Add {
            extension,
            name,
            email,
            phone,
            password_stdin,
            pin,
            admin,
        } => {
            let password_hash = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let pw = line.trim_end_matches(['\r', '\n']);
                if pw.len() < 8 {
                    bail!("the password must be at least 8 characters");
                }
                Some(password::hash(pw)?)
            } else {
                None
            };
            let pin_hash = match pin {
                Some(p) if p.len() >= 4 && p.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(password::hash(&p)?)
                }
                Some(_) => bail!("the PIN must be at least 4 digits"),
                None => None,
            };
            let form = UserInsertForm {
                extension,
                display_name: name,
                email,
                phone_uri: phone,
                pin_hash,
                password_hash,
                admin,
            };
            let u = store.transaction(move |c| users::create(c, form)).await?;
            writeln!(out, "added {} {}", u.extension, u.display_name)?;
        }
    }
    Ok(())
}
