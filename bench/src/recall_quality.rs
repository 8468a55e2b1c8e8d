//! `--recall-quality`: how often recall's answer, cut to 1,500 characters, holds the fact
//! a question asks for, on a generated multi-session dialogue set, beside a plain BM25
//! (SQLite FTS5's `bm25`, Porter stemming) over the raw turns cut the same way.
//!
//! The set: 24 people, ten sessions each, nine days apart. Each person states where they
//! live, their pet's name, their favourite food, their manager, their sister's wedding date
//! and, in one session, "tomorrow I fly to …", each in one of three wordings; half of them
//! move later and a third change their favourite food. Every session also holds small talk
//! that shares the questions' words, and a mention of someone else's city, pet, food or
//! manager, some in the speaker's own words ("my brother lives in …", "my neighbour's dog
//! is named …"). Questions come after every session is formed: six a person (144), in one
//! of two or three wordings, some sharing no word but the name with the statement, asked
//! without a counterparty.
//!
//! A fact counts when the answer holds it (case-insensitive); after a change of mind, when
//! it holds the new value before any mention of the old one; a "tomorrow" counts only as
//! the absolute date it resolves to, on the line that names the trip.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::data::fresh_andibase;
use super::{Args, Conn};

const BUDGET: usize = 1500;
const SESSIONS: usize = 10;

const PEOPLE: [&str; 24] = [
    "alice", "bruno", "chiara", "dmitri", "elena", "farid", "greta", "hiro", "ines", "jonas",
    "kalani", "lucia", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "sven", "tamar",
    "umar", "vera", "wen", "yusuf",
];
const CITIES: [&str; 16] = [
    "Lisbon", "Porto", "Berlin", "Osaka", "Quito", "Nairobi", "Oslo", "Perth", "Lyon", "Kraków",
    "Dublin", "Hanoi", "Lima", "Tunis", "Bergen", "Cusco",
];
const FOODS: [&str; 16] = [
    "ramen",
    "paella",
    "pierogi",
    "falafel",
    "lasagna",
    "ceviche",
    "pho",
    "goulash",
    "sushi",
    "tacos",
    "risotto",
    "borscht",
    "couscous",
    "dumplings",
    "moussaka",
    "curry",
];
const PETS: [&str; 24] = [
    "Biscuit", "Pepper", "Mochi", "Luna", "Ziggy", "Nala", "Otto", "Pixel", "Waffles", "Juniper",
    "Tofu", "Marble", "Rocket", "Clover", "Sprout", "Pickles", "Saffron", "Noodle", "Bramble",
    "Cinder", "Maple", "Figaro", "Gizmo", "Hazel",
];
const MANAGERS: [&str; 16] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Haddad",
    "Kowalski",
    "Brennan",
    "Ferreira",
    "Nakamura",
    "Petrov",
    "Castillo",
    "Mensah",
    "Schulz",
    "Ibrahim",
    "Varga",
    "Delgado",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Small talk: each line shares words with some question.
const SMALL_TALK: [&str; 12] = [
    "I live for the weekends honestly, work has been a lot",
    "The dog park near the office was crowded again",
    "My manager asked for the quarterly report by Friday",
    "The food at the canteen is getting worse every week",
    "A wedding planner called me by mistake this morning",
    "I might fly a kite on Sunday if the weather holds",
    "What is the name of that song we heard yesterday?",
    "My favourite podcast had a great episode about sleep",
    "Where does the time go, it is already the middle of the month",
    "Who is going to water the plants while I am away?",
    "My sister sent me photos from her garden",
    "When is the next long weekend, do you know?",
];
const REPLIES: [&str; 6] = [
    "That sounds great!",
    "Tell me more about it.",
    "Noted.",
    "I hope it goes well.",
    "Interesting, thanks for sharing.",
    "Got it.",
];

struct Person {
    name: &'static str,
    city: &'static str,
    moved_to: Option<&'static str>,
    food: &'static str,
    changed_to: Option<&'static str>,
    pet: &'static str,
    pet_kind: &'static str,
    manager: &'static str,
    wedding: String,
    trip: &'static str,
}

fn person(i: usize) -> Person {
    let other = |list: &'static [&'static str], k: usize, not: &str| {
        let v = list[k % list.len()];
        if v == not {
            list[(k + 1) % list.len()]
        } else {
            v
        }
    };
    let city = CITIES[i % 16];
    let food = FOODS[i % 16];
    Person {
        name: PEOPLE[i],
        city,
        moved_to: i.is_multiple_of(2).then(|| other(&CITIES, i * 7 + 3, city)),
        food,
        changed_to: i.is_multiple_of(3).then(|| other(&FOODS, i * 5 + 2, food)),
        pet: PETS[i],
        pet_kind: if i.is_multiple_of(2) { "dog" } else { "cat" },
        manager: MANAGERS[(i * 3) % 16],
        wedding: format!("{} {}", MONTHS[i % 12], (i * 7) % 27 + 1),
        trip: other(&CITIES, i * 11 + 5, city),
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (civil calendar).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// 2026-01-05 as days since the epoch.
const START: i64 = 20_458;

struct Session {
    person: usize,
    day: i64,
    turns: Vec<(String, String)>,
}

struct Question {
    query: String,
    expected: String,
    old: Option<String>,
    /// A word the line holding the fact must hold too (the trip's city, for its date).
    near: Option<String>,
    kind: &'static str,
}

/// Picks one of the wordings of set `set` with `next` (see [`SETS`]).
fn pick<'a>(next: &mut impl FnMut(usize) -> usize, set: usize, sets: [&[&'a str]; 3]) -> &'a str {
    let options = sets[set];
    options[next(options.len())]
}

/// The three sets of wordings: the recall heuristics were tuned on the first; the second
/// was written after that tuning, and then looked at for three more changes (the subject's
/// conversations, the pool of telling lines, the stricter stem rule); the third was
/// written after all of them, and no change to recall was made looking at its answers.
const SETS: [&str; 3] = [
    "wordings the heuristics were tuned on",
    "second wordings (written after the first tuning, then looked at)",
    "fresh wordings (written after all tuning, never tuned on)",
];

/// Fills `{}` placeholders of a template in order.
fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::new();
    let mut parts = template.split("{}");
    out.push_str(parts.next().unwrap_or(""));
    for (part, value) in parts.zip(values.iter().chain(std::iter::repeat(&""))) {
        out.push_str(value);
        out.push_str(part);
    }
    out
}

fn dataset(set: usize) -> (Vec<Session>, Vec<Question>) {
    let people: Vec<Person> = (0..PEOPLE.len()).map(person).collect();
    let mut sessions = Vec::new();
    let mut questions = Vec::new();
    let mut seed = 7u64;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    for (i, p) in people.iter().enumerate() {
        let o = &people[(i + 5) % people.len()];
        let q = &people[(i + 11) % people.len()];
        let r = &people[(i + 17) % people.len()];
        let n = &mut next;
        let facts: [Option<String>; SESSIONS] = [
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "I live in {} now, it is a lovely place",
                            "We settled in {} last year and I love the neighbourhood",
                            "Home is {} these days, the rent is fine",
                        ],
                        &[
                            "Finally unpacked in {}, the view from the balcony is great",
                            "My address changed, it is {} now",
                        ],
                        &[
                            "We live out in {} now, close to the river",
                            "Our flat in {} finally has heating",
                        ],
                    ],
                ),
                &[p.city],
            )),
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "Our {} is named {}, she is very playful",
                            "We adopted a {} and called her {}",
                            "My {} {} chewed my slippers again",
                        ],
                        &[
                            "Our new {} answers to {} when she feels like it",
                            "The {} we got from the shelter, {}, sleeps all day",
                        ],
                        &[
                            "Took the {} to the vet, poor {} hated it",
                            "Our {}, {}, learned to open doors",
                        ],
                    ],
                ),
                &[p.pet_kind, p.pet],
            )),
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "My favourite food is {}, always has been",
                            "Nothing beats {} for me, I could eat it every day",
                            "If I had to pick one dish forever it would be {}",
                        ],
                        &[
                            "I ordered {} three times this week and I am still not tired of it",
                            "Give me {} and I am happy",
                        ],
                        &[
                            "Had {} again tonight, it really is the best thing to eat",
                            "I keep cooking {} every weekend, cannot get enough",
                        ],
                    ],
                ),
                &[p.food],
            )),
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "My manager is {}, we get along fine",
                            "{} became my boss in the reorganisation",
                            "I report to {} now, she runs the team",
                        ],
                        &[
                            "{} is the person I answer to at work",
                            "At work {} signs off on everything I do",
                        ],
                        &[
                            "My team lead {} approved my holidays",
                            "Had my yearly review with {}, my boss",
                        ],
                    ],
                ),
                &[p.manager],
            )),
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "My sister's wedding is on {}",
                            "My sister is getting married on {}",
                            "Save the date: my sister marries on {}",
                        ],
                        &[
                            "The big day for my sister is {}",
                            "My sister and her fiancé set the date: {}",
                        ],
                        &[
                            "Flowers for my sister's wedding on {} are booked",
                            "My sister ties the knot on {}",
                        ],
                    ],
                ),
                &[&p.wedding],
            )),
            None,
            Some(fill(
                pick(
                    n,
                    set,
                    [
                        &[
                            "Tomorrow I fly to {} for a conference",
                            "I am flying to {} tomorrow for work",
                            "Packing now, my flight to {} leaves tomorrow",
                        ],
                        &[
                            "Heading to the airport tomorrow, {} here I come",
                            "Tomorrow I take the early plane to {}",
                        ],
                        &[
                            "My plane to {} leaves tomorrow at dawn",
                            "Tomorrow I am off to {} for a week",
                        ],
                    ],
                ),
                &[p.trip],
            )),
            p.moved_to.map(|c| {
                fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "Big news: we moved again, I now live in {}",
                                "We just relocated to {}, boxes everywhere",
                                "Our new home is in {} since the weekend",
                            ],
                            &[
                                "Signed the lease yesterday, we are {} people now",
                                "After the move, our place is in {}",
                            ],
                            &[
                                "We packed everything and moved to {}",
                                "From now on you can find us in {}",
                            ],
                        ],
                    ),
                    &[c],
                )
            }),
            p.changed_to.map(|f| {
                fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "I changed my mind about food, my favourite food is now {}",
                                "Honestly I am over it; these days {} is my favourite",
                                "New favourite dish: {}, I cannot stop eating it",
                            ],
                            &[
                                "Lately I crave {} more than anything",
                                "These days I would pick {} over anything else",
                            ],
                            &[
                                "I used to love other dishes but now {} is my favourite food",
                                "Switched favourites: {} wins now",
                            ],
                        ],
                    ),
                    &[f],
                )
            }),
            None,
        ];
        for (k, fact) in facts.into_iter().enumerate() {
            let day = START + (i as i64) + 9 * k as i64;
            let mut said: Vec<String> = (0..3)
                .map(|_| SMALL_TALK[next(SMALL_TALK.len())].to_string())
                .collect();
            // Other people's facts, as passing mentions, some in the speaker's own words.
            said.push(match next(7) {
                0 => format!("My cousin lives in {}", o.moved_to.unwrap_or(o.city)),
                1 => format!("A friend's {} is named {}", q.pet_kind, q.pet),
                2 => format!("I tried {} at a street market but it was too salty", o.food),
                3 => format!("I read that {} gave a talk at the conference", q.manager),
                4 => format!("My brother lives in {} and loves it", r.city),
                5 => format!("My neighbour's {} is named {}", r.pet_kind, r.pet),
                _ => format!("I had {} for lunch, it was fine", r.food),
            });
            if let Some(f) = fact {
                let at = next(said.len() + 1);
                said.insert(at, f);
            }
            let turns = said
                .into_iter()
                .flat_map(|line| {
                    [
                        (p.name.to_string(), line),
                        (
                            "assistant".to_string(),
                            REPLIES[next(REPLIES.len())].to_string(),
                        ),
                    ]
                })
                .collect();
            sessions.push(Session {
                person: i,
                day,
                turns,
            });
        }
        let trip_day = START + (i as i64) + 9 * 6 + 1;
        let name = p.name;
        let n = &mut next;
        questions.extend([
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "Where does {} live?",
                                "Which city is {} living in?",
                                "Where is {}'s home?",
                            ],
                            &[
                                "In which town does {} reside?",
                                "What is {}'s current city?",
                            ],
                            &[
                                "Where is {} living these days?",
                                "What city does {} call home?",
                            ],
                        ],
                    ),
                    &[name],
                ),
                expected: p.moved_to.unwrap_or(p.city).to_string(),
                old: p.moved_to.map(|_| p.city.to_string()),
                near: None,
                kind: "where they live (half moved)",
            },
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "What is the name of {}'s {}?",
                                "What did {} call the {}?",
                                "What is {}'s {} called?",
                            ],
                            &[
                                "Does {} have a {}, and what is it called?",
                                "How is {}'s {} named?",
                            ],
                            &[
                                "What name did {} give the {}?",
                                "What is {} calling the {}?",
                            ],
                        ],
                    ),
                    &[name, p.pet_kind],
                ),
                expected: p.pet.to_string(),
                old: None,
                near: None,
                kind: "a pet's name",
            },
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "What is {}'s favourite food?",
                                "Which dish does {} like most?",
                                "What food does {} love?",
                            ],
                            &[
                                "What does {} enjoy eating most?",
                                "What meal does {} prefer?",
                            ],
                            &[
                                "What is {}'s favourite thing to eat?",
                                "Which food does {} like best?",
                            ],
                        ],
                    ),
                    &[name],
                ),
                expected: p.changed_to.unwrap_or(p.food).to_string(),
                old: p.changed_to.map(|_| p.food.to_string()),
                near: None,
                kind: "favourite food (a third changed)",
            },
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "Who is {}'s manager?",
                                "Who is {}'s boss?",
                                "Whom does {} report to?",
                            ],
                            &["Who supervises {} at work?", "Who is {}'s supervisor?"],
                            &["Who does {} work for?", "Who is the boss of {}?"],
                        ],
                    ),
                    &[name],
                ),
                expected: p.manager.to_string(),
                old: None,
                near: None,
                kind: "a manager's name",
            },
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "When is {}'s sister's wedding?",
                                "On what date does {}'s sister get married?",
                            ],
                            &[
                                "What date is the wedding of {}'s sister?",
                                "When does {}'s sister marry?",
                            ],
                            &[
                                "When will {}'s sister get married?",
                                "What is the date of {}'s sister's wedding?",
                            ],
                        ],
                    ),
                    &[name],
                ),
                expected: p.wedding.clone(),
                old: None,
                near: None,
                kind: "a date stated",
            },
            Question {
                query: fill(
                    pick(
                        n,
                        set,
                        [
                            &[
                                "When did {} fly to {}?",
                                "On which day was {}'s flight to {}?",
                            ],
                            &["What day did {} travel to {}?", "When was {}'s trip to {}?"],
                            &[
                                "When was {} flying to {}?",
                                "Which day did {} leave for {}?",
                            ],
                        ],
                    ),
                    &[name, p.trip],
                ),
                expected: date(trip_day),
                old: None,
                near: Some(p.trip.to_string()),
                kind: "a date said as \"tomorrow\"",
            },
        ]);
    }
    // Sessions arrive in time order, people interleaved.
    sessions.sort_by_key(|s| (s.day, s.person));
    (sessions, questions)
}

fn holds(answer: &str, q: &Question) -> bool {
    if let Some(near) = &q.near {
        let (want, near) = (q.expected.to_lowercase(), near.to_lowercase());
        return answer
            .to_lowercase()
            .lines()
            .any(|l| l.contains(&want) && l.contains(&near));
    }
    let a = answer.to_lowercase();
    let Some(at) = a.find(&q.expected.to_lowercase()) else {
        return false;
    };
    match &q.old {
        Some(old) => a.find(&old.to_lowercase()).is_none_or(|o| at < o),
        None => true,
    }
}

/// Plain BM25 over the raw turns: every turn a document (`speaker (date): text`, Porter
/// stemmed), the question's words OR-ed, best first, cut at the budget.
fn bm25_answers(sessions: &[Session], questions: &[Question]) -> Vec<String> {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch("CREATE VIRTUAL TABLE turns USING fts5(body, tokenize = 'porter unicode61')")
        .unwrap();
    for s in sessions {
        for (who, text) in &s.turns {
            db.execute(
                "INSERT INTO turns (body) VALUES (?)",
                [format!("{who} ({}): {text}", date(s.day))],
            )
            .unwrap();
        }
    }
    questions
        .iter()
        .map(|q| {
            let words: Vec<String> = q
                .query
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() > 1)
                .map(|w| format!("\"{w}\""))
                .collect();
            let mut stmt = db
                .prepare("SELECT body FROM turns WHERE turns MATCH ? ORDER BY bm25(turns) LIMIT 50")
                .unwrap();
            let rows: Vec<String> = stmt
                .query_map([words.join(" OR ")], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut out = String::new();
            for r in rows {
                if out.chars().count() + r.chars().count() + 1 > BUDGET {
                    break;
                }
                out.push_str(&r);
                out.push('\n');
            }
            out
        })
        .collect()
}

/// Forms `sessions` in space `space` and asks `questions`; the answers, and how long
/// forming took.
async fn ask(
    c: &mut Conn,
    hs: &[(&str, &str)],
    space: &str,
    sessions: &[Session],
    questions: &[Question],
) -> (Vec<String>, Duration) {
    let (s, b) = c
        .send(
            "POST",
            "/admin/create_space",
            hs,
            Some(&json!({"space_id": space, "tier": 4})),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let started = Instant::now();
    for s in sessions {
        let messages: Vec<Value> = s
            .turns
            .iter()
            .map(|(who, text)| match who.as_str() {
                "assistant" => json!({"role": "assistant", "content": text}),
                user => json!({"role": "user", "user": user, "content": text}),
            })
            .collect();
        let body = json!({"messages": messages, "timestamp": format!("{}T18:00:00Z", date(s.day))});
        let (st, b) = c
            .send("POST", &format!("/v1/{space}/formation"), hs, Some(&body))
            .await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    }
    loop {
        let (_, body) = c.send("GET", &format!("/v1/{space}/info"), hs, None).await;
        let info: Value = serde_json::from_slice(&body).unwrap();
        if info["result"]["formation_processed_id"].as_u64() == Some(sessions.len() as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let formed = started.elapsed();
    let mut answers = Vec::new();
    for q in questions {
        let (st, b) = c
            .send(
                "POST",
                &format!("/v1/{space}/recall"),
                hs,
                Some(&json!({"query": q.query, "max_chars": BUDGET})),
            )
            .await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        let v: Value = serde_json::from_slice(&b).unwrap();
        answers.push(v["result"]["content"].as_str().unwrap_or("").to_string());
    }
    (answers, formed)
}

pub async fn bench_recall_quality(args: &Args) {
    let (data, key, addr, mut child) = fresh_andibase(args, "recall-quality").await;
    let auth = format!("Bearer {key}");
    let hs = [("Authorization", auth.as_str())];
    let mut c = Conn::open(&addr).await.unwrap();
    for (set, label) in SETS.iter().enumerate() {
        let (sessions, questions) = dataset(set);
        let space = format!("set{set}");
        let (ours, formed) = ask(&mut c, &hs, &space, &sessions, &questions).await;
        let theirs = bm25_answers(&sessions, &questions);
        println!(
            "\n{label}: {} sessions of {} people ({} turns), formed without a model in {:.1} s; {} questions; answers cut to {BUDGET} characters",
            sessions.len(),
            PEOPLE.len(),
            sessions.iter().map(|s| s.turns.len()).sum::<usize>(),
            formed.as_secs_f64(),
            questions.len()
        );
        println!();
        println!("| question kind | n | model-free recall | BM25 over raw turns |");
        println!("|---|---:|---:|---:|");
        let mut kinds: Vec<&str> = Vec::new();
        for q in &questions {
            if !kinds.contains(&q.kind) {
                kinds.push(q.kind);
            }
        }
        let pct = |hits: usize, n: usize| 100.0 * hits as f64 / n.max(1) as f64;
        for kind in kinds.iter().copied().chain(["all"]) {
            let picked: Vec<usize> = (0..questions.len())
                .filter(|&i| kind == "all" || questions[i].kind == kind)
                .collect();
            let a = picked
                .iter()
                .filter(|&&i| holds(&ours[i], &questions[i]))
                .count();
            let b = picked
                .iter()
                .filter(|&&i| holds(&theirs[i], &questions[i]))
                .count();
            println!(
                "| {kind} | {} | {:.0}% | {:.0}% |",
                picked.len(),
                pct(a, picked.len()),
                pct(b, picked.len())
            );
        }
        if std::env::var("SHOW_MISSES").is_ok() {
            for (i, q) in questions.iter().enumerate() {
                if !holds(&ours[i], q) {
                    println!("\nMISS {} (want {}):\n{}", q.query, q.expected, ours[i]);
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}
