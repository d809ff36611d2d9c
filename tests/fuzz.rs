//! The fuzz harness (issue 11, item 6), on stable Rust with no fuzzing crate:
//! a seeded generator of inputs, valid encodings (every request and response
//! at every version, default and populated, and responses captured from the
//! embedded fake cluster; record batches in every codec and format;
//! compressed data and decompression bombs) and their mutations (bit flips,
//! byte sets, truncations, insertions, duplicated and spliced regions, and
//! counts and lengths set to extremes), run under `catch_unwind` against
//! every request and response decoder, the request header decoder, the
//! record batch decoder and each decompressor; and the whole client against
//! a scripted broker answering with mutated frames.
//!
//! Short mode (CI): `cargo test --test fuzz`. Long mode:
//! `KS_FUZZ_INPUTS=10000000 cargo test --release --test fuzz -- --nocapture`.
//! `KS_FUZZ_SEED` picks the seed (default fixed); a failing input prints its
//! seed and index, and `KS_FUZZ_ONLY=<index>` replays just that input.
//! `KS_FUZZ_CLIENT_FRAMES` and `KS_FUZZ_CLIENT_SECS` bound the client test
//! (default: a 2,000th of the inputs, at least 300 frames, and 8 s, or 300 s
//! in long mode).
//!
//! Memory: one input may make a decoder allocate at most its budgets (16 MiB)
//! plus `AMPLIFICATION` (128) times its size; the process's peak RSS stays
//! under 128 times the largest frame (`broker_max_read_bytes`, 1 MiB here)
//! plus 96 MiB.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_sync::fake::Cluster;
use kafka_sync::fuzz;
use kafka_sync::messages::api_versions_response::ApiVersion;
use kafka_sync::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_sync::messages::{
    decode_request_header, ApiKey, ApiVersionsResponse, BrokerId, Decodable, Encodable,
    MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader, StrBytes, TopicName,
};
use kafka_sync::{Client, Record};
use support::fake_raw;
use support::script::{frame, reply, Action, Req, ScriptServer};

// ---------------------------------------------------------------------------
// Allocation accounting: per thread, the bytes held and their high-water
// mark, so that a decoder's reservation is seen even where RSS would not
// show it (an untouched `Vec::with_capacity` costs address space, not RSS,
// until it is large enough to abort the process).

struct Counting;

thread_local! {
    /// (bytes held by this thread's allocations, their high-water mark).
    static HELD: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

fn account(delta: isize) {
    let _ = HELD.try_with(|h| {
        let (cur, peak) = h.get();
        let cur = cur.wrapping_add(delta);
        h.set((cur, peak.max(cur)));
    });
}

/// Resets this thread's high-water mark to what it holds now; returns that.
fn held_reset() -> isize {
    HELD.with(|h| {
        let (cur, _) = h.get();
        h.set((cur, cur));
        cur
    })
}

fn held_peak() -> isize {
    HELD.with(|h| h.get().1)
}

// SAFETY: forwards to the system allocator unchanged; only counts bytes in
// a const-initialised thread-local with no destructor (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        account(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        account(l.size() as isize);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        account(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        account(n as isize - l.size() as isize);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

// ---------------------------------------------------------------------------
// The generator.

use support::rng::Rng;

/// What an input is fed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Request(ApiKey, i16),
    Response(ApiKey, i16),
    /// A whole request frame (size prefix removed), as the fake cluster
    /// decodes it: header, then the body of the key and version it names.
    RequestFrame,
    /// The records field of a fetch response.
    Batches,
    /// Compressed data of a codec (attribute bits).
    Decompress(u8),
}

struct Seed {
    target: Target,
    bytes: Vec<u8>,
}

/// Values a count, length or size is set to.
const EXTREMES_32: [u32; 8] = [
    0x7fff_ffff,
    0x000f_0000,
    0xffff_ffff,
    0xffff_fffe,
    0x8000_0000,
    0x0100_0000,
    0,
    1,
];
const EXTREMES_16: [u16; 5] = [0x7fff, 0xffff, 0xfffe, 0x8000, 0];
/// Unsigned varints: 2^32-1 (compact count 2^32-2), 2^31, a 10-byte one,
/// an unterminated one, and zero (a compact null).
const VARINTS: [&[u8]; 5] = [
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x08],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0xff, 0xff, 0xff],
    &[0x00],
];

/// Applies one to four mutations.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Seed]) {
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, data, corpus);
    }
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, corpus: &[Seed]) {
    match rng.below(10) {
        0 if !d.is_empty() => {
            let i = rng.below(d.len());
            d[i] ^= 1 << rng.below(8);
        }
        1 if !d.is_empty() => {
            let i = rng.below(d.len());
            d[i] = [0x00, 0xff, 0x7f, 0x80, 0x01, rng.byte()][rng.below(6)];
        }
        2 => {
            let n = rng.below(d.len() + 1);
            d.truncate(n);
        }
        3 => {
            let i = rng.below(d.len() + 1);
            let n = 1 + rng.below(16);
            let ins: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            d.splice(i..i, ins);
        }
        4 | 5 if d.len() >= 4 => {
            let i = rng.below(d.len() - 3);
            let v = EXTREMES_32[rng.below(EXTREMES_32.len())].to_be_bytes();
            d[i..i + 4].copy_from_slice(&v);
        }
        6 if d.len() >= 2 => {
            let i = rng.below(d.len() - 1);
            let v = EXTREMES_16[rng.below(EXTREMES_16.len())].to_be_bytes();
            d[i..i + 2].copy_from_slice(&v);
        }
        7 => {
            let i = rng.below(d.len() + 1);
            let v = VARINTS[rng.below(VARINTS.len())];
            let end = (i + if rng.one_in(2) { v.len() } else { 0 }).min(d.len());
            d.splice(i..end, v.iter().copied());
        }
        8 if !d.is_empty() => {
            let a = rng.below(d.len());
            let n = 1 + rng.below((d.len() - a).min(64));
            let region = d[a..a + n].to_vec();
            let i = rng.below(d.len() + 1);
            d.splice(i..i, region);
        }
        _ => {
            // Splice: a piece of another seed in place of a piece of this one.
            let other = &corpus[rng.below(corpus.len())].bytes;
            if other.is_empty() {
                return;
            }
            let a = rng.below(other.len());
            let n = 1 + rng.below((other.len() - a).min(64));
            let i = rng.below(d.len() + 1);
            let end = (i + rng.below(n + 1)).min(d.len());
            d.splice(i..end, other[a..a + n].iter().copied());
        }
    }
}

/// Recomputes the CRC-32C of every v2 batch in `d` whose length fits, so
/// that mutations reach the record parser behind the CRC check.
fn fix_crcs(d: &mut [u8]) {
    let mut pos = 0usize;
    while d.len() - pos >= 61 {
        let len = i32::from_be_bytes(d[pos + 8..pos + 12].try_into().unwrap());
        let Ok(len) = usize::try_from(len) else {
            return;
        };
        let end = pos + 12 + len;
        if d[pos + 16] != 2 || len < 49 || end > d.len() {
            return;
        }
        let crc = crc32c::crc32c(&d[pos + 21..end]);
        d[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

/// Runs one input; a panic propagates.
fn run(rng: &mut Rng, target: Target, input: &[u8]) {
    match target {
        Target::Request(k, v) => {
            let _ = k.decode_request(v, &mut Bytes::copy_from_slice(input));
        }
        Target::Response(k, v) => {
            let _ = k.decode_response(v, &mut Bytes::copy_from_slice(input));
        }
        Target::RequestFrame => {
            let mut b = Bytes::copy_from_slice(input);
            if let Ok(h) = decode_request_header(&mut b) {
                if let Ok(k) = ApiKey::try_from(h.request_api_key) {
                    let _ = k.decode_request(h.request_api_version, &mut b);
                }
            }
        }
        Target::Batches => {
            let budget = [0, 1000, 64 << 10, 1 << 20, 4 << 20][rng.below(5)];
            let read = fuzz::decode_record_batches(input, budget);
            assert!(read.bytes <= input.len().max(budget) + budget);
        }
        Target::Decompress(c) => {
            let limit = [0, 100, 64 << 10, 1 << 20, 8 << 20][rng.below(5)];
            if let Ok(n) = fuzz::decompress(c, input, limit) {
                assert!(
                    n <= limit,
                    "codec {c}: {n} bytes out for a limit of {limit}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Seeds.

fn versions(k: ApiKey) -> impl Iterator<Item = i16> {
    let r = k.valid_versions();
    r.min..=r.max
}

/// The default request and response of every API at every version, and a
/// request frame of each request.
fn default_seeds(out: &mut Vec<Seed>) {
    for k in ApiKey::iter() {
        for v in versions(k) {
            let mut req = Vec::new();
            k.encode_default_request(v, &mut req).unwrap();
            let mut resp = Vec::new();
            k.encode_default_response(v, &mut resp).unwrap();
            let mut f = Vec::new();
            header(k, v, 7)
                .encode_vec(&mut f, k.request_header_version(v))
                .unwrap();
            f.extend_from_slice(&req);
            out.push(Seed {
                target: Target::Request(k, v),
                bytes: req,
            });
            out.push(Seed {
                target: Target::Response(k, v),
                bytes: resp,
            });
            out.push(Seed {
                target: Target::RequestFrame,
                bytes: f,
            });
        }
    }
}

fn header(k: ApiKey, v: i16, corr: i32) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(k as i16)
        .with_request_api_version(v)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
}

type RecordSpec<'a> = (
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    &'a [(&'a str, Option<&'a [u8]>)],
);

fn rec<'a>(
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [(&'a str, Option<&'a [u8]>)],
) -> RecordSpec<'a> {
    (key, value, headers)
}

/// Record batches in every codec, transactional or not, v2 and legacy.
fn batch_seeds(out: &mut Vec<Seed>) {
    let long = vec![b'x'; 3000];
    let hdrs: &[(&str, Option<&[u8]>)] = &[("h", Some(b"v")), ("n", None)];
    let sets: [Vec<RecordSpec<'_>>; 3] = [
        vec![rec(None, Some(b"v"), &[])],
        vec![
            rec(Some(b"k"), Some(&long), hdrs),
            rec(None, None, &[]),
            rec(Some(b""), Some(b"v2"), hdrs),
        ],
        (0..40)
            .map(|_| rec(Some(b"key"), Some(&long[..100]), hdrs))
            .collect(),
    ];
    let mut all = Vec::new();
    for set in &sets {
        for codec in 0..=4 {
            for txn in [false, true] {
                let b = fuzz::record_batch(set, codec, txn);
                all.extend_from_slice(&b);
                out.push(Seed {
                    target: Target::Batches,
                    bytes: b,
                });
            }
        }
    }
    out.push(Seed {
        target: Target::Batches,
        bytes: all,
    });
    for magic in [0, 1] {
        for codec in [0, 1, 2] {
            out.push(Seed {
                target: Target::Batches,
                bytes: legacy_message(magic, codec),
            });
        }
    }
}

/// A legacy message (magic 0 or 1), compressed as a wrapper of two inner
/// messages when `codec` is not 0.
fn legacy_message(magic: i8, codec: i8) -> Vec<u8> {
    use support::records::legacy_message as message;
    if codec == 0 {
        return message(5, magic, 0, Some(b"k"), b"value");
    }
    let mut inner = message(0, magic, 0, Some(b"k"), b"one");
    inner.extend(message(1, magic, 0, None, b"two"));
    let packed = fuzz::compress(codec as u8, &inner);
    message(1, magic, codec, None, &packed)
}

/// Compressed data in every codec, including small bombs.
fn compressed_seeds(out: &mut Vec<Seed>) {
    let text: Vec<u8> = (0..5000u32)
        .flat_map(|i| format!("{i} ").into_bytes())
        .collect();
    let zeros = vec![0u8; 2 << 20];
    for codec in 0..=4 {
        for data in [&b""[..], b"a", &text, &zeros] {
            out.push(Seed {
                target: Target::Decompress(codec),
                bytes: fuzz::compress(codec, data),
            });
        }
    }
    // Two gzip members, two zstd frames, and a xerial snappy stream.
    let mut gz = fuzz::compress(1, b"first");
    gz.extend(fuzz::compress(1, &text));
    let mut zs = fuzz::compress(4, &text);
    zs.extend(fuzz::compress(4, b"second"));
    let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    for c in text.chunks(4000) {
        let block = fuzz::compress(2, c);
        xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
        xerial.extend(block);
    }
    for (codec, bytes) in [(1, gz), (4, zs), (2, xerial)] {
        out.push(Seed {
            target: Target::Decompress(codec),
            bytes,
        });
    }
}

/// Responses (and the requests that asked for them) captured from the
/// embedded fake cluster: every API it serves at every version it
/// advertises, populated where a default request would only get an error.
fn captured_seeds(out: &mut Vec<Seed>) {
    let cluster = Cluster::builder().topic("t", 2).build().unwrap();
    let addr = cluster.seeds()[0].clone();
    let mut c = fake_raw::leader_of(&cluster, "t", 0);
    for (i, codec) in (0..=4).enumerate() {
        let set: Vec<RecordSpec<'_>> = (0..5)
            .map(|_| rec(Some(b"key"), Some(b"value value value"), &[]))
            .collect();
        let b = Bytes::from(fuzz::record_batch(&set, codec, false));
        let (err, _) = fake_raw::produce(&mut c, "t", 0, b);
        assert_eq!(err, 0, "produce {i}");
    }
    let advertised: HashMap<i16, (i16, i16)> = c
        .call(3, &fake_raw::api_versions_req())
        .unwrap()
        .api_keys
        .iter()
        .map(|a| (a.api_key, (a.min_version, a.max_version)))
        .collect();
    let mut conn = raw_conn(&addr);
    let mut corr = 0;
    for k in ApiKey::iter() {
        let Some(&(lo, hi)) = advertised.get(&(k as i16)) else {
            continue;
        };
        for v in lo.max(k.valid_versions().min)..=hi.min(k.valid_versions().max) {
            let Some(body) = populated_request(k, v) else {
                continue;
            };
            corr += 1;
            let mut f = Vec::new();
            header(k, v, corr)
                .encode_vec(&mut f, k.request_header_version(v))
                .unwrap();
            f.extend_from_slice(&body);
            out.push(Seed {
                target: Target::Request(k, v),
                bytes: body,
            });
            out.push(Seed {
                target: Target::RequestFrame,
                bytes: f.clone(),
            });
            match exchange(&mut conn, &f) {
                Some(resp) => {
                    let mut b = Bytes::from(resp);
                    if ResponseHeader::decode(&mut b, k.response_header_version(v)).is_ok() {
                        if k == ApiKey::Fetch {
                            harvest_records(&b, v, out);
                        }
                        out.push(Seed {
                            target: Target::Response(k, v),
                            bytes: b.to_vec(),
                        });
                    }
                }
                None => conn = raw_conn(&addr),
            }
        }
    }
    cluster.close();
}

fn raw_conn(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

/// Sends one request frame and reads one response frame.
fn exchange(s: &mut TcpStream, body: &[u8]) -> Option<Vec<u8>> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    s.write_all(&f).ok()?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut resp = vec![0u8; usize::try_from(i32::from_be_bytes(len)).ok()?];
    s.read_exact(&mut resp).ok()?;
    Some(resp)
}

/// A request worth an answer with data, where one is needed; else the
/// default request.
fn populated_request(k: ApiKey, v: i16) -> Option<Vec<u8>> {
    let mut b = Vec::new();
    let ok = match k {
        ApiKey::Metadata => MetadataRequest::default()
            .with_topics(if v == 0 { Some(vec![]) } else { None })
            .encode_vec(&mut b, v)
            .is_ok(),
        ApiKey::Fetch => fake_raw::fetch_req("t", 0, 0).encode_vec(&mut b, v).is_ok(),
        ApiKey::Produce => {
            let batch = Bytes::from(fuzz::record_batch(&[rec(None, Some(b"p"), &[])], 0, false));
            fake_raw::produce_req("t", 1, batch, -1)
                .encode_vec(&mut b, v)
                .is_ok()
        }
        ApiKey::ApiVersions => fake_raw::api_versions_req().encode_vec(&mut b, v).is_ok(),
        // A default join waits out the group's rebalance delay.
        ApiKey::JoinGroup => return None,
        _ => false,
    };
    if !ok {
        b.clear();
        k.encode_default_request(v, &mut b).ok()?;
    }
    Some(b)
}

/// The records fields of a captured fetch response, as batch seeds.
fn harvest_records(body: &Bytes, v: i16, out: &mut Vec<Seed>) {
    let mut b = body.clone();
    let Ok(r) = kafka_sync::messages::FetchResponse::decode(&mut b, v) else {
        return;
    };
    for t in &r.responses {
        for p in &t.partitions {
            if let Some(rec) = p.records.as_ref().filter(|r| !r.is_empty()) {
                out.push(Seed {
                    target: Target::Batches,
                    bytes: rec.to_vec(),
                });
            }
        }
    }
}

fn corpus() -> Vec<Seed> {
    let mut out = Vec::new();
    default_seeds(&mut out);
    batch_seeds(&mut out);
    compressed_seeds(&mut out);
    captured_seeds(&mut out);
    out
}

// ---------------------------------------------------------------------------
// The checks.

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts the panics of the client's threads and of unnamed threads, with
/// the default hook's report, which the decoder runs' own thread
/// (`fuzz-quiet`) skips: it catches and reports its panics with their inputs.
fn count_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().map(str::to_string);
            // The client's threads (ks-*) and unnamed ones (its callers, the
            // scripted broker's); not the test threads, whose own failed
            // assertions are reported by the harness.
            if name.as_deref().is_none_or(|n| n.starts_with("ks-")) {
                PANICS.fetch_add(1, Ordering::AcqRel);
            }
            if name.as_deref() != Some("fuzz-quiet") {
                prev(info);
            }
        }));
    });
}

fn env(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

const DEFAULT_SEED: u64 = 0x6b61_666b_615f_7379; // "kafka_sy"
const DEFAULT_INPUTS: u64 = 1_500_000;

fn seed() -> u64 {
    env("KS_FUZZ_SEED").unwrap_or(DEFAULT_SEED)
}

fn inputs() -> u64 {
    env("KS_FUZZ_INPUTS").unwrap_or(DEFAULT_INPUTS)
}

/// The client test's `broker_max_read_bytes`, and the size of the largest
/// decoder inputs.
const MAX_READ: i32 = 1 << 20;
/// How many bytes of memory a decoded message may take per byte of frame
/// (see [`alloc_bound`]).
const AMPLIFICATION: usize = 128;
/// What the process may use beyond decoding one frame of `MAX_READ` bytes
/// (`AMPLIFICATION` times that): the corpus, the decoders' budgets (4 MiB of
/// batches, 8 MiB of decompression), the 2 MiB seeds, the fake cluster and
/// the clients' threads and buffers.
const MEMORY_CONSTANT_KIB: u64 = 96 * 1024;

fn assert_memory_bounded(what: &str) {
    let kib = support::peak_rss_kib();
    println!("{what}: peak RSS (VmHWM) {kib} KiB");
    assert!(kib > 0, "VmHWM readable");
    let bound = AMPLIFICATION as u64 * MAX_READ as u64 / 1024 + MEMORY_CONSTANT_KIB;
    assert!(kib < bound, "peak RSS {kib} KiB over {bound} KiB");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Builds the input of index `i`: a seed, mutated (one in twenty left
/// valid), sometimes fed to another version of its API, and record batches
/// with their CRCs fixed half of the time.
fn input(seed: u64, i: u64, corpus: &[Seed], classes: &[Vec<usize>]) -> (Rng, Target, Vec<u8>) {
    let mut rng = Rng::for_input(seed, i);
    // Responses 40%, requests 15%, request frames 15%, batches and
    // compressed data 15% each: the message seeds outnumber the others.
    let class = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4][rng.below(20)];
    let pick = &classes[class];
    let s = &corpus[pick[rng.below(pick.len())]];
    let mut target = s.target;
    let mut data = s.bytes.clone();
    if !rng.one_in(20) {
        mutate(&mut rng, &mut data, corpus);
    }
    if rng.one_in(1000) {
        // A large input: counts up to a million then fit in the bytes left.
        let fill = [0u8, 1, 0xff][rng.below(3)];
        data.resize(data.len() + (1 << 20), fill);
        if data.len() > 8 + (1 << 20) {
            let i = rng.below(8);
            data[i..i + 4].copy_from_slice(&0x000f_0000u32.to_be_bytes());
        }
    }
    match &mut target {
        Target::Request(k, v) | Target::Response(k, v) if rng.one_in(10) => {
            let r = k.valid_versions();
            *v = r.min + rng.below((r.max - r.min + 1) as usize) as i16;
        }
        Target::Batches if rng.one_in(2) => fix_crcs(&mut data),
        Target::Decompress(c) if rng.one_in(10) => *c = rng.below(5) as u8,
        _ => {}
    }
    (rng, target, data)
}

#[test]
fn decoders_survive_mutated_inputs() {
    count_panics();
    let (seed, n) = (seed(), inputs());
    let started = Instant::now();
    let corpus = corpus();
    let only = env("KS_FUZZ_ONLY");
    let range = only.map_or(0..n, |i| i..i + 1);
    // Run on a thread of its own name so the panic hook stays quiet for the
    // panics caught here (each is reported below with its input instead).
    let report = std::thread::Builder::new()
        .name("fuzz-quiet".into())
        .spawn(move || {
            let classes = classes(&corpus);
            let mut failures = Vec::new();
            let mut max_alloc = 0usize;
            let mut per_target: HashMap<&'static str, u64> = HashMap::new();
            for i in range {
                let (mut rng, target, data) = input(seed, i, &corpus, &classes);
                *per_target.entry(target_name(target)).or_default() += 1;
                let before = held_reset();
                let res = panic::catch_unwind(AssertUnwindSafe(|| run(&mut rng, target, &data)));
                let used = (held_peak() - before).max(0) as usize;
                max_alloc = max_alloc.max(used);
                if res.is_ok() && used > alloc_bound(data.len()) {
                    failures.push(format!(
                        "KS_FUZZ_SEED={seed:#x} KS_FUZZ_ONLY={i} {target:?}: reserved {used} bytes for {} input bytes",
                        data.len()
                    ));
                }
                if let Err(p) = res {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!(
                        "KS_FUZZ_SEED={seed:#x} KS_FUZZ_ONLY={i} {target:?}: {msg}\n  input {}",
                        hex(&data)
                    ));
                }
            }
            (failures, per_target, corpus.len(), max_alloc)
        })
        .unwrap()
        .join()
        .unwrap();
    let (failures, per_target, seeds, max_alloc) = report;
    let mut counts: Vec<_> = per_target.into_iter().collect();
    counts.sort();
    println!(
        "fuzz decoders: seed {seed:#x}, {} inputs from {seeds} seeds, {} failures, largest allocation high-water of one input {max_alloc} bytes, {:.1} s; per target {counts:?}",
        only.map_or(n, |_| 1),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    for f in failures.iter().take(20) {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} inputs panicked or over-allocated",
        failures.len()
    );
    assert_memory_bounded("fuzz decoders");
}

/// What one input may make a decoder allocate: the decoders' budgets (8 MiB
/// of decompression, 4 MiB of batches, above) plus a multiple of the input
/// for the decoded structs: a 3-byte flexible topic entry (empty name, empty
/// array, no tags) is an 80-byte struct in memory, in a `Vec` that grows by
/// doubling (the long run measured 85 times, DeleteRecords v2).
fn alloc_bound(len: usize) -> usize {
    (16 << 20) + AMPLIFICATION * len
}

/// The indexes of the seeds of each class (see [`class_of`]).
fn classes(corpus: &[Seed]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); 5];
    for (i, s) in corpus.iter().enumerate() {
        out[class_of(s.target)].push(i);
    }
    out
}

fn class_of(t: Target) -> usize {
    match t {
        Target::Response(..) => 0,
        Target::Request(..) => 1,
        Target::RequestFrame => 2,
        Target::Batches => 3,
        Target::Decompress(_) => 4,
    }
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Request(..) => "request",
        Target::Response(..) => "response",
        Target::RequestFrame => "request frame",
        Target::Batches => "record batches",
        Target::Decompress(_) => "decompress",
    }
}

// ---------------------------------------------------------------------------
// Decompression bombs.

/// Streams `total` zero bytes through an encoder without holding them.
fn bomb(codec: u8, total: usize) -> Vec<u8> {
    let chunk = vec![0u8; 1 << 20];
    let mut out = Vec::new();
    match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::best());
            for _ in 0..total / chunk.len() {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap();
        }
        3 => {
            let mut e = lz4::EncoderBuilder::new().build(&mut out).unwrap();
            for _ in 0..total / chunk.len() {
                e.write_all(&chunk).unwrap();
            }
            let (_, r) = e.finish();
            r.unwrap();
        }
        4 => {
            let mut e = zstd::stream::write::Encoder::new(&mut out, 3).unwrap();
            for _ in 0..total / chunk.len() {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap();
        }
        _ => unreachable!(),
    }
    out
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    count_panics();
    const LIMIT: usize = 4 << 20;
    for codec in [1, 3, 4] {
        let b = bomb(codec, 128 << 20);
        assert!(
            b.len() < 2 << 20,
            "codec {codec}: a bomb of {} bytes",
            b.len()
        );
        assert_eq!(
            fuzz::decompress(codec, &b, LIMIT),
            Err(fuzz::DecompressFailure::Limit),
            "codec {codec}"
        );
    }
    // snappy: a raw block and a xerial chunk that claim 4 GiB of output.
    let raw = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, b'a'];
    assert_eq!(
        fuzz::decompress(2, &raw, LIMIT),
        Err(fuzz::DecompressFailure::Limit)
    );
    let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    for _ in 0..1000 {
        xerial.extend_from_slice(&7u32.to_be_bytes());
        xerial.extend_from_slice(&raw);
    }
    assert_eq!(
        fuzz::decompress(2, &xerial, LIMIT),
        Err(fuzz::DecompressFailure::Limit)
    );
    // A batch whose compressed records are a bomb: over budget, not decoded.
    let zeros = vec![0u8; 60_000];
    let batch = fuzz::record_batch(&[rec(None, Some(&zeros), &[])], 4, false);
    let read = fuzz::decode_record_batches(&batch, 10_000);
    assert!(
        read.error && read.over_budget && read.records == 0,
        "{read:?}"
    );
    assert_memory_bounded("decompression bombs");
}

// ---------------------------------------------------------------------------
// The whole client against a scripted broker answering with mutated frames.

/// What the scripted broker answers with: valid seeds per (key, version).
struct Answers {
    by_api: HashMap<(i16, i16), Vec<Vec<u8>>>,
    corpus: Vec<Seed>,
}

fn answers() -> Answers {
    let corpus = corpus();
    let mut by_api: HashMap<(i16, i16), Vec<Vec<u8>>> = HashMap::new();
    for s in &corpus {
        if let Target::Response(k, v) = s.target {
            by_api
                .entry((k as i16, v))
                .or_default()
                .push(s.bytes.clone());
        }
    }
    Answers { by_api, corpus }
}

fn script_metadata(port: u16) -> MetadataResponse {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host("127.0.0.1".into())
        .with_port(i32::from(port));
    let parts = (0..2)
        .map(|i| {
            MetadataResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(1))
                .with_replica_nodes(vec![BrokerId(1)])
                .with_isr_nodes(vec![BrokerId(1)])
        })
        .collect();
    let t = MetadataResponseTopic::default()
        .with_name(Some(TopicName("t".into())))
        .with_partitions(parts);
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_controller_id(BrokerId(1))
        .with_topics(vec![t])
}

/// ApiVersions advertising every API up to a random version.
fn script_versions(r: &Req, rng: &mut Rng) -> Vec<u8> {
    let keys = ApiKey::iter()
        .map(|k| {
            let v = k.valid_versions();
            let max = v.min + rng.below((v.max - v.min + 1) as usize) as i16;
            ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(v.min)
                .with_max_version(if rng.one_in(2) { v.max } else { max })
        })
        .collect();
    reply(r, &ApiVersionsResponse::default().with_api_keys(keys))
}

struct Script {
    rng: Rng,
    answers: Answers,
    port: u16,
}

/// One answer: valid, mutated in its body, or mutated as a frame (size and
/// correlation id included); or a dropped connection.
fn script_answer(st: &mut Script, r: &Req) -> Vec<Action> {
    let rng = &mut st.rng;
    if rng.one_in(40) {
        return vec![Action::Drop];
    }
    let valid = match r.key {
        18 => return vec![Action::Raw(script_versions(r, rng))],
        3 => reply(r, &script_metadata(st.port))[8..].to_vec(),
        _ => {
            let mut body = Vec::new();
            let seeds = st.answers.by_api.get(&(r.key, r.version));
            match seeds {
                Some(s) => body.clone_from(&s[rng.below(s.len())]),
                None => {
                    if let Ok(k) = ApiKey::try_from(r.key) {
                        let _ = k.encode_default_response(r.version, &mut body);
                    }
                }
            }
            body
        }
    };
    // Metadata stays valid half the time so that requests reach leaders.
    let mut body = valid;
    let hv = ApiKey::try_from(r.key).map_or(0, |k| k.response_header_version(r.version));
    if hv >= 1 && r.key == 3 {
        body.remove(0); // reply() framed it with the flexible header's tags
    }
    if !(r.key == 3 && rng.one_in(2)) {
        mutate(rng, &mut body, &st.answers.corpus);
    }
    let mut f = frame(r, &body);
    if rng.one_in(8) {
        let n = 1 + rng.below(2);
        for _ in 0..n {
            let i = rng.below(8.min(f.len()));
            f[i] = rng.byte();
        }
    }
    vec![Action::Raw(f)]
}

fn fuzz_client(addr: &str) -> Client {
    Client::builder()
        .seed_brokers([addr])
        .retry_backoff_fn(|_| Duration::from_millis(2))
        .request_retries(1)
        .retry_timeout(Duration::from_millis(500))
        .request_timeout_overhead(Duration::from_millis(300))
        .broker_max_read_bytes(MAX_READ)
        .record_delivery_timeout(Duration::from_millis(500))
        .consume_partitions(HashMap::from([(
            "t".to_string(),
            HashMap::from([(0, kafka_sync::Offset::new().at(0))]),
        )]))
        .fetch_max_wait(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[test]
fn client_survives_mutated_frames() {
    count_panics();
    support::init_logging();
    let frames = env("KS_FUZZ_CLIENT_FRAMES").unwrap_or((inputs() / 2000).max(300)) as usize;
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let clean = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Mutex::new(Script {
        rng: Rng::new(seed() ^ 0x00c1_1e47),
        answers: answers(),
        port: 0,
    }));
    let (st2, sent2, clean2) = (state.clone(), sent.clone(), clean.clone());
    let s = ScriptServer::start(move |r| {
        let mut st = st2.lock().unwrap();
        if clean2.load(Ordering::Acquire) {
            return match r.key {
                18 => vec![Action::Raw(support::script::api_versions(r))],
                3 => vec![Action::Raw(reply(r, &script_metadata(st.port)))],
                _ => vec![Action::Drop],
            };
        }
        sent2.fetch_add(1, Ordering::AcqRel);
        script_answer(&mut st, r)
    });
    state.lock().unwrap().port = s.port;
    // Mutated throttles stall a client's broker for up to MAX_THROTTLE, so
    // each worker takes a fresh client every few rounds, and the run is
    // bounded by time as well as by frames.
    let secs =
        env("KS_FUZZ_CLIENT_SECS").unwrap_or(if inputs() > DEFAULT_INPUTS { 300 } else { 8 });
    let calls = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (addr, sent, calls) = (s.addr(), sent.clone(), calls.clone());
            std::thread::spawn(move || {
                let budget = Duration::from_secs(secs);
                while sent.load(Ordering::Acquire) < frames && started.elapsed() < budget {
                    let c = fuzz_client(&addr);
                    for _ in 0..3 {
                        let _ = c.seed_brokers()[0]
                            .request(MetadataRequest::default().with_topics(None));
                        let _ = c.produce_sync_timeout(
                            [Record::string("v").with_topic("t")],
                            Duration::from_millis(500),
                        );
                        let _ = c.poll_fetches_timeout(Duration::from_millis(10));
                        calls.fetch_add(3, Ordering::AcqRel);
                    }
                    c.close();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let calls = calls.load(Ordering::Acquire);
    // A client still works once the broker stops lying.
    clean.store(true, Ordering::Release);
    let c = fuzz_client(&s.addr());
    let ok = support::wait_until(Duration::from_secs(10), || {
        c.seed_brokers()[0]
            .request(MetadataRequest::default().with_topics(None))
            .is_ok()
    });
    c.close();
    let panics = PANICS.load(Ordering::Acquire);
    println!(
        "fuzz client: seed {:#x}, {} mutated frames, {calls} calls, {panics} panics, {:.1} s",
        seed(),
        sent.load(Ordering::Acquire),
        started.elapsed().as_secs_f64()
    );
    assert!(ok, "the client answers again once the broker is sane");
    assert_eq!(
        panics, 0,
        "no thread panicked (the hook counts every panic)"
    );
    assert_memory_bounded("fuzz client");
}

/// Records the throttles the client reports.
#[derive(Debug, Default)]
struct Throttles(Mutex<Vec<Duration>>);

impl kafka_sync::Hook for Throttles {
    fn on_broker_throttle(
        &self,
        _: &kafka_sync::BrokerMetadata,
        throttle: Duration,
        _after_response: bool,
    ) {
        self.0.lock().unwrap().push(throttle);
    }
}

/// Found by the client fuzz: a response with `throttle_time_ms` 2^31-1
/// muted the broker for 24 days, and `produce_sync` waited with it (a
/// request not yet written has no deadline). The throttle is now capped.
#[test]
fn a_hostile_throttle_is_capped() {
    support::init_logging();
    let port = Arc::new(AtomicUsize::new(0));
    let p2 = port.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(support::script::api_versions(r))],
        3 => {
            let md =
                script_metadata(p2.load(Ordering::Acquire) as u16).with_throttle_time_ms(i32::MAX);
            vec![Action::Raw(reply(r, &md))]
        }
        _ => vec![Action::Drop],
    });
    port.store(s.port as usize, Ordering::Release);
    let seen = Arc::new(Throttles::default());
    let c = Client::builder()
        .seed_brokers([s.addr()])
        .with_hooks(seen.clone())
        .build()
        .unwrap();
    c.seed_brokers()[0]
        .request(MetadataRequest::default().with_topics(None))
        .unwrap();
    c.close();
    let seen = seen.0.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the throttle was reported");
    assert!(
        seen.iter().all(|d| *d == Duration::from_secs(30)),
        "capped at 30 s: {seen:?}"
    );
}
