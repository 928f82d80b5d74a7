//! This process as a node: its name, id and address (in both modes), and the operating-system
//! numbers `_nodes/stats` and `_cat/nodes` report about it.

use std::net::SocketAddr;
use std::sync::Arc;

/// Default cluster name of a single node (OpenSearch clients only display it).
pub const SINGLE_NODE_CLUSTER_NAME: &str = "quidditch";

/// Who this process is.
#[derive(Debug, Clone)]
pub struct LocalNode {
    pub name: String,
    pub id: String,
    pub cluster_name: String,
    /// The address the HTTP API is bound to.
    pub http_address: SocketAddr,
    /// The URL other nodes and clients use (`--advertise`, else `http://<bound address>`).
    pub http_url: String,
    pub started_at_ms: u64,
    /// The etcd cluster this node is a member of; `None` for today's embedded single node.
    pub cluster: Option<Arc<quidditch_cluster::Cluster>>,
    /// Cluster mode: this node's part in keeping shard copies in sync.
    pub shard_copies: Option<Arc<crate::shard_copies::ShardCopies>>,
}

impl LocalNode {
    /// The embedded single node: named after the host, a fresh id per process.
    pub fn single(http_address: SocketAddr) -> Self {
        LocalNode {
            name: std::env::var("HOSTNAME").unwrap_or_else(|_| "quidditch-node".into()),
            id: new_node_id(),
            cluster_name: SINGLE_NODE_CLUSTER_NAME.into(),
            http_address,
            http_url: format!("http://{http_address}"),
            started_at_ms: now_ms(),
            cluster: None,
            shard_copies: None,
        }
    }

    /// The IP address clients see for this node (loopback when bound to every interface).
    pub fn ip(&self) -> String {
        let ip = self.http_address.ip();
        if ip.is_unspecified() { "127.0.0.1".to_string() } else { ip.to_string() }
    }

    /// The name of the elected cluster manager (a single node is its own).
    pub fn manager_name(&self) -> Option<String> {
        match &self.cluster {
            None => Some(self.name.clone()),
            Some(c) => c.view().manager,
        }
    }
}

/// A node id: 22 URL-safe characters, like OpenSearch's.
pub fn new_node_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// The id kept in `<data dir>/node_id`, created on first start: a node keeps its id across
/// restarts.
pub fn persistent_node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = new_node_id();
            let tmp = data_dir.join("node_id.tmp");
            std::fs::write(&tmp, &id)?;
            std::fs::rename(&tmp, &path)?;
            Ok(id)
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Process and machine numbers, read from `/proc` (zero where the platform has none).
#[derive(Debug, Clone, Default)]
pub struct SystemStats {
    pub resident_bytes: u64,
    pub total_memory_bytes: u64,
    pub free_memory_bytes: u64,
    pub load_average: [f64; 3],
    pub open_file_descriptors: i64,
    pub max_file_descriptors: i64,
}

impl SystemStats {
    pub fn read() -> Self {
        let mut stats = SystemStats { open_file_descriptors: -1, max_file_descriptors: -1, ..Default::default() };
        let kib = |line: &str| line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).map(|v| v * 1024);
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            stats.resident_bytes = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(kib).unwrap_or(0);
        }
        if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
            stats.total_memory_bytes = meminfo.lines().find(|l| l.starts_with("MemTotal:")).and_then(kib).unwrap_or(0);
            stats.free_memory_bytes = meminfo.lines().find(|l| l.starts_with("MemAvailable:")).and_then(kib).unwrap_or(0);
        }
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            for (slot, v) in stats.load_average.iter_mut().zip(load.split_whitespace()) {
                *slot = v.parse().unwrap_or(0.0);
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            stats.open_file_descriptors = dir.count() as i64;
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            stats.max_file_descriptors = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1);
        }
        stats
    }

    /// Resident memory as a share of the machine's (what `heap.percent` shows: the process
    /// has no separate heap limit).
    pub fn resident_percent(&self) -> u64 {
        percent(self.resident_bytes, self.total_memory_bytes)
    }

    pub fn used_memory_percent(&self) -> u64 {
        percent(self.total_memory_bytes.saturating_sub(self.free_memory_bytes), self.total_memory_bytes)
    }
}

fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 { 0 } else { (part as f64 * 100.0 / whole as f64).round() as u64 }
}
