//! Reading a partition back with raw Fetch requests (independent of the
//! crate's consumer), for producer tests against the real broker.

use bytes::Bytes;
use kafka_sync::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_sync::messages::{BrokerId, FetchRequest, TopicName};
use kafka_sync::{Client, Versions};

/// A client for reading: Fetch capped at v12 so topics go by name.
pub fn reader(seeds: Vec<String>) -> Client {
    Client::builder()
        .seed_brokers(seeds)
        .max_versions(Versions::new().with(1, 12))
        .build()
        .unwrap()
}

/// Every batch of `topic`/`partition` from offset 0 up to the high watermark.
pub fn read_partition(c: &Client, topic: &str, partition: i32) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut empty_polls = 0;
    loop {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(32 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(topic.to_string().into()))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(16 << 20)])]);
        let resp = c.request(req).unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        let hw = p.high_watermark;
        if let Some(records) = p.records.clone().filter(|r| !r.is_empty()) {
            let mut buf = records.clone();
            let mut next = offset;
            // Keep whole batches only; advance past the last one.
            let mut whole = Vec::new();
            while buf.len() >= 12 {
                let base = i64::from_be_bytes(buf[0..8].try_into().unwrap());
                let len = i32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize;
                if buf.len() < 12 + len {
                    break;
                }
                let batch = buf.split_to(12 + len);
                let last_delta = i32::from_be_bytes(batch[23..27].try_into().unwrap()) as i64;
                next = base + last_delta + 1;
                if base + last_delta >= offset {
                    whole.push(batch);
                }
            }
            out.extend(whole);
            offset = next;
            empty_polls = 0;
        } else {
            empty_polls += 1;
        }
        if offset >= hw || empty_polls > 20 {
            return out;
        }
    }
}
