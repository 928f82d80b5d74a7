//! Joining a cluster: the connection to etcd, this node's leased registration, the
//! cluster-manager campaign, and the watch that keeps the [`ClusterView`] current.
//!
//! The lease is the node's liveness: it is renewed every [`LEASE_TTL_SECS`]`/3` seconds, and
//! when the process stops (or loses etcd for longer than the TTL) etcd deletes the node's keys,
//! its membership and its election candidacy with them. The election is etcd's own
//! (`campaign` blocks until this candidate's key is the oldest under the election prefix), so
//! two nodes can never both be manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse, WatchOptions};
use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::barrier::PROBE_TIMEOUT;
use crate::keys::Keys;
use crate::{ClusterError, ClusterView, NodeInfo, PeerClient};

/// Time to live of a node's lease: a node that stops renewing it leaves the cluster this long
/// after.
pub const LEASE_TTL_SECS: i64 = 5;
/// How long a call to etcd may take before the node treats etcd as unreachable.
const ETCD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node-to-node call may take.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between attempts to get back to etcd after losing it.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Moves a follower's applied revision forward (never back: watch events and full
/// reconciliations can arrive out of order across a resynchronization).
pub(crate) fn mark_applied(applied: &tokio::sync::watch::Sender<i64>, revision: i64) {
    applied.send_if_modified(|a| {
        let newer = revision > *a;
        if newer {
            *a = revision;
        }
        newer
    });
}

/// How this node joins: `quidditch serve --etcd … --cluster-name … --node-name …`.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// etcd client URLs (`http://127.0.0.1:2379`).
    pub endpoints: Vec<String>,
    pub cluster_name: String,
    pub node_name: String,
    /// Stable node id (kept in the data directory by the server).
    pub node_id: String,
    /// URL this node's HTTP API is reached at by the other nodes.
    pub http_url: String,
    /// Shared by every node: node-to-node calls carry it and are refused without it.
    pub secret: Option<String>,
}

impl ClusterConfig {
    fn validate(&self) -> Result<(), ClusterError> {
        let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if self.endpoints.is_empty() || self.endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err(ClusterError::InvalidConfig("--etcd needs at least one endpoint URL".into()));
        }
        if !name_ok(&self.cluster_name) {
            return Err(ClusterError::InvalidConfig(format!(
                "cluster name [{}] must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.cluster_name
            )));
        }
        if !name_ok(&self.node_name) {
            return Err(ClusterError::InvalidConfig(format!(
                "node name [{}] must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.node_name
            )));
        }
        Ok(())
    }
}

/// A joined cluster member. Dropping it does not leave the cluster: call [`Cluster::leave`]
/// (the lease would otherwise expire after [`LEASE_TTL_SECS`]).
pub struct Cluster {
    config: ClusterConfig,
    keys: Keys,
    local: NodeInfo,
    client: Client,
    lease: AtomicI64,
    view: RwLock<ClusterView>,
    peers: PeerClient,
    changes: tokio::sync::watch::Sender<u64>,
    /// The registry revision this node's UDF registry has applied (`udfs.rs`).
    pub(crate) udf_applied: tokio::sync::watch::Sender<i64>,
    /// The metadata revision this node's engine has applied (`indices.rs`).
    pub(crate) indices_applied: tokio::sync::watch::Sender<i64>,
    /// The etcd revision up to which this node has applied the shard allocation records
    /// (`allocation.rs`).
    pub(crate) allocations_applied: tokio::sync::watch::Sender<i64>,
    /// Serializes this node's index metadata changes (`indices.rs`).
    pub(crate) index_lock: tokio::sync::Mutex<()>,
    /// Shard allocation records as last seen, with their modification revision (`allocation.rs`).
    pub(crate) allocations: RwLock<std::collections::BTreeMap<String, (crate::IndexAllocation, i64)>>,
    /// This node's key in the manager election while it is the elected manager.
    pub(crate) election_key: RwLock<Option<Vec<u8>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("cluster", &self.config.cluster_name)
            .field("node", &self.local.name)
            .field("etcd", &self.config.endpoints)
            .finish()
    }
}

impl Cluster {
    /// Connects to etcd, registers this node and starts the background work (lease renewal,
    /// manager campaign, state watch). Fails fast, naming the endpoints, when etcd does not
    /// answer.
    pub async fn join(config: ClusterConfig) -> Result<Arc<Cluster>, ClusterError> {
        config.validate()?;
        let endpoints = config.endpoints.join(",");
        let unreachable = |reason: String| ClusterError::EtcdUnreachable { endpoints: endpoints.clone(), reason };
        let options = ConnectOptions::new().with_connect_timeout(ETCD_TIMEOUT).with_timeout(ETCD_TIMEOUT);
        let mut client = tokio::time::timeout(ETCD_TIMEOUT, Client::connect(&config.endpoints, Some(options)))
            .await
            .map_err(|_| unreachable("timed out connecting".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        // The connection is lazy: a first request tells whether etcd is really there.
        tokio::time::timeout(ETCD_TIMEOUT, client.status())
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| unreachable(e.to_string()))?;

        let started_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let local = NodeInfo {
            name: config.node_name.clone(),
            id: config.node_id.clone(),
            http_url: config.http_url.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            roles: vec!["cluster_manager".into(), "data".into(), "ingest".into()],
            started_at_ms,
        };
        let (changes, _) = tokio::sync::watch::channel(0);
        let peers = PeerClient::new(PEER_TIMEOUT, &config.node_name, config.secret.clone());
        let cluster = Arc::new(Cluster {
            keys: Keys::new(&config.cluster_name),
            config,
            local,
            client,
            lease: AtomicI64::new(0),
            view: RwLock::new(ClusterView::default()),
            peers,
            changes,
            udf_applied: tokio::sync::watch::channel(0).0,
            indices_applied: tokio::sync::watch::channel(0).0,
            allocations_applied: tokio::sync::watch::channel(0).0,
            index_lock: tokio::sync::Mutex::new(()),
            allocations: RwLock::new(Default::default()),
            election_key: RwLock::new(None),
            tasks: Mutex::new(Vec::new()),
        });
        // A node that just died may still hold its name for up to one TTL: wait that out.
        let deadline = Instant::now() + Duration::from_secs(LEASE_TTL_SECS as u64 + 2);
        let lease = loop {
            match cluster.register().await {
                Ok(lease) => break lease,
                Err(ClusterError::NodeNameTaken { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                Err(e) => return Err(e),
            }
        };
        cluster.refresh_membership().await?;
        info!(
            cluster = %cluster.config.cluster_name,
            node = %cluster.local.name,
            etcd = %endpoints,
            "joined the cluster"
        );
        let session = tokio::spawn(cluster.clone().keep_session(lease));
        let watch = tokio::spawn(cluster.clone().follow_state());
        cluster.tasks.lock().extend([session, watch]);
        Ok(cluster)
    }

    /// This node's registration.
    pub fn local(&self) -> &NodeInfo {
        &self.local
    }

    pub fn cluster_name(&self) -> &str {
        &self.config.cluster_name
    }

    /// The etcd endpoints, as given.
    pub fn endpoints(&self) -> &[String] {
        &self.config.endpoints
    }

    /// The client for calls to the other nodes.
    pub fn peers(&self) -> &PeerClient {
        &self.peers
    }

    /// The membership as last seen.
    pub fn view(&self) -> ClusterView {
        self.view.read().clone()
    }

    /// Whether this node is the elected cluster manager.
    pub fn is_manager(&self) -> bool {
        self.view.read().is_manager(&self.local.name)
    }

    /// A receiver that changes whenever the view does (to wait for nodes or a manager).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Leaves the cluster at once: revokes the lease (removing this node's registration and
    /// candidacy) and stops the background work.
    pub async fn leave(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
        let lease = self.lease.load(Ordering::SeqCst);
        if lease != 0 {
            let mut client = self.client.clone();
            match tokio::time::timeout(ETCD_TIMEOUT, client.lease_revoke(lease)).await {
                Ok(Ok(_)) => info!(node = %self.local.name, "left the cluster"),
                Ok(Err(e)) => warn!(error = %e, "could not revoke the node's lease; it expires on its own"),
                Err(_) => warn!("etcd did not answer the lease revocation; the lease expires on its own"),
            }
        }
    }

    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Background work stopped by [`Cluster::leave`].
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        self.tasks.lock().push(task);
    }

    /// Whether etcd answers now: at once while this node's session is live, else after one
    /// quick probe (etcd may be back before the lease renewal notices). Document writes check
    /// it first: without etcd a node cannot know that it still holds a shard.
    pub async fn ensure_etcd(&self) -> Result<(), ClusterError> {
        if self.view().etcd_reachable {
            return Ok(());
        }
        let mut client = self.client();
        let probe = client.get(self.keys.root(), Some(GetOptions::new().with_keys_only().with_limit(1)));
        let reason = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer in {} ms", PROBE_TIMEOUT.as_millis()),
        };
        Err(ClusterError::EtcdUnreachable { endpoints: self.config.endpoints.join(","), reason })
    }

    /// Runs `follow` (a full reconciliation, then watched changes until the watch fails) for
    /// as long as the process lives, starting it again half a second after each interruption.
    pub(crate) fn keep_following<F, Fut>(self: &Arc<Self>, what: &'static str, follow: F)
    where
        F: Fn(Arc<Cluster>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), ClusterError>> + Send,
    {
        let cluster = self.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = follow(cluster.clone()).await {
                    warn!(error = %e, "{what} replication interrupted; resynchronizing");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        self.track(task);
    }

    /// One etcd call, bounded by the etcd timeout; a failure marks etcd unreachable until the
    /// lease renewal succeeds again.
    pub(crate) async fn etcd_call<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, ClusterError> {
        match tokio::time::timeout(ETCD_TIMEOUT, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if matches!(e, etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_)) {
                    self.set_reachable(false);
                }
                Err(ClusterError::etcd(operation, e))
            }
            Err(_) => {
                self.set_reachable(false);
                Err(ClusterError::Etcd { operation, reason: "etcd did not answer in time".into() })
            }
        }
    }

    /// Grants a fresh lease and puts this node's key under it, unless another live node holds
    /// the name.
    async fn register(&self) -> Result<i64, ClusterError> {
        let mut client = self.client.clone();
        let lease = client
            .lease_grant(LEASE_TTL_SECS, None)
            .await
            .map_err(|e| ClusterError::etcd("lease grant", e))?
            .id();
        let key = self.keys.node(&self.local.name);
        let value = serde_json::to_vec(&self.local).expect("NodeInfo serializes");
        let put = TxnOp::put(key.clone(), value, Some(PutOptions::new().with_lease(lease)));
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([put])
            .or_else([TxnOp::get(key, None)]);
        let resp = client.txn(txn).await.map_err(|e| ClusterError::etcd("register node", e))?;
        if !resp.succeeded() {
            let _ = client.lease_revoke(lease).await;
            return Err(ClusterError::NodeNameTaken {
                node: self.local.name.clone(),
                cluster: self.config.cluster_name.clone(),
            });
        }
        self.lease.store(lease, Ordering::SeqCst);
        Ok(lease)
    }

    /// Renews the lease and campaigns for manager for as long as the process lives; after
    /// losing etcd, resumes with the same lease if it is still alive, else registers anew.
    async fn keep_session(self: Arc<Self>, mut lease: i64) {
        loop {
            if let Err(e) = self.hold_lease(lease).await {
                warn!(error = %e, "lost the etcd session");
            }
            *self.election_key.write() = None;
            self.set_reachable(false);
            loop {
                tokio::time::sleep(RETRY_PAUSE).await;
                let mut client = self.client.clone();
                match tokio::time::timeout(ETCD_TIMEOUT, client.lease_time_to_live(lease, None)).await {
                    Ok(Ok(ttl)) if ttl.ttl() > 0 => break,
                    Ok(Ok(_)) => match self.register().await {
                        Ok(new_lease) => {
                            info!(node = %self.local.name, "registered again after the lease expired");
                            lease = new_lease;
                            break;
                        }
                        Err(e) => warn!(error = %e, "cannot register again yet"),
                    },
                    _ => {}
                }
            }
        }
    }

    /// Keeps `lease` alive and campaigns with it; returns when the lease or etcd is lost.
    async fn hold_lease(&self, lease: i64) -> Result<(), ClusterError> {
        let mut client = self.client.clone();
        let (mut keeper, mut responses) = tokio::time::timeout(ETCD_TIMEOUT, client.lease_keep_alive(lease))
            .await
            .map_err(|_| ClusterError::Etcd { operation: "lease keep-alive", reason: "timed out".into() })?
            .map_err(|e| ClusterError::etcd("lease keep-alive", e))?;
        let mut campaign_client = self.client.clone();
        let campaign = campaign_client.campaign(self.keys.manager_election(), self.local.name.clone(), lease);
        tokio::pin!(campaign);
        let mut elected = false;
        let mut renew = tokio::time::interval(Duration::from_millis(LEASE_TTL_SECS as u64 * 1000 / 3));
        loop {
            tokio::select! {
                result = &mut campaign, if !elected => {
                    let won = result.map_err(|e| ClusterError::etcd("manager campaign", e))?;
                    *self.election_key.write() = won.leader().map(|l| l.key().to_vec());
                    elected = true;
                    info!(node = %self.local.name, "elected cluster manager");
                }
                _ = renew.tick() => {
                    let renewed = tokio::time::timeout(ETCD_TIMEOUT, async {
                        keeper.keep_alive().await?;
                        responses.message().await
                    })
                    .await;
                    match renewed {
                        Ok(Ok(Some(r))) if r.ttl() > 0 => self.set_reachable(true),
                        Ok(Ok(_)) => return Err(ClusterError::Etcd { operation: "lease keep-alive", reason: "the lease expired".into() }),
                        Ok(Err(e)) => return Err(ClusterError::etcd("lease keep-alive", e)),
                        Err(_) => return Err(ClusterError::Etcd { operation: "lease keep-alive", reason: "timed out".into() }),
                    }
                }
            }
        }
    }

    /// Follows the cluster's keys for as long as the process lives, re-reading the membership
    /// when nodes or the election change.
    async fn follow_state(self: Arc<Self>) {
        loop {
            if let Err(e) = self.follow_once().await {
                warn!(error = %e, "cluster state watch interrupted");
                self.set_reachable(false);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn follow_once(&self) -> Result<(), ClusterError> {
        let revision = self.refresh_membership().await?;
        let mut client = self.client.clone();
        let options = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut stream = client.watch(self.keys.root(), Some(options)).await.map_err(|e| ClusterError::etcd("watch", e))?;
        let nodes = self.keys.nodes();
        let election = self.keys.manager_election();
        while let Some(resp) = stream.message().await.map_err(|e| ClusterError::etcd("watch", e))? {
            if resp.canceled() {
                return Err(ClusterError::Etcd { operation: "watch", reason: "canceled by etcd".into() });
            }
            let membership_changed = resp.events().iter().filter_map(|e| e.kv()).any(|kv| {
                let key = String::from_utf8_lossy(kv.key());
                key.starts_with(&nodes) || key.starts_with(&election)
            });
            if membership_changed {
                self.refresh_membership().await?;
            }
        }
        Err(ClusterError::Etcd { operation: "watch", reason: "the stream ended".into() })
    }

    /// Reads the nodes and the current manager; returns the etcd revision read at.
    async fn refresh_membership(&self) -> Result<i64, ClusterError> {
        let mut client = self.client.clone();
        let nodes_prefix = self.keys.nodes();
        let resp = tokio::time::timeout(ETCD_TIMEOUT, client.txn(Txn::new().and_then([
            TxnOp::get(nodes_prefix.clone(), Some(GetOptions::new().with_prefix())),
            // The election's leader is the candidate whose key is oldest.
            TxnOp::get(
                format!("{}/", self.keys.manager_election()),
                Some(GetOptions::new().with_prefix().with_sort(SortTarget::Create, SortOrder::Ascend).with_limit(1)),
            ),
        ])))
        .await
        .map_err(|_| ClusterError::Etcd { operation: "read membership", reason: "timed out".into() })?
        .map_err(|e| ClusterError::etcd("read membership", e))?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut responses = resp.op_responses().into_iter();
        let (Some(TxnOpResponse::Get(nodes)), Some(TxnOpResponse::Get(leader))) = (responses.next(), responses.next()) else {
            return Err(ClusterError::Etcd { operation: "read membership", reason: "unexpected transaction response".into() });
        };
        let mut view = ClusterView { revision, etcd_reachable: true, ..Default::default() };
        for kv in nodes.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let node: NodeInfo = serde_json::from_slice(kv.value())
                .map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
            view.nodes.insert(node.name.clone(), node);
        }
        view.manager = leader.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
        *self.view.write() = view;
        self.changes.send_modify(|n| *n += 1);
        Ok(revision)
    }

    /// Wakes whoever waits on [`Cluster::subscribe`].
    pub(crate) fn notify_change(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    fn set_reachable(&self, reachable: bool) {
        let changed = {
            let mut view = self.view.write();
            let changed = view.etcd_reachable != reachable;
            view.etcd_reachable = reachable;
            changed
        };
        if changed {
            self.changes.send_modify(|n| *n += 1);
        }
    }
}
