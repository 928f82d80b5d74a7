//! `quidditch`: the search server (`serve`), the UDF client (`udf …`) and `keygen`.

mod cli;
mod cluster_settings;
mod config;
mod http;
mod node;
mod security;
mod tls;
mod tasks;
mod index_replication;
mod udf_replication;
mod shard_copies;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing::info;

use crate::config::ServerConfig;

#[derive(Debug, Parser)]
#[command(name = "quidditch", version, about = "A search engine with sandboxed WebAssembly UDFs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: an embedded single node, or with `--etcd` a member of a cluster.
    Serve(ServeArgs),
    /// Build, upload, test and inspect UDFs on a running server.
    Udf {
        /// Server URL.
        #[arg(long, global = true, env = "QUIDDITCH_URL", default_value = "http://127.0.0.1:9200")]
        server: String,
        /// Machine-readable output.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: cli::UdfCommand,
    },
    /// Generate an Ed25519 key pair for signing UDFs.
    Keygen(cli::KeygenArgs),
    /// Write a self-signed CA, a node certificate and a client certificate for TLS (local use).
    Certs {
        /// Directory for ca.pem, node.pem, node-key.pem, client.pem, client-key.pem.
        #[arg(long, default_value = "./certs")]
        out: PathBuf,
        /// Host names and IP addresses the node certificate is valid for.
        #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        hosts: Vec<String>,
    },
    /// Print the bcrypt hash of a password (read from stdin) for the security file's `hash`.
    Passwd,
    /// Offline maintenance of an index's write-ahead log.
    Wal {
        #[command(subcommand)]
        command: WalCommand,
    },
}

#[derive(Debug, Subcommand)]
enum WalCommand {
    /// Make an index whose write-ahead log is corrupted (health `red`) open again, keeping
    /// every intact record; the damaged bytes are skipped and the original segments kept
    /// aside under `wal/salvaged-*`. Restart the server afterwards.
    Salvage {
        /// The index name.
        #[arg(long)]
        index: String,
        /// JSON config file (for its `data_dir`).
        #[arg(long, env = "QUIDDITCH_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (overrides the config file's).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// JSON config file; flags below override it.
    #[arg(long, env = "QUIDDITCH_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:9200.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log filter (`info`, `debug`, `quidditch_udf=debug`, …).
    #[arg(long)]
    log_level: Option<String>,
    /// componentize-py for Python UDFs (overrides config key `udf.python.componentize_py`).
    #[arg(long, env = quidditch_python::TOOL_ENV)]
    componentize_py: Option<PathBuf>,
    /// Where the shared Python runtime is kept (overrides `udf.python.runtime_dir`); servers
    /// sharing it build the runtime once.
    #[arg(long, env = "QUIDDITCH_PYTHON_RUNTIME_DIR")]
    python_runtime_dir: Option<PathBuf>,
    /// Cluster mode: join the cluster whose state is in this etcd (comma-separated client
    /// URLs, e.g. http://127.0.0.1:2379). Without it the node is an embedded single node.
    #[arg(long, value_delimiter = ',', requires_all = ["cluster_name", "node_name"])]
    etcd: Vec<String>,
    /// Cluster mode: the cluster's name (nodes with the same etcd and name form one cluster).
    #[arg(long, requires = "etcd")]
    cluster_name: Option<String>,
    /// Cluster mode: this node's name, unique in the cluster.
    #[arg(long, requires = "etcd")]
    node_name: Option<String>,
    /// Cluster mode: the URL the other nodes reach this node at (default: http://<listen address>).
    #[arg(long, requires = "etcd")]
    advertise: Option<String>,
    /// TLS: the node's certificate chain (PEM); with --tls-key (config `tls.cert`).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS: the node's private key (PEM) (config `tls.key`).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// TLS: require client certificates signed by this CA (PEM) (config `tls.client_ca`).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Security on, with the users, roles and role mappings of this file (config
    /// `security.file`; see docs/security.md).
    #[arg(long)]
    security_file: Option<PathBuf>,
    /// Security on (users from `--security-file` and/or the admin password in
    /// $QUIDDITCH_ADMIN_PASSWORD).
    #[arg(long)]
    security: bool,
    /// Cluster mode: a secret shared by every node; node-to-node calls carry it and a node
    /// refuses node-to-node calls without it.
    #[arg(long, env = "QUIDDITCH_CLUSTER_SECRET", requires = "etcd", hide_env_values = true)]
    cluster_secret: Option<String>,
}

/// What `--etcd …` asks for.
struct JoinArgs {
    etcd: Vec<String>,
    cluster_name: String,
    node_name: String,
    advertise: Option<String>,
    secret: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).map(|_| 0),
        Command::Udf { server, json, command } => cli::run_udf(&server, json, command),
        Command::Keygen(args) => cli::run_keygen(args),
        Command::Certs { out, hosts } => write_certs(&out, &hosts),
        Command::Passwd => print_password_hash(),
        Command::Wal { command: WalCommand::Salvage { index, config, data_dir } } => salvage_wal(&index, config, data_dir),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let join = (!args.etcd.is_empty()).then(|| JoinArgs {
        etcd: args.etcd.clone(),
        cluster_name: args.cluster_name.clone().unwrap_or_default(),
        node_name: args.node_name.clone().unwrap_or_default(),
        advertise: args.advertise.clone(),
        secret: args.cluster_secret.clone(),
    });
    let mut config = ServerConfig::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(level) = args.log_level {
        config.log_level = level;
    }
    if let Some(tool) = args.componentize_py.filter(|t| !t.as_os_str().is_empty()) {
        config.udf.python.componentize_py = Some(tool);
    }
    if let Some(dir) = args.python_runtime_dir.filter(|d| !d.as_os_str().is_empty()) {
        config.udf.python.runtime_dir = Some(dir);
    }
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(tls::TlsConfig { cert, key, client_ca: args.tls_client_ca });
    }
    if let Some(file) = args.security_file {
        config.security.file = Some(file);
        config.security.enabled = true;
    }
    if args.security {
        config.security.enabled = true;
    }
    if config.security.enabled && join.as_ref().is_some_and(|j| j.secret.is_none()) {
        // Nodes call each other without a user's credentials (forwarded writes, shard phases):
        // with security on, only the cluster secret can tell a node from anyone else.
        anyhow::bail!("security in cluster mode needs --cluster-secret (the same on every node)");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    std::fs::create_dir_all(&config.data_dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let udfs = quidditch_udf::UdfRegistry::open(&config.data_dir.join("udfs"), config.udf.clone())?;
        // Python uploads are checked against the registry's shared runtime, built with this
        // toolchain on first need.
        let python = quidditch_python::PythonCompiler::discover(config.udf.python.componentize_py.as_deref())
            .attach(udfs.python_runtime());
        info!(tool = %python.tool().display(), found_by = python.tool_source().as_str(), "Python UDF toolchain");
        quidditch_python::PythonCompiler::install_global(python);
        let engine = quidditch_engine::Engine::open(
            &config.data_dir.join("indices"),
            config.engine.clone(),
            udfs.clone(),
        )?;
        let security = if config.security.enabled {
            Some(Arc::new(security::Security::open(&config.security, &config.data_dir)?))
        } else {
            None
        };
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let bound = listener.local_addr()?;
        config.listen = bound;
        let mut node = match join {
            None => node::LocalNode::single(bound),
            Some(join) => join_cluster(join, &config, bound).await?,
        };
        if let Some(cluster) = &node.cluster {
            // The registry is the cluster's: catch up before answering anything.
            cluster.replicate_udfs(Arc::new(udf_replication::RegistryReplica { udfs: udfs.clone() }));
            cluster.wait_for_udfs(std::time::Duration::from_secs(120)).await?;
            // Likewise the index metadata (indices created or deleted meanwhile) and where
            // each index's shards are (the elected manager also decides it).
            cluster.replicate_indices(Arc::new(index_replication::EngineReplica { engine: engine.clone() }));
            engine.set_mapping_growth(Arc::new(index_replication::ClusterMappings {
                cluster: cluster.clone(),
                runtime: tokio::runtime::Handle::current(),
            }));
            cluster.allocate_shards();
            cluster.wait_for_indices(std::time::Duration::from_secs(120)).await?;
            // Writes reach the shards' replicas before they are acknowledged; local copies
            // follow the allocation (replica or primary, term, recovery).
            let copies = shard_copies::ShardCopies::new(cluster.clone(), tokio::runtime::Handle::current());
            engine.set_write_replication(copies.clone());
            copies.follow(engine.clone());
            node.shard_copies = Some(copies);
        }
        let node = Arc::new(node);
        let config = Arc::new(config);
        if !bound.ip().is_loopback() && tls.is_none() && security.is_none() {
            tracing::warn!(
                "listening on {bound}, reachable from other machines, WITHOUT TLS AND WITHOUT SECURITY: anyone who \
                 can reach the port can read, write and delete every index (see docs/security.md)"
            );
        }
        // Cluster mode keeps cluster settings in etcd: the cluster module is to supply an
        // etcd-backed `PersistentSettingsStore` here (and call `replace_persistent` on changes);
        // until it does, each node keeps them in its data dir.
        let settings_store = cluster_settings::FileSettingsStore::in_data_dir(&config.data_dir);
        let cluster_settings = Arc::new(cluster_settings::ClusterSettings::open(Box::new(settings_store), engine.clone())?);
        let tasks = tasks::TaskManager::new(node.id.clone());
        let state = http::AppState {
            engine: engine.clone(),
            udfs,
            config: config.clone(),
            node: node.clone(),
            cluster_settings,
            tasks,
            security,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Tests and scripts wait for this exact line to learn the bound port.
        info!("quidditch listening on {scheme}://{bound}");
        eprintln!("quidditch listening on {scheme}://{bound}");
        let app = http::router(state).into_make_service_with_connect_info::<tls::PeerAddr>();
        match tls {
            Some(tls) => {
                axum::serve(tls::TlsListener::new(listener, tls)?, app)
                    .with_graceful_shutdown(shutdown_signal())
                    .await?
            }
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?,
        }
        // Leave first: the other nodes stop counting on this one at once, not a lease TTL later.
        if let Some(cluster) = &node.cluster {
            cluster.leave().await;
        }
        engine.shutdown()?;
        anyhow::Ok(())
    })
}

/// Cluster mode: registers this node in etcd (exits with the endpoint named when etcd does
/// not answer).
async fn join_cluster(join: JoinArgs, config: &ServerConfig, bound: std::net::SocketAddr) -> anyhow::Result<node::LocalNode> {
    let http_url = join.advertise.unwrap_or_else(|| format!("http://{bound}"));
    let id = node::persistent_node_id(&config.data_dir)?;
    let cluster = quidditch_cluster::Cluster::join(quidditch_cluster::ClusterConfig {
        endpoints: join.etcd,
        cluster_name: join.cluster_name.clone(),
        node_name: join.node_name.clone(),
        node_id: id.clone(),
        http_url: http_url.clone(),
        secret: join.secret,
    })
    .await?;
    Ok(node::LocalNode {
        name: join.node_name,
        id,
        cluster_name: join.cluster_name,
        http_address: bound,
        http_url,
        started_at_ms: cluster.local().started_at_ms,
        cluster: Some(cluster),
        shard_copies: None,
    })
}

fn write_certs(out: &std::path::Path, hosts: &[String]) -> anyhow::Result<i32> {
    let certs = tls::generate_certs(out, hosts)?;
    println!("CA certificate:     {}", certs.ca.display());
    println!("node certificate:   {} (key {}) for {}", certs.node_cert.display(), certs.node_key.display(), hosts.join(", "));
    println!("client certificate: {} (key {})", certs.client_cert.display(), certs.client_key.display());
    println!("serve with: quidditch serve --tls-cert {} --tls-key {}", certs.node_cert.display(), certs.node_key.display());
    Ok(0)
}

fn print_password_hash() -> anyhow::Result<i32> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        anyhow::bail!("no password on stdin (e.g. `echo -n 'secret' | quidditch passwd`)");
    }
    println!("{}", security::users::hash_password(password)?);
    Ok(0)
}

fn salvage_wal(index: &str, config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<i32> {
    let mut config = ServerConfig::load(config.as_deref())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    let reports = quidditch_engine::Engine::salvage_wal(&config.data_dir.join("indices"), index)?;
    let kept: usize = reports.iter().map(|(_, r)| r.records).sum();
    println!("index [{index}]: kept {kept} intact records");
    for (wal, report) in &reports {
        println!("  {}: {} records from {} segments", wal.display(), report.records, report.segments);
        for (segment, offset, len) in &report.damaged {
            println!("    skipped {len} damaged bytes at offset {offset} of {segment}");
        }
        if let Some(dir) = &report.moved_to {
            println!("    original segments kept in {}", dir.display());
        }
    }
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
