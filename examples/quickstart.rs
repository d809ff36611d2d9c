//! A tour of kafka-sync: connect, create a topic, produce (synchronously and
//! with callbacks), consume directly, consume in a group of two, then commit
//! and abort transactions and read them back with `read_committed`.
//!
//! `cargo run --example quickstart` needs no broker: with `KAFKA_SEEDS` unset
//! it starts an in-process fake cluster of 3 brokers (`kafka_sync::fake`, the
//! default `fake` feature). With `KAFKA_SEEDS=host:port,..` it talks to those
//! brokers instead (`.ci/test-broker.sh start` starts one on 127.0.0.1:9092).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{Client, IsolationLevel, Offset, Record, TransactionEndTry};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn seeds() -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        println!("KAFKA_SEEDS is set: talking to the brokers at {env}.");
        return Ok((
            env.split(',').map(|s| s.trim().to_string()).collect(),
            Box::new(()),
        ));
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder().brokers(3).build()?;
        println!(
            "No KAFKA_SEEDS: started an in-process fake cluster of 3 brokers at {}.",
            cluster.seeds().join(", ")
        );
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
fn create(client: &Client, topic: &str, partitions: i32) -> Result<()> {
    let new = CreatableTopic::default()
        .with_name(TopicName(topic.to_string().into()))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    let resp = client.request(
        CreateTopicsRequest::default()
            .with_topics(vec![new])
            .with_timeout_ms(10_000),
    )?;
    match resp.topics.first().map(|t| t.error_code) {
        Some(0) => Ok(()),
        code => Err(format!("creating {topic}: error code {code:?}").into()),
    }
}

fn ms(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

/// Polls `clients` until `want` records arrived (or 30 s); counts per client.
fn consume(clients: &[&Client], want: usize) -> Vec<usize> {
    let mut n = vec![0; clients.len()];
    let end = Instant::now() + Duration::from_secs(30);
    while n.iter().sum::<usize>() < want && Instant::now() < end {
        for (i, c) in clients.iter().enumerate() {
            let fetches = c.poll_fetches_timeout(Duration::from_millis(50));
            fetches.each_error(|t, p, e| eprintln!("fetch error on {t}/{p}: {e}"));
            n[i] += fetches.num_records();
        }
    }
    n
}

fn main() -> Result<()> {
    env_logger::init();
    let tour = Instant::now();
    let (seeds, _cluster) = seeds()?;
    let topic = format!("tour-{}", std::process::id());

    let t = Instant::now();
    let client = Client::builder().seed_brokers(seeds.clone()).build()?;
    client.ping()?;
    let brokers = client.refresh_metadata(Some(&[]))?.brokers.len();
    println!("1. Connected: a broker answered ApiVersions and metadata lists {brokers} broker(s) ({} ms).", ms(t));

    let t = Instant::now();
    create(&client, &topic, 6)?;
    let meta = client.refresh_metadata(Some(&[topic.as_str()]))?;
    let mut leaders: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in meta
        .topics
        .get(&topic)
        .map(|t| t.partitions.clone())
        .unwrap_or_default()
    {
        leaders.entry(p.leader).or_default().push(p.partition);
    }
    println!("2. Created topic {topic} with 6 partitions; partitions by leader broker: {leaders:?} ({} ms).", ms(t));

    let t = Instant::now();
    let first: Vec<Record> = (0..5)
        .map(|i| {
            Record::key_string(format!("user-{i}"), format!("signed up #{i}"))
                .with_topic(&topic)
                .with_header("source", Some("quickstart".into()))
        })
        .collect();
    let results = client.produce_sync(first);
    let at: Vec<String> = results
        .0
        .iter()
        .map(|r| format!("{}@{}", r.record.partition, r.record.offset))
        .collect();
    println!(
        "3. produce_sync wrote 5 keyed records with a header, at partition@offset {} ({} ms).",
        at.join(" "),
        ms(t)
    );

    let t = Instant::now();
    let failed = Arc::new(AtomicUsize::new(0));
    for i in 5..1000 {
        let f = failed.clone();
        let r = Record::key_string(format!("user-{}", i % 50), format!("event #{i}"))
            .with_topic(&topic);
        client.produce(r, move |_, res| {
            if res.is_err() {
                f.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    client.flush()?;
    println!("4. produce with callbacks wrote 995 more; flush waited for all of them, {} failed ({} ms).", failed.load(Ordering::Relaxed), ms(t));

    let t = Instant::now();
    let direct = Client::builder()
        .seed_brokers(seeds.clone())
        .consume_topics([topic.as_str()])
        .consume_reset_offset(Offset::new().at_start())
        .build()?;
    let n = consume(&[&direct], 1000)[0];
    println!(
        "5. A direct consumer read {n} records from the start of every partition ({} ms).",
        ms(t)
    );
    direct.close();

    let t = Instant::now();
    let group = format!("tour-group-{}", std::process::id());
    let owned: Arc<Mutex<BTreeMap<&str, Vec<i32>>>> = Default::default();
    let member = |name: &'static str| -> Result<Client> {
        let (o, r) = (owned.clone(), owned.clone());
        Ok(Client::builder()
            .seed_brokers(seeds.clone())
            .consumer_group(&group)
            .consume_topics([topic.as_str()])
            .consume_reset_offset(Offset::new().at_start())
            .session_timeout(Duration::from_secs(6))
            .heartbeat_interval(Duration::from_millis(500))
            .on_partitions_assigned(move |_, m| {
                o.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_default()
                    .extend(m.values().flatten())
            })
            .on_partitions_revoked(move |c, m| {
                let _ = c.commit_uncommitted_offsets(); // nothing is lost on a move
                let mut o = r.lock().unwrap_or_else(|e| e.into_inner());
                o.entry(name)
                    .or_default()
                    .retain(|p| !m.values().flatten().any(|q| q == p));
            })
            .build()?)
    };
    let (a, b) = (member("member a")?, member("member b")?);
    // The split happens without polling (callbacks run on the group thread);
    // consuming starts once both members hold partitions.
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        let o = owned.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if o.len() == 2 && o.values().all(|ps| !ps.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let counts = consume(&[&a, &b], 1000);
    a.commit_uncommitted_offsets()?;
    b.commit_uncommitted_offsets()?;
    let committed: i64 = [&a, &b]
        .iter()
        .flat_map(|c| c.committed_offsets().remove(&topic).unwrap_or_default())
        .map(|(_, eo)| eo.offset)
        .sum();
    let split = owned.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("6. Two members of group {group} split the partitions {split:?}, read {} and {} records, and committed offsets adding up to {committed} ({} ms).", counts[0], counts[1], ms(t));

    let t = Instant::now();
    let txn_topic = format!("{topic}-txn");
    create(&client, &txn_topic, 1)?;
    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .transactional_id(format!("tour-txn-{}", std::process::id()))
        .build()?;
    let txn = |values: &[&str], end: TransactionEndTry| -> Result<()> {
        producer.begin_transaction()?;
        let records = values
            .iter()
            .map(|v| Record::string(*v).with_topic(&txn_topic));
        producer.produce_sync(records).first()?;
        Ok(producer.end_transaction(end)?)
    };
    txn(&["kept-1", "kept-2", "kept-3"], TransactionEndTry::Commit)?;
    txn(&["dropped-1", "dropped-2"], TransactionEndTry::Abort)?;
    // One partition keeps order: once the last committed record is read,
    // everything the aborted transaction wrote has been passed over.
    txn(&["kept-4"], TransactionEndTry::Commit)?;
    producer.close();
    let reader = Client::builder()
        .seed_brokers(seeds.clone())
        .consume_topics([txn_topic.as_str()])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(IsolationLevel::ReadCommitted)
        .build()?;
    let mut seen: Vec<String> = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|v| v == "kept-4") && Instant::now() < end {
        let f = reader.poll_fetches_timeout(Duration::from_millis(50));
        f.each_error(|t, p, e| eprintln!("fetch error on {t}/{p}: {e}"));
        f.each_record(|r| {
            seen.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        });
    }
    reader.close();
    let aborted = seen.iter().filter(|v| v.starts_with("dropped")).count();
    println!("7. Committed transactions of 3 and 1 records around an aborted one of 2; a read_committed consumer read {} records, {aborted} of them aborted ({} ms).", seen.len(), ms(t));

    let t = Instant::now();
    for c in [a, b, client] {
        c.close();
    }
    println!("8. Closed the clients (the members left the group) and every thread exited ({} ms); the tour took {} ms.", ms(t), ms(tour));
    Ok(())
}
