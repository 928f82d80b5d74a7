//! The UDF registry replicated through etcd.
//!
//! A registration is committed to etcd before the API answers 201: first the binary, as
//! content-addressed chunks (`udfs/blobs/<sha256>/<n>`, each under etcd's 1.5 MiB request
//! limit), then, in one transaction that fails if the version already exists, the version's
//! record (`udfs/versions/<name>/<version>`) and a bump of `udfs/revision`. Every node follows
//! `udfs/` with a watch: it fetches the chunks, verifies the SHA-256, and registers the version
//! in its own registry (compiling locally: compiled artifacts never leave a node). A deletion
//! removes the record (and the chunks once no version uses them) and every node deletes the
//! version locally.
//!
//! `udfs/revision`'s modification revision is the registry's revision. A node answering a
//! search first reads it and waits (bounded) until it has applied that revision
//! ([`Cluster::wait_for_udfs`]), so a UDF registered through any node is used, in the same
//! version, through every node right after the 201.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, EventType, GetOptions, Txn, TxnOp, TxnOpResponse, WatchOptions};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tracing::{info, warn};

use crate::barrier::Needs;
use crate::membership::mark_applied;
use crate::{Cluster, ClusterError};

/// Largest chunk of a binary in one etcd request (etcd refuses requests over 1.5 MiB).
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// One UDF version as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicatedUdf {
    pub name: String,
    pub version: String,
    /// The registration's metadata (the registry's `UdfMetadata`, as JSON).
    pub metadata: serde_json::Value,
    /// The upload's signature, checked again by every node.
    pub signature: Option<String>,
    /// Who registered it (the audit log's actor).
    pub actor: String,
    /// The node that took the registration.
    pub node: String,
    /// Hex SHA-256 of the binary.
    pub sha256: String,
    pub size: u64,
    pub chunks: u32,
}

/// What a node's own registry offers the replication (the server implements it on the UDF
/// registry). Called on blocking threads.
pub trait LocalUdfs: Send + Sync + 'static {
    /// `(name, version, sha256)` of every version this node has.
    fn installed(&self) -> Vec<(String, String, String)>;
    /// Registers a version committed in etcd (its binary verified).
    fn install(&self, udf: &ReplicatedUdf, binary: Vec<u8>) -> Result<(), String>;
    /// Deletes a version no longer in etcd.
    fn remove(&self, name: &str, version: &str, actor: &str) -> Result<(), String>;
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

impl Cluster {
    /// Commits a registration: the chunks, then the record. Fails with
    /// [`ClusterError::UdfExists`] when the version is already in the cluster. Returns the
    /// registry revision of the commit.
    pub async fn publish_udf(&self, udf: &ReplicatedUdf, binary: &[u8]) -> Result<i64, ClusterError> {
        let mut client = self.client();
        let keys = self.keys();
        for (n, chunk) in binary.chunks(CHUNK_BYTES).enumerate() {
            let key = keys.udf_chunk(&udf.sha256, n as u32);
            // Content-addressed: an existing chunk is the same bytes.
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key, chunk.to_vec(), None)]);
            self.etcd_call("store UDF binary", client.txn(txn)).await?;
        }
        let record = keys.udf_version(&udf.name, &udf.version);
        let txn = Txn::new()
            .when([Compare::create_revision(record.clone(), CompareOp::Equal, 0)])
            .and_then([
                TxnOp::put(record, serde_json::to_vec(udf).expect("ReplicatedUdf serializes"), None),
                TxnOp::put(keys.udf_revision(), udf.sha256.clone(), None),
            ]);
        let resp = self.etcd_call("commit UDF registration", client.txn(txn)).await?;
        if !resp.succeeded() {
            return Err(ClusterError::UdfExists { name: udf.name.clone(), version: udf.version.clone() });
        }
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Removes a version from the cluster (`false` when it was not there). Returns the
    /// registry revision of the deletion.
    pub async fn unpublish_udf(&self, name: &str, version: &str) -> Result<Option<i64>, ClusterError> {
        let mut client = self.client();
        let keys = self.keys();
        let record = keys.udf_version(name, version);
        let txn = Txn::new()
            .when([Compare::create_revision(record.clone(), CompareOp::Greater, 0)])
            .and_then([
                TxnOp::get(record.clone(), None),
                TxnOp::delete(record, None),
                TxnOp::put(keys.udf_revision(), format!("deleted {name} {version}"), None),
            ]);
        let resp = self.etcd_call("commit UDF deletion", client.txn(txn)).await?;
        if !resp.succeeded() {
            return Ok(None);
        }
        let revision = resp.header().map_or(0, |h| h.revision());
        // The chunks go when no other version uses the same binary (best effort: a leftover
        // chunk is only unused space, reused if the same binary comes back).
        let deleted: Option<ReplicatedUdf> = match resp.op_responses().into_iter().next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().and_then(|kv| serde_json::from_slice(kv.value()).ok()),
            _ => None,
        };
        if let Some(deleted) = deleted {
            match self.list_udfs().await {
                Ok((all, _)) if !all.iter().any(|u| u.sha256 == deleted.sha256) => {
                    let _ = client.delete(keys.udf_chunks(&deleted.sha256), Some(etcd_client::DeleteOptions::new().with_prefix())).await;
                }
                _ => {}
            }
        }
        Ok(Some(revision))
    }

    /// A version's record, if the cluster has it.
    pub async fn udf_record(&self, name: &str, version: &str) -> Result<Option<ReplicatedUdf>, ClusterError> {
        let mut client = self.client();
        let key = self.keys().udf_version(name, version);
        let resp = self.etcd_call("read UDF record", client.get(key.clone(), None)).await?;
        resp.kvs()
            .first()
            .map(|kv| serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key, reason: e.to_string() }))
            .transpose()
    }

    /// Every version in the cluster, and the etcd revision read at.
    pub async fn list_udfs(&self) -> Result<(Vec<ReplicatedUdf>, i64), ClusterError> {
        let mut client = self.client();
        let prefix = self.keys().udf_versions();
        let resp = self.etcd_call("list UDFs", client.get(prefix, Some(GetOptions::new().with_prefix()))).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut out = Vec::new();
        for kv in resp.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            out.push(serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key, reason: e.to_string() })?);
        }
        Ok((out, revision))
    }

    /// The binary of a version, verified against its SHA-256.
    pub async fn fetch_udf_binary(&self, udf: &ReplicatedUdf) -> Result<Vec<u8>, ClusterError> {
        let mut client = self.client();
        let prefix = self.keys().udf_chunks(&udf.sha256);
        let resp = self.etcd_call("read UDF binary", client.get(prefix.clone(), Some(GetOptions::new().with_prefix()))).await?;
        // Chunk keys are zero-padded, so etcd's key order is the chunk order.
        let mut binary = Vec::with_capacity(udf.size as usize);
        for kv in resp.kvs() {
            binary.extend_from_slice(kv.value());
        }
        let got = sha256_hex(&binary);
        if resp.kvs().len() as u32 != udf.chunks || got != udf.sha256 {
            return Err(ClusterError::MalformedState {
                key: prefix,
                reason: format!(
                    "the stored binary of UDF [{}] version [{}] does not match its SHA-256 (expected {}, got {got} from {} chunks)",
                    udf.name,
                    udf.version,
                    udf.sha256,
                    resp.kvs().len()
                ),
            });
        }
        Ok(binary)
    }

    /// Waits until this node has applied every registry change committed so far, at most
    /// `timeout`. While etcd is unreachable the node answers from what it has (searches keep
    /// working); only a node that is reachable but behind fails.
    pub async fn wait_for_udfs(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.wait_for_committed(Needs { udfs: true, indices: false }, timeout).await
    }

    /// Keeps `local` equal to the cluster's registry for as long as the process lives: a
    /// full reconciliation first (and after any interruption of the watch), then every change
    /// as it is committed.
    pub fn replicate_udfs(self: &Arc<Self>, local: Arc<dyn LocalUdfs>) {
        self.keep_following("UDF registry", move |cluster| {
            let local = local.clone();
            async move { cluster.follow_udfs(&local).await }
        });
    }

    /// Reconciles once, then applies watched changes until the watch fails.
    async fn follow_udfs(&self, local: &Arc<dyn LocalUdfs>) -> Result<(), ClusterError> {
        let (all, revision) = self.list_udfs().await?;
        let installed = blocking(local, |l| l.installed()).await;
        for udf in &all {
            let same = installed.iter().any(|(n, v, sha)| *n == udf.name && *v == udf.version && *sha == udf.sha256);
            if !same {
                self.apply_put(local, udf).await?;
            }
        }
        for (name, version, _) in &installed {
            if !all.iter().any(|u| u.name == *name && u.version == *version) {
                self.apply_delete(local, name, version, "cluster").await;
            }
        }
        mark_applied(&self.udf_applied, revision);
        let mut client = self.client();
        let options = WatchOptions::new().with_prefix().with_prev_key().with_start_revision(revision + 1);
        let mut stream = client.watch(self.keys().udfs(), Some(options)).await.map_err(|e| ClusterError::etcd("watch UDFs", e))?;
        let versions = self.keys().udf_versions();
        while let Some(resp) = stream.message().await.map_err(|e| ClusterError::etcd("watch UDFs", e))? {
            if resp.canceled() {
                return Err(ClusterError::Etcd { operation: "watch UDFs", reason: "canceled by etcd".into() });
            }
            let mut last = 0;
            for event in resp.events() {
                let Some(kv) = event.kv() else { continue };
                last = last.max(kv.mod_revision());
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let Some(rest) = key.strip_prefix(&versions) else { continue };
                match event.event_type() {
                    EventType::Put => {
                        let udf: ReplicatedUdf = serde_json::from_slice(kv.value())
                            .map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
                        let installed = blocking(local, |l| l.installed()).await;
                        if !installed.iter().any(|(n, v, sha)| *n == udf.name && *v == udf.version && *sha == udf.sha256) {
                            self.apply_put(local, &udf).await?;
                        }
                    }
                    EventType::Delete => {
                        if let Some((name, version)) = rest.split_once('/') {
                            let actor = event
                                .prev_kv()
                                .and_then(|p| serde_json::from_slice::<ReplicatedUdf>(p.value()).ok())
                                .map_or_else(|| "cluster".to_string(), |u| u.actor);
                            self.apply_delete(local, name, version, &actor).await;
                        }
                    }
                }
            }
            if last > 0 {
                mark_applied(&self.udf_applied, last);
            }
        }
        Err(ClusterError::Etcd { operation: "watch UDFs", reason: "the stream ended".into() })
    }

    async fn apply_put(&self, local: &Arc<dyn LocalUdfs>, udf: &ReplicatedUdf) -> Result<(), ClusterError> {
        let binary = self.fetch_udf_binary(udf).await?;
        let installed = blocking(local, |l| l.installed()).await;
        // A different binary under the same version here lost a race with the committed one.
        if installed.iter().any(|(n, v, _)| *n == udf.name && *v == udf.version) {
            let (name, version) = (udf.name.clone(), udf.version.clone());
            let _ = blocking(local, move |l| l.remove(&name, &version, "cluster")).await;
        }
        let udf_copy = udf.clone();
        match blocking(local, move |l| l.install(&udf_copy, binary)).await {
            Ok(()) => info!(udf = %udf.name, version = %udf.version, from = %udf.node, "installed a replicated UDF version"),
            // A version this node cannot load (e.g. no Python toolchain) stays unavailable
            // here; the other nodes are unaffected.
            Err(e) => warn!(udf = %udf.name, version = %udf.version, error = %e, "cannot install a replicated UDF version"),
        }
        Ok(())
    }

    async fn apply_delete(&self, local: &Arc<dyn LocalUdfs>, name: &str, version: &str, actor: &str) {
        let (n, v, a) = (name.to_string(), version.to_string(), actor.to_string());
        let installed = blocking(local, |l| l.installed()).await;
        if !installed.iter().any(|(i_n, i_v, _)| *i_n == n && *i_v == v) {
            return;
        }
        match blocking(local, move |l| l.remove(&n, &v, &a)).await {
            Ok(()) => info!(udf = name, version, "deleted a UDF version removed from the cluster"),
            Err(e) => warn!(udf = name, version, error = %e, "cannot delete a UDF version removed from the cluster"),
        }
    }

}

async fn blocking<T: Send + 'static>(local: &Arc<dyn LocalUdfs>, f: impl FnOnce(&dyn LocalUdfs) -> T + Send + 'static) -> T {
    let local = local.clone();
    tokio::task::spawn_blocking(move || f(local.as_ref())).await.expect("UDF registry task panicked")
}
