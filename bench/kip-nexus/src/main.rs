//! KIP engine benchmark: andibase-kip (SQLite file) against the reference engine,
//! anda_cognitive_nexus 0.8.4 (AndaDB on an in-memory object store, which spares it any
//! disk I/O), running the same command texts in one process, one after the other.
//!
//! cargo run --release --manifest-path bench/kip-nexus/Cargo.toml -- [--concepts N]
//!     [--propositions N] [--iterations N] [--only-andibase]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anda_cognitive_nexus::{db_to_kip_error, CognitiveNexus};
use anda_db::database::{AndaDB, DBConfig};
use anda_db::storage::StorageConfig;
use anda_kip::{execute_kip, Response};
use andibase_kip::{Engine, Mode};
use object_store::memory::InMemory;

struct Args {
    concepts: usize,
    propositions: usize,
    iterations: usize,
    only_andibase: bool,
    dir: std::path::PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        concepts: 100_000,
        propositions: 300_000,
        iterations: 200,
        only_andibase: false,
        dir: std::env::temp_dir().join(format!("kip-bench-{}", std::process::id())),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a number")
        };
        match flag.as_str() {
            "--concepts" => a.concepts = value(),
            "--propositions" => a.propositions = value(),
            "--iterations" => a.iterations = value(),
            "--only-andibase" => a.only_andibase = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

// ---------- the generated graph ----------

const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ren", "sa", "to", "vi", "an", "del", "fo", "gu", "ha", "jo", "ku", "ma",
    "no", "pe", "ri", "su", "ta",
];

/// A pseudo-word of three syllables: 8,000 distinct words.
fn word(n: usize) -> String {
    let n = n % 8000;
    format!(
        "{}{}{}",
        SYLLABLES[n % 20],
        SYLLABLES[n / 20 % 20],
        SYLLABLES[n / 400 % 20]
    )
}

fn mix(n: usize) -> usize {
    (n.wrapping_mul(2_654_435_761) ^ (n >> 7)) % 1_000_003
}

const TYPES: [&str; 4] = ["BPerson", "BCompany", "BCity", "BTopic"];

fn name(ty: usize, i: usize) -> String {
    format!(
        "{} {} {}{}",
        word(mix(i * 4 + ty)),
        word(mix(i * 4 + ty + 1_000_000)),
        &TYPES[ty][1..2].to_lowercase(),
        i
    )
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn schema() -> String {
    let mut s = String::from("UPSERT {\n");
    for t in TYPES {
        s.push_str(&format!("  CONCEPT ?{t} {{ {{type: \"$ConceptType\", name: \"{t}\"}} SET ATTRIBUTES {{ description: \"bench type {t}\" }} }}\n"));
    }
    for p in [
        "works_at",
        "lives_in",
        "knows",
        "interested_in",
        "located_in",
        "related_to",
    ] {
        s.push_str(&format!("  CONCEPT ?{p} {{ {{type: \"$PropositionType\", name: \"{p}\"}} SET ATTRIBUTES {{ description: \"bench predicate {p}\" }} }}\n"));
    }
    s.push('}');
    s
}

fn attributes(ty: usize, i: usize) -> String {
    match ty {
        0 => format!(
            "{{ age: {}, score: {:.3}, bio: {} }}",
            18 + mix(i) % 60,
            (mix(i + 7) % 10_000) as f64 / 100.0,
            quote(&format!(
                "{} {} {} {}",
                word(mix(i + 1)),
                word(mix(i + 2)),
                word(mix(i + 3)),
                word(mix(i + 4))
            ))
        ),
        1 => format!(
            "{{ employees: {}, industry: {} }}",
            mix(i) % 5000,
            quote(&word(mix(i) % 50))
        ),
        2 => format!("{{ population: {} }}", mix(i) * 10),
        _ => format!(
            "{{ description: {} }}",
            quote(&format!("{} {}", word(mix(i + 9)), word(mix(i + 11))))
        ),
    }
}

/// Capsules of `batch` concept blocks each: a quarter of the concepts per type.
fn concept_capsules(concepts: usize, batch: usize) -> Vec<String> {
    let per_type = concepts / 4;
    let mut out = Vec::new();
    let mut body = String::new();
    let mut n = 0;
    for ty in 0..4 {
        for i in 0..per_type {
            body.push_str(&format!(
                "CONCEPT ?c{n} {{ {{type: \"{}\", name: {}}} SET ATTRIBUTES {} }}\n",
                TYPES[ty],
                quote(&name(ty, i)),
                attributes(ty, i)
            ));
            n += 1;
            if n % batch == 0 {
                out.push(format!(
                    "UPSERT {{\n{body}}} WITH METADATA {{ source: \"bench\", confidence: 0.9 }}"
                ));
                body.clear();
            }
        }
    }
    if !body.is_empty() {
        out.push(format!(
            "UPSERT {{\n{body}}} WITH METADATA {{ source: \"bench\", confidence: 0.9 }}"
        ));
    }
    out
}

fn concept(ty: usize, i: usize) -> String {
    format!("{{type: \"{}\", name: {}}}", TYPES[ty], quote(&name(ty, i)))
}

/// The link set: per person works_at, lives_in, 4× knows, 4× interested_in; per company
/// located_in; per topic related_to — 300,000 links at 100,000 concepts.
fn links(concepts: usize, limit: usize) -> Vec<(usize, usize, &'static str, usize, usize)> {
    let per_type = concepts / 4;
    let mut out = Vec::new();
    for i in 0..per_type {
        out.push((0, i, "works_at", 1, mix(i) % per_type));
        out.push((0, i, "lives_in", 2, mix(i + 1) % per_type));
        for k in 0..4 {
            let mut friend = mix(i * 4 + k + 17) % per_type;
            if friend == i {
                friend = (friend + 1) % per_type;
            }
            out.push((0, i, "knows", 0, friend));
            out.push((0, i, "interested_in", 3, mix(i * 4 + k + 99) % per_type));
        }
        out.push((1, i, "located_in", 2, mix(i + 5) % per_type));
        let mut other = mix(i + 33) % per_type;
        if other == i {
            other = (other + 1) % per_type;
        }
        out.push((3, i, "related_to", 3, other));
    }
    out.sort();
    out.dedup_by(|a, b| (a.0, a.1, a.2, a.3, a.4) == (b.0, b.1, b.2, b.3, b.4));
    out.truncate(limit);
    out
}

fn link_capsules(concepts: usize, propositions: usize, batch: usize) -> Vec<String> {
    let all = links(concepts, propositions);
    all.chunks(batch)
        .map(|chunk| {
            let body: String = chunk
                .iter()
                .enumerate()
                .map(|(k, (st, si, p, ot, oi))| {
                    format!("PROPOSITION ?l{k} {{ ({}, \"{p}\", {}) SET ATTRIBUTES {{ weight: {} }} }}\n", concept(*st, *si), concept(*ot, *oi), (si + oi) % 10)
                })
                .collect();
            format!("UPSERT {{\n{body}}} WITH METADATA {{ source: \"bench\" }}")
        })
        .collect()
}

// ---------- the two engines behind one interface ----------

enum Subject {
    Andibase(Engine),
    Nexus(CognitiveNexus, tokio::runtime::Runtime),
}

impl Subject {
    fn label(&self) -> &'static str {
        match self {
            Subject::Andibase(_) => "andibase-kip",
            Subject::Nexus(..) => "anda_cognitive_nexus 0.8.4",
        }
    }

    /// Runs a command; returns a compact form of its result, or panics on an error.
    fn run(&mut self, command: &str) -> serde_json::Value {
        match self {
            Subject::Andibase(engine) => {
                match engine.execute_command(command, Mode::ReadWrite, false) {
                    Ok(out) => out.result,
                    Err(e) => panic!("andibase: {e}\n{}", &command[..command.len().min(300)]),
                }
            }
            Subject::Nexus(nexus, rt) => {
                let (_, response) = rt.block_on(execute_kip(nexus, command, false));
                match response {
                    Response::Ok { result, .. } => result,
                    Response::Err { error, .. } => {
                        panic!("nexus: {error:?}\n{}", &command[..command.len().min(300)])
                    }
                }
            }
        }
    }
}

fn nexus() -> Subject {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let nexus = rt.block_on(async {
        let config = DBConfig {
            name: "kip_bench".into(),
            description: "bench".into(),
            // The default 2 MiB object cap makes its type index fail near 30,000 concepts.
            storage: StorageConfig {
                compress_level: 0,
                max_small_object_size: 256 << 20,
                ..Default::default()
            },
            lock: None,
        };
        let db = AndaDB::connect(Arc::new(InMemory::new()), config)
            .await
            .map_err(db_to_kip_error)
            .unwrap();
        CognitiveNexus::connect(Arc::new(db), async |_| Ok(()))
            .await
            .unwrap()
    });
    Subject::Nexus(nexus, rt)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Figure {
    p50: Duration,
    p99: Duration,
    sample: String,
    /// The first measured result, to check that both engines answer alike.
    first: serde_json::Value,
}

/// A result in a comparable form: rows sorted for the unordered workloads, hit names for
/// SEARCH (its scores differ by design), nothing for writes (ids differ).
fn comparable(workload: usize, v: &serde_json::Value) -> serde_json::Value {
    let sorted = |mut items: Vec<String>| {
        items.sort();
        serde_json::json!(items)
    };
    match workload {
        0 => v.clone(),
        1 => {
            let cols: Vec<Vec<serde_json::Value>> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_array().unwrap().clone())
                .collect();
            sorted(
                (0..cols[0].len())
                    .map(|i| format!("{}|{}", cols[0][i], cols[1][i]))
                    .collect(),
            )
        }
        2 => sorted(
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.to_string())
                .collect(),
        ),
        3 => sorted(
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].to_string())
                .collect(),
        ),
        _ => serde_json::Value::Null,
    }
}

fn measure(
    subject: &mut Subject,
    iterations: usize,
    mut command: impl FnMut(usize) -> String,
) -> Figure {
    for i in 0..iterations.min(10) {
        subject.run(&command(1_000_000 + i));
    }
    let mut times = Vec::with_capacity(iterations);
    let mut sample = String::new();
    let mut first = serde_json::Value::Null;
    for i in 0..iterations {
        let text = command(i);
        let start = Instant::now();
        let result = subject.run(&text);
        times.push(start.elapsed());
        if i == 0 {
            sample = result.to_string().chars().take(90).collect();
            first = result;
        }
    }
    times.sort();
    Figure {
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        sample,
        first,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

type Workload = (&'static str, usize, Box<dyn Fn(usize) -> String>);

fn workloads(per_type: usize, iterations: usize) -> Vec<Workload> {
    vec![
        (
            "typed FIND + FILTER + ORDER BY LIMIT 20",
            iterations,
            Box::new(move |i| {
                let lo = 20 + i % 40;
                format!(
                    "FIND(?p.name, ?p.attributes.score) WHERE {{ ?p {{type: \"BPerson\"}} FILTER(?p.attributes.age >= {lo} && ?p.attributes.age < {}) }} ORDER BY ?p.attributes.score DESC LIMIT 20",
                    lo + 2
                )
            }),
        ),
        (
            "two-pattern join",
            iterations,
            Box::new(move |i| {
                format!(
                    "FIND(?p.name, ?city.name) WHERE {{ (?p, \"works_at\", {}) (?p, \"lives_in\", ?city) }}",
                    concept(1, mix(i + 3) % per_type)
                )
            }),
        ),
        (
            "3-hop traversal (knows{3})",
            iterations,
            Box::new(move |i| {
                format!(
                    "FIND(?x.name) WHERE {{ ?a {} (?a, \"knows\"{{3}}, ?x) }}",
                    concept(0, mix(i + 11) % per_type)
                )
            }),
        ),
        (
            "SEARCH CONCEPT over names",
            iterations,
            Box::new(move |i| {
                let n = name(0, mix(i + 21) % per_type);
                let words: Vec<&str> = n.split(' ').take(2).collect();
                format!(
                    "SEARCH CONCEPT {} WITH TYPE \"BPerson\" LIMIT 10",
                    quote(&words.join(" "))
                )
            }),
        ),
        (
            "100-block UPSERT capsule",
            (iterations / 4).max(10),
            Box::new(move |i| {
                let body: String = (0..100)
                    .map(|k| {
                        format!(
                            "CONCEPT ?n{k} {{ {{type: \"BTopic\", name: \"fresh {i} {k}\"}} SET ATTRIBUTES {{ description: \"new topic {k}\", rank: {k} }} SET PROPOSITIONS {{ (\"related_to\", {}) }} }}\n",
                            concept(3, (i * 100 + k) % per_type)
                        )
                    })
                    .collect();
                format!("UPSERT {{\n{body}}} WITH METADATA {{ source: \"bench-upsert\" }}")
            }),
        ),
    ]
}

fn main() {
    let args = args();
    std::fs::create_dir_all(&args.dir).unwrap();
    let per_type = args.concepts / 4;
    println!(
        "# KIP bench: {} concepts, {} propositions, {} iterations per read command",
        args.concepts, args.propositions, args.iterations
    );
    let concept_batches = concept_capsules(args.concepts, 500);
    let link_batches = link_capsules(args.concepts, args.propositions, 500);

    let mut subjects = vec![Subject::Andibase(
        Engine::open(args.dir.join("graph.db")).unwrap(),
    )];
    if !args.only_andibase {
        subjects.push(nexus());
    }
    let mut results: Vec<Vec<Figure>> = Vec::new();
    for subject in &mut subjects {
        subject.run(&schema());
        let start = Instant::now();
        for capsule in &concept_batches {
            subject.run(capsule);
        }
        let concepts_took = start.elapsed();
        let start = Instant::now();
        for capsule in &link_batches {
            subject.run(capsule);
        }
        let links_took = start.elapsed();
        println!(
            "{:<28} load: {} concepts in {:.1} s ({:.0}/s), {} links in {:.1} s ({:.0}/s)",
            subject.label(),
            args.concepts,
            concepts_took.as_secs_f64(),
            args.concepts as f64 / concepts_took.as_secs_f64(),
            args.propositions,
            links_took.as_secs_f64(),
            args.propositions as f64 / links_took.as_secs_f64()
        );
        let mut figures = Vec::new();
        for (label, iterations, command) in workloads(per_type, args.iterations) {
            let figure = measure(subject, iterations, &command);
            println!(
                "  {:<42} p50 {:>9} ms  p99 {:>9} ms   {}",
                label,
                ms(figure.p50),
                ms(figure.p99),
                figure.sample
            );
            figures.push(figure);
        }
        results.push(figures);
    }
    if results.len() == 2 {
        println!("\n| command | andibase-kip p50 / p99 (ms) | anda_cognitive_nexus p50 / p99 (ms) | speed-up p50 / p99 | same answer |");
        println!("|---|---|---|---|---|");
        for (k, (label, ..)) in workloads(per_type, args.iterations).iter().enumerate() {
            let (a, n) = (&results[0][k], &results[1][k]);
            let same = match (comparable(k, &a.first), comparable(k, &n.first)) {
                (serde_json::Value::Null, _) => "n/a (new ids)".to_string(),
                // Rankings differ by design (BM25 implementations, tokenizers).
                (x, y) if k == 3 => {
                    let (x, y) = (x.as_array().unwrap(), y.as_array().unwrap());
                    let top = a.first[0]["name"] == n.first[0]["name"];
                    let overlap = x.iter().filter(|h| y.contains(h)).count();
                    format!(
                        "top hit {}, {overlap} of {} hits shared",
                        if top { "same" } else { "differs" },
                        y.len()
                    )
                }
                (x, y) if x == y => "yes".to_string(),
                (x, y) => format!("NO: {x} vs {y}"),
            };
            println!(
                "| {label} | {} / {} | {} / {} | {:.1}× / {:.1}× | {same} |",
                ms(a.p50),
                ms(a.p99),
                ms(n.p50),
                ms(n.p99),
                n.p50.as_secs_f64() / a.p50.as_secs_f64(),
                n.p99.as_secs_f64() / a.p99.as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&args.dir);
}
