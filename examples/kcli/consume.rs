//! `kcli consume`: records to stdout, formatted by a RecordFormatter layout.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::time::Duration;

use kafka_sync::{Offset, PartitionOffsets, RecordFormatter};

use crate::admin;
use crate::args::Args;
use crate::Result;

const HELP: &str = "\
kcli consume: print records

Usage: kcli consume -t TOPIC.. [flags]

  -t, --topic TOPIC     a topic (repeat the flag, or separate with commas)
  -g, --group GROUP     consume as a member of GROUP (commits as it goes)
  -f, --format LAYOUT   RecordFormatter layout (default: '%v\\n'); e.g.
                        '%k\\t%v\\n', '%t/%p@%o %d{go[2006-01-02T15:04:05]} %k=%v\\n'
      --from WHERE      start, end, an offset N, -N (N before the end) or @MILLIS
                        (the first record at or after that time); default: start.
                        In a group, only partitions without a commit start there.
  -c, --count N         exit after N records
  -e, --exit            exit at the end, once every partition is caught up
";

/// Where `--from` starts.
#[derive(Clone, Copy)]
enum StartAt {
    Start,
    End,
    At(i64),
    BeforeEnd(i64),
    Time(i64),
}

fn parse_from(v: &str) -> Result<StartAt> {
    let bad = || format!("--from {v:?}: expected start, end, an offset, -N or @MILLIS");
    Ok(match v {
        "start" | "beginning" => StartAt::Start,
        "end" => StartAt::End,
        _ if v.starts_with('@') => StartAt::Time(v[1..].parse().map_err(|_| bad())?),
        _ if v.starts_with('-') => StartAt::BeforeEnd(v[1..].parse().map_err(|_| bad())?),
        _ => StartAt::At(v.parse().map_err(|_| bad())?),
    })
}

pub fn run(mut args: Args) -> Result<()> {
    let (mut topics, mut group, mut layout) = (Vec::<String>::new(), None, "%v\n".to_string());
    let (mut from, mut count, mut exit_at_end) = (StartAt::Start, None, false);
    let Some(s) = crate::parse(&mut args, HELP, |flag, a| {
        match flag {
            "-t" | "--topic" => topics.extend(
                a.value(flag)?
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(String::from),
            ),
            "-g" | "--group" => group = Some(a.value(flag)?),
            "-f" | "--format" => layout = a.value(flag)?,
            "--from" | "-o" => from = parse_from(&a.value(flag)?)?,
            "-c" | "--count" => count = Some(a.parse::<u64>(flag, "a record count")?),
            "-e" | "--exit" => exit_at_end = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(());
    };
    if topics.is_empty() {
        return Err("which topics? pass -t TOPIC (see `kcli metadata` for the list)".into());
    }
    let formatter =
        RecordFormatter::new(&layout).map_err(|e| format!("--format {layout:?}: {e}"))?;

    // With -e: the partitions already at their end (empty, or starting
    // there); the others are done once a fetch brings them up to its high
    // watermark.
    let mut ends = admin::Offsets::new();
    let mut done = BTreeSet::new();
    if exit_at_end {
        let c = s
            .builder()?
            .max_versions(kafka_sync::Versions::new().with(9, 7))
            .build()?;
        let parts = admin::partitions(&c, &topics)?;
        ends = admin::list_offsets(&c, &parts, -1)?;
        let starts = match from {
            StartAt::Start | StartAt::At(_) | StartAt::BeforeEnd(_) => {
                admin::list_offsets(&c, &parts, -2)?
            }
            StartAt::End => ends.clone(),
            StartAt::Time(ms) => admin::list_offsets(&c, &parts, ms)?,
        };
        let committed = match &group {
            Some(g) => admin::committed(&c, g, &parts)?,
            None => Default::default(),
        };
        c.close();
        for (key, &end) in &ends {
            let log_start = starts.get(key).copied().unwrap_or(end);
            let next = match (committed.get(key), from) {
                (Some(&o), _) => o,
                (None, StartAt::At(n)) => n.max(log_start),
                (None, StartAt::BeforeEnd(n)) => (end - n).max(log_start),
                (None, StartAt::Time(_)) if log_start < 0 => end, // nothing at or after the time
                (None, _) => log_start,
            };
            if next >= end {
                done.insert(key.clone());
            }
        }
    }

    let offset = match from {
        StartAt::Start => Offset::new().at_start(),
        StartAt::End => Offset::new().at_end(),
        StartAt::At(n) => Offset::new().at(n),
        StartAt::BeforeEnd(n) => Offset::new().at_end().relative(-n),
        StartAt::Time(ms) => Offset::new().at_timestamp(ms),
    };
    let mut b = s
        .builder()?
        .consume_topics(topics.clone())
        .consume_reset_offset(offset)
        // Transaction markers count towards the end; they are not printed.
        .keep_control_records(exit_at_end);
    if let Some(g) = &group {
        b = b.consumer_group(g.clone());
    }
    let client = b.build()?;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let (mut printed, mut buf) = (0u64, Vec::with_capacity(4096));
    let mut result = Ok(());
    'poll: while !(exit_at_end && done.len() == ends.len()) && count.is_none_or(|c| printed < c) {
        let fetches = client.poll_fetches_timeout(Duration::from_secs(1));
        if fetches.is_client_closed() {
            break;
        }
        fetches.each_error(|t, p, e| eprintln!("kcli consume: {t}/{p}: {e}"));
        let parts = fetches.fetches().iter().flat_map(|f| &f.topics);
        for (topic, p) in parts.flat_map(|t| t.partitions.iter().map(move |p| (&t.topic, p))) {
            let offsets = PartitionOffsets::from(p);
            for r in &p.records {
                if r.attrs.is_control() {
                    continue; // a transaction marker: it counts, it is not printed
                }
                buf.clear();
                formatter.append_partition_record(&mut buf, &offsets, r);
                if let Err(e) = out.write_all(&buf) {
                    result = Err(e);
                    break 'poll;
                }
                printed += 1;
                if count.is_some_and(|c| printed >= c) {
                    break 'poll;
                }
            }
            // Caught up: the fetch's high watermark is just past its last record.
            if exit_at_end
                && p.records
                    .last()
                    .is_some_and(|r| r.offset + 1 >= p.high_watermark)
            {
                done.insert((topic.clone(), p.partition));
            }
        }
        if let Err(e) = out.flush() {
            result = Err(e);
            break;
        }
    }
    let flushed = result.and_then(|()| out.flush());
    if group.is_some() {
        if let Err(e) = client.commit_uncommitted_offsets() {
            eprintln!("kcli consume: the final commit failed: {e}");
        }
    }
    client.close();
    match flushed {
        // Whoever reads our output stopped (`| head`): that is not an error.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing to stdout: {e}").into()),
        Ok(()) => Ok(()),
    }
}
