//! Cluster mode: this node's UDF registry as a replica of the cluster's (see
//! `quidditch_cluster::udfs`). The upload and delete endpoints commit to etcd before
//! answering; every node (the one that took the call included) applies committed changes to
//! its own registry from the watch.

use std::sync::Arc;

use quidditch_cluster::{Cluster, ClusterError, LocalUdfs, ReplicatedUdf};
use quidditch_udf::{LoadedUdf, RegisterRequest, UdfError, UdfErrorKind, UdfMetadata, UdfRegistry, VersionChoice};

/// The registry as the replication sees it.
pub struct RegistryReplica {
    pub udfs: Arc<UdfRegistry>,
}

impl LocalUdfs for RegistryReplica {
    fn installed(&self) -> Vec<(String, String, String)> {
        self.udfs
            .list()
            .into_iter()
            .flat_map(|(latest, _)| self.udfs.versions(latest.name()).unwrap_or_default())
            .map(|u| (u.name().to_string(), u.version_str().to_string(), u.metadata.sha256.clone()))
            .collect()
    }

    fn install(&self, udf: &ReplicatedUdf, binary: Vec<u8>) -> Result<(), String> {
        let metadata: UdfMetadata = serde_json::from_value(udf.metadata.clone()).map_err(|e| format!("metadata: {e}"))?;
        let request = RegisterRequest { metadata, binary, signature: udf.signature.clone(), actor: udf.actor.clone() };
        self.udfs.register_as(request, VersionChoice::Declared).map(drop).map_err(|e| e.to_string())
    }

    fn remove(&self, name: &str, version: &str, actor: &str) -> Result<(), String> {
        match self.udfs.delete(name, version, actor) {
            Ok(_) => Ok(()),
            Err(e) if e.kind == UdfErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Commits a version just registered on this node. When the commit fails the local
/// registration is undone (unless the cluster's version, applied meanwhile, replaced it), so
/// a node never keeps a version the cluster does not have.
pub async fn publish(
    cluster: &Cluster,
    udfs: &Arc<UdfRegistry>,
    udf: &LoadedUdf,
    binary: &[u8],
    signature: Option<String>,
    actor: &str,
) -> Result<(), PublishError> {
    let record = ReplicatedUdf {
        name: udf.name().to_string(),
        version: udf.version_str().to_string(),
        metadata: serde_json::to_value(&udf.metadata).expect("UdfMetadata serializes"),
        signature,
        actor: actor.to_string(),
        node: cluster.local().name.clone(),
        sha256: quidditch_cluster::udfs::sha256_hex(binary),
        size: binary.len() as u64,
        chunks: binary.len().div_ceil(quidditch_cluster::udfs::CHUNK_BYTES) as u32,
    };
    match cluster.publish_udf(&record, binary).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let (udfs, name, version, sha) = (udfs.clone(), record.name.clone(), record.version.clone(), record.sha256.clone());
            let _ = tokio::task::spawn_blocking(move || {
                let ours = udfs.resolve(&name, Some(&version)).is_ok_and(|u| u.metadata.sha256 == sha);
                if ours {
                    let _ = udfs.delete(&name, &version, "cluster");
                }
            })
            .await;
            Err(match e {
                ClusterError::UdfExists { name, version } => PublishError::Udf(UdfError::new(
                    name.clone(),
                    Some(version.clone()),
                    UdfErrorKind::AlreadyExists,
                    format!("UDF [{name}] version [{version}] already exists"),
                )),
                other => PublishError::Cluster(other),
            })
        }
    }
}

/// Why a registration was not committed.
pub enum PublishError {
    /// The registry's own rule (the version exists in the cluster).
    Udf(UdfError),
    /// etcd did not take it.
    Cluster(ClusterError),
}

use serde_json::{Value, json};

/// Sums the per-version stats of several nodes (each `{"<version>": <to_json>}`): counters add
/// up, `min`/`max` are the extremes, `avg` is recomputed from the totals. Quantiles cannot be
/// merged from summaries: `p50`/`p99` are the highest of the nodes' (an upper bound).
pub fn sum_version_stats<'a>(nodes: impl Iterator<Item = &'a Value>) -> Value {
    const COUNTERS: &[&str] = &[
        "calls", "errors", "timeouts", "memory_limit_hits", "stack_overflows", "instance_limit_hits",
        "instantiations", "live_instances",
    ];
    let mut out = serde_json::Map::new();
    for versions in nodes {
        let Some(versions) = versions.as_object() else { continue };
        for (version, stats) in versions {
            let entry = out.entry(version.clone()).or_insert_with(|| {
                let mut zero = json!({ "latency_ns": { "timed_calls": 0, "total": null, "avg": null, "min": null,
                                                       "max": null, "p50": null, "p99": null },
                                       "last_error": null });
                for c in COUNTERS {
                    zero[*c] = json!(0);
                }
                zero
            });
            for c in COUNTERS {
                entry[*c] = json!(entry[*c].as_u64().unwrap_or(0) + stats[*c].as_u64().unwrap_or(0));
            }
            let (mine, theirs) = (&mut entry["latency_ns"], &stats["latency_ns"]);
            mine["timed_calls"] = json!(mine["timed_calls"].as_u64().unwrap_or(0) + theirs["timed_calls"].as_u64().unwrap_or(0));
            if let Some(t) = theirs["total"].as_u64() {
                mine["total"] = json!(mine["total"].as_u64().unwrap_or(0) + t);
            }
            for (key, pick_max) in [("min", false), ("max", true), ("p50", true), ("p99", true)] {
                if let Some(t) = theirs[key].as_u64() {
                    let merged = match mine[key].as_u64() {
                        None => t,
                        Some(m) if pick_max => m.max(t),
                        Some(m) => m.min(t),
                    };
                    mine[key] = json!(merged);
                }
            }
            if let (Some(total), Some(timed)) = (mine["total"].as_u64(), mine["timed_calls"].as_u64())
                && timed > 0
            {
                let calls = entry["calls"].as_u64().unwrap_or(0).max(timed);
                entry["latency_ns"]["avg"] = json!(total / calls);
            }
            let newer = |a: &Value, b: &Value| a["time"].as_str().unwrap_or("") > b["time"].as_str().unwrap_or("");
            if !stats["last_error"].is_null() && (entry["last_error"].is_null() || newer(&stats["last_error"], &entry["last_error"])) {
                entry["last_error"] = stats["last_error"].clone();
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod sum_tests {
    use super::*;

    #[test]
    fn node_stats_add_up() {
        let a = json!({"1.0.0": {"calls": 2, "errors": 1, "latency_ns": {"timed_calls": 2, "total": 20, "min": 5, "max": 15, "p50": 5, "p99": 15}, "last_error": {"time": "2026-01-01T00:00:00Z", "message": "a"}}});
        let b = json!({"1.0.0": {"calls": 3, "errors": 0, "latency_ns": {"timed_calls": 3, "total": 60, "min": 10, "max": 30, "p50": 20, "p99": 30}, "last_error": null},
                       "2.0.0": {"calls": 1, "latency_ns": {"timed_calls": 0}}});
        let s = sum_version_stats([&a, &b].into_iter());
        assert_eq!(s["1.0.0"]["calls"], 5);
        assert_eq!(s["1.0.0"]["errors"], 1);
        assert_eq!(s["1.0.0"]["latency_ns"]["timed_calls"], 5);
        assert_eq!(s["1.0.0"]["latency_ns"]["total"], 80);
        assert_eq!(s["1.0.0"]["latency_ns"]["avg"], 16);
        assert_eq!(s["1.0.0"]["latency_ns"]["min"], 5);
        assert_eq!(s["1.0.0"]["latency_ns"]["max"], 30);
        assert_eq!(s["1.0.0"]["last_error"]["message"], "a");
        assert_eq!(s["2.0.0"]["calls"], 1);
    }
}
