//! AlterReplicaLogDirs: moving this broker's replicas between its log
//! directories (Java `KafkaApis.handleAlterReplicaLogDirsRequest` and
//! `ReplicaManager.alterReplicaLogDirs`).

use std::collections::BTreeMap;

use crate::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use crate::messages::*;

use super::Ctx;
use crate::fake::cluster::State;
use crate::fake::codes;

/// Java `LOG_DIR_NOT_FOUND`.
const LOG_DIR_NOT_FOUND: i16 = 57;
/// Java `REPLICA_NOT_AVAILABLE`.
const REPLICA_NOT_AVAILABLE: i16 = 9;

/// The length of a replica's future directory name,
/// `<topic>-<partition>.<32 hex digits>-future` (Java
/// `UnifiedLog.logFutureDirName`), which must fit in 255 bytes.
fn future_dir_name_len(topic: &str, partition: i32) -> usize {
    topic.len() + 1 + partition.to_string().len() + 1 + 32 + "-future".len()
}

/// The request as Java reads it (`AlterReplicaLogDirsRequest.partitionDirs`):
/// one directory per partition, the last one named winning.
fn partition_dirs(req: &AlterReplicaLogDirsRequest) -> BTreeMap<(String, i32), String> {
    let mut out = BTreeMap::new();
    for dir in &req.dirs {
        for t in &dir.topics {
            for &p in &t.partitions {
                out.insert((t.name.to_string(), p), dir.path.to_string());
            }
        }
    }
    out
}

/// Moves one replica of this broker, or says why not, in Java's order: the
/// name's length, the directory, then the replica.
fn alter_one(
    st: &mut State,
    log_dirs: &[String],
    broker: i32,
    topic: &str,
    partition: i32,
    dir: &str,
) -> i16 {
    if future_dir_name_len(topic, partition) > 255 {
        return codes::INVALID_TOPIC_EXCEPTION;
    }
    // LogManager.isLogDirOnline: the directory must be one of log.dirs.
    if !log_dirs.iter().any(|d| d == dir) {
        return LOG_DIR_NOT_FOUND;
    }
    let Some(part) = st.topics.get(topic).and_then(|t| t.partition(partition)) else {
        return codes::UNKNOWN_TOPIC_OR_PARTITION;
    };
    // A partition this broker holds no replica of: NOT_LEADER_OR_FOLLOWER,
    // which Java answers as REPLICA_NOT_AVAILABLE for compatibility.
    if !part.replicas.contains(&broker) {
        return REPLICA_NOT_AVAILABLE;
    }
    let key = (topic.to_string(), partition, broker);
    if log_dirs.first().is_some_and(|first| first == dir) {
        st.replica_dirs.remove(&key);
    } else {
        st.replica_dirs.insert(key, dir.to_string());
    }
    codes::NONE
}

/// AlterReplicaLogDirs on broker `ctx.broker`: results grouped by topic.
pub(super) fn alter_replica_log_dirs(
    ctx: &Ctx<'_>,
    req: &AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let log_dirs = &ctx.shared.settings.log_dirs;
    let mut st = ctx.shared.lock();
    let mut results: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for ((topic, partition), dir) in partition_dirs(req) {
        let code = alter_one(&mut st, log_dirs, ctx.broker, &topic, partition, &dir);
        results.entry(topic).or_default().push(
            AlterReplicaLogDirPartitionResult::default()
                .with_partition_index(partition)
                .with_error_code(code),
        );
    }
    drop(st);
    response(results)
}

/// AlterReplicaLogDirs with `code` on every partition.
pub(super) fn alter_replica_log_dirs_error(
    req: &AlterReplicaLogDirsRequest,
    code: i16,
) -> AlterReplicaLogDirsResponse {
    let mut results: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for (topic, partition) in partition_dirs(req).into_keys() {
        results.entry(topic).or_default().push(
            AlterReplicaLogDirPartitionResult::default()
                .with_partition_index(partition)
                .with_error_code(code),
        );
    }
    response(results)
}

fn response(
    results: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>>,
) -> AlterReplicaLogDirsResponse {
    let results = results
        .into_iter()
        .map(|(topic, partitions)| {
            AlterReplicaLogDirTopicResult::default()
                .with_topic_name(TopicName(super::meta::s(&topic)))
                .with_partitions(partitions)
        })
        .collect();
    AlterReplicaLogDirsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_dir_names_are_javas() {
        // "t-0." + 32 + "-future"
        assert_eq!(future_dir_name_len("t", 0), 1 + 1 + 1 + 1 + 32 + 7);
        assert_eq!(future_dir_name_len(&"a".repeat(213), 9), 255);
        assert_eq!(future_dir_name_len(&"a".repeat(213), 10), 256);
    }
}
