//! `kcli produce`: records from stdin, parsed by a RecordReader layout.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::{manual_partitioner, Acks, CompressionCodec, Error, RecordReader};

use crate::args::Args;
use crate::Result;

const HELP: &str = "\
kcli produce: produce records read from stdin

Usage: kcli produce -t TOPIC [flags] < input

  -t, --topic TOPIC        topic for records whose layout has no %t
  -f, --format LAYOUT      RecordReader layout (default: '%v\\n', one record per line);
                           e.g. '%k\\t%v\\n', '%t %k %v\\n', '%V{big32}%v'
  -p, --partition N        produce every record to partition N (else: the key's hash,
                           or %p in the layout)
      --acks all|1|0       (default: all, idempotent)
  -z, --compression C      none, gzip, snappy, lz4, zstd (default: none)
      --linger-ms MS       (default: 0)
      --max-size BYTES     largest field the reader accepts (default: 64 MiB)
  -q, --quiet              no progress on stderr

Progress (records, MB, rec/s) goes to stderr every second; the exit code is
non-zero if any record failed.
";

/// Delivery counters, updated by the produce callbacks.
#[derive(Default)]
struct Progress {
    records: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicBool,
    first_err: Mutex<Option<Error>>,
}

pub fn run(mut args: Args) -> Result<()> {
    let (mut topic, mut layout, mut partition) = (None, "%v\n".to_string(), None);
    let (mut acks, mut codec, mut linger, mut max_size, mut quiet) =
        (Acks::AllIsr, CompressionCodec::none(), 0u64, None, false);
    let Some(session) = crate::parse(&mut args, HELP, |flag, a| {
        match flag {
            "-t" | "--topic" => topic = Some(a.value(flag)?),
            "-f" | "--format" => layout = a.value(flag)?,
            "-p" | "--partition" => partition = Some(a.parse::<i32>(flag, "a partition number")?),
            "--acks" => {
                acks = match a.value(flag)?.as_str() {
                    "all" | "-1" => Acks::AllIsr,
                    "1" => Acks::Leader,
                    "0" => Acks::None,
                    v => return Err(format!("--acks {v:?}: expected all, 1 or 0").into()),
                }
            }
            "-z" | "--compression" => {
                codec = match a.value(flag)?.as_str() {
                    "none" => CompressionCodec::none(),
                    "gzip" => CompressionCodec::gzip(),
                    "snappy" => CompressionCodec::snappy(),
                    "lz4" => CompressionCodec::lz4(),
                    "zstd" => CompressionCodec::zstd(),
                    v => {
                        return Err(format!(
                            "--compression {v:?}: expected none, gzip, snappy, lz4 or zstd"
                        )
                        .into())
                    }
                }
            }
            "--linger-ms" => linger = a.parse(flag, "milliseconds")?,
            "--max-size" => max_size = Some(a.parse::<usize>(flag, "a byte count")?),
            "-q" | "--quiet" => quiet = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(());
    };
    if topic.is_none() && !layout.contains("%t") {
        return Err("which topic? pass -t TOPIC (or put %t in the --format layout)".into());
    }
    let mut reader = RecordReader::new(std::io::stdin().lock(), &layout)
        .map_err(|e| format!("--format {layout:?}: {e}"))?;
    if let Some(n) = max_size {
        reader = reader.max_size(n);
    }

    let mut b = session
        .builder()?
        .required_acks(acks)
        .disable_idempotent_write(acks != Acks::AllIsr)
        .producer_batch_compression([codec])
        .producer_linger(Duration::from_millis(linger))
        // As kcat (librdkafka) does: a broker that auto-creates topics may.
        .allow_auto_topic_creation(true);
    if let Some(t) = &topic {
        b = b.default_produce_topic(t.clone());
    }
    if partition.is_some() || layout.contains("%p") {
        b = b.record_partitioner(manual_partitioner());
    }
    let client = b.build()?;

    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let (stop, stopped) = mpsc::channel::<()>();
    let reporter = (!quiet).then(|| {
        let p = Arc::clone(&progress);
        std::thread::spawn(move || {
            let mut last = (start, 0u64);
            // Wakes every second until the sender is dropped.
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_secs(1))
            {
                let n = p.records.load(Ordering::Relaxed);
                let rate = (n - last.1) as f64 / last.0.elapsed().as_secs_f64();
                report(&p, n, rate);
                last = (Instant::now(), n);
            }
        })
    });

    let mut read = 0u64;
    let mut input_err = None;
    while !progress.failed.load(Ordering::Relaxed) {
        let mut rec = match reader.read_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                input_err = Some(format!("input record {}: {e}", read + 1));
                break;
            }
        };
        read += 1;
        if let Some(p) = partition {
            rec.partition = p;
        }
        let p = Arc::clone(&progress);
        client.produce(rec, move |r, res| match res {
            Ok(()) => {
                p.records.fetch_add(1, Ordering::Relaxed);
                p.bytes.fetch_add(r.user_size() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                p.failed.store(true, Ordering::Relaxed);
                let mut first = p.first_err.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(e);
            }
        });
    }
    let flushed = client.flush();
    client.close();
    drop(stop);
    if let Some(r) = reporter {
        let _ = r.join();
    }
    let n = progress.records.load(Ordering::Relaxed);
    if !quiet {
        report(&progress, n, n as f64 / start.elapsed().as_secs_f64());
    }
    if let Some(e) = input_err {
        return Err(format!("{e} (produced the {n} records before it)").into());
    }
    if let Some(e) = progress
        .first_err
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        let hint = if e.kafka_code() == Some(kafka_sync::ErrorCode::UnknownTopicOrPartition) {
            " (does the topic exist? `kcli metadata` lists them)"
        } else {
            ""
        };
        return Err(format!(
            "{} of {read} records failed; the first: {e}{hint}",
            read - n
        )
        .into());
    }
    flushed?;
    Ok(())
}

fn report(p: &Progress, n: u64, rate: f64) {
    let mb = p.bytes.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        std::io::stderr(),
        "kcli produce: {n} records, {mb:.1} MB, {rate:.0} rec/s"
    );
}
