//! Recall without a model: a deterministic retrieval over the space's graph. KIP's SEARCH
//! finds the concepts whose words match the question (absolute BM25 scores); Events give
//! the lines of their conversation that hold the question's words, with the line before
//! and after for context; other concepts give their attributes. Hits are ranked by score,
//! then by recency, and written as compact Markdown with their sources and dates, cut to
//! a character budget. With a model, the recall agent (`agents`) answers instead, given
//! those hits as a head start. Each recall is kept as a conversation of the `recall` collection.

use andibase_common::{DomainError, DomainResult};
use andibase_kip::Mode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::agents::{Agent, AgentRun};
use crate::conversations::NewConversation;
use crate::formation::InputContext;
use crate::formation::RECENT_CONVERSATIONS;
use crate::words::{self, matched, Wanted};
use crate::{Memory, Space};

/// The collection recall conversations are in.
pub const RECALL: &str = "recall";
/// What an answer holds at most unless the caller says otherwise.
const DEFAULT_BUDGET: usize = 1500;
const MAX_BUDGET: usize = 20_000;
const MAX_QUERY: usize = 2000;
/// Concepts SEARCH returns to consider (a 1,500-character answer holds about six Events;
/// each candidate costs a node read, most of a common question's time at 30).
const CANDIDATES: usize = 12;
/// The latest conversations of the question's subject considered besides.
const SUBJECT_EVENTS: usize = 40;

/// Seed 003's `RecallInput`, and how long the answer may be.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallInput {
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<InputContext>,
    /// Characters the answer may hold (default 1,500, at most 20,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chars: Option<usize>,
}

/// The lines of a conversation summary (`speaker: text`) that answer best: each line's
/// score is how many of `wanted` it holds, the speaker's name included; a line counts only
/// when its text holds one. Gives the best score and its lines, each question among them
/// with the line after (its answer).
fn relevant_lines(summary: &str, wanted: &[Wanted]) -> (usize, Vec<String>) {
    let lines: Vec<&str> = summary.lines().collect();
    let scores: Vec<usize> = lines
        .iter()
        .map(|l| {
            let (speaker, text) = l.split_once(": ").unwrap_or(("", l));
            let in_text = matched(&andibase_text::tokens(text), wanted);
            if in_text.is_empty() {
                return 0;
            }
            let mut all = in_text;
            all.extend(matched(&andibase_text::tokens(speaker), wanted));
            all.sort_unstable();
            all.dedup();
            all.len()
        })
        .collect();
    let best = scores.iter().copied().max().unwrap_or(0);
    if best == 0 {
        return (0, Vec::new());
    }
    let mut keep = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        if scores[i] == best {
            keep[i] = true;
            if l.trim_end().ends_with('?') && i + 1 < lines.len() {
                keep[i + 1] = true;
            }
        }
    }
    let kept = lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| l.to_string())
        .collect();
    (best, kept)
}

/// A hit written for the answer.
struct Found {
    /// How many of the question's words its best line holds.
    lines_score: usize,
    /// SEARCH's score.
    score: f64,
    /// The time it is about (ISO 8601), for recency.
    when: String,
    markdown: Option<String>,
    /// Its other lines (not the assistant's), to fill what budget is left.
    more: Vec<String>,
}

fn describe(hit: &Value, wanted: &[Wanted]) -> Option<Found> {
    let ty = hit["type"].as_str()?;
    // `$system` is the maintainer's own node, never what a question is about.
    if ty.starts_with('$') || ty == "Domain" || hit["name"] == "$system" {
        return None;
    }
    let score = hit["metadata"]["_score"].as_f64().unwrap_or(0.0);
    let name = hit["name"].as_str().unwrap_or("");
    let attributes = &hit["attributes"];
    if ty == "Event" {
        let when = attributes["start_time"].as_str().unwrap_or("").to_string();
        let summary = attributes["content_summary"].as_str().unwrap_or("");
        let (lines_score, lines) = relevant_lines(summary, wanted);
        let source = match attributes["conversation"].as_i64() {
            Some(c) => format!("conversation {c}"),
            None => name.to_string(),
        };
        let body: String = lines.iter().map(|l| format!("  > {l}\n")).collect();
        let date = when.get(..10).unwrap_or(&when);
        // A conversation none of whose lines holds a word of the question is shown only
        // through its lines in the pool.
        let markdown = (!lines.is_empty()).then(|| format!("- **{date}** ({source}):\n{body}"));
        let more = summary
            .lines()
            .filter(|l| !l.starts_with("assistant: ") && !lines.iter().any(|k| k == l))
            .map(|l| format!("- {date} ({source}): {l}\n"))
            .collect();
        return Some(Found {
            lines_score,
            score,
            when,
            markdown,
            more,
        });
    }
    let facts: Vec<String> = attributes
        .as_object()
        .map(|m| {
            m.iter()
                // The list of a person's conversations is bookkeeping, not a fact.
                .filter(|(k, v)| !v.is_null() && k.as_str() != RECENT_CONVERSATIONS)
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let when = hit["metadata"]["_updated_at"]
        .as_str()
        .or(hit["metadata"]["observed_at"].as_str())
        .unwrap_or("")
        .to_string();
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" — {}", facts.join("; "))
    };
    let lines_score = matched(&andibase_text::tokens(&format!("{name} {facts}")), wanted).len();
    Some(Found {
        lines_score,
        score,
        when,
        markdown: Some(format!("- {ty} **{name}**{facts}\n")),
        more: Vec::new(),
    })
}

impl Memory {
    /// Answers a question from the space's memory, without a model; seed 003's
    /// `AgentOutput` (`content` in Markdown, and the recall conversation's id).
    pub async fn recall(
        &self,
        space: &Space,
        input: RecallInput,
        caller: &str,
    ) -> DomainResult<Value> {
        let query = input.query.trim().to_string();
        if query.is_empty() || query.chars().count() > MAX_QUERY {
            return Err(DomainError::from_issues(vec![
                andibase_common::FieldIssue::at(
                    ["query"],
                    format!("must be 1 to {MAX_QUERY} characters"),
                ),
            ]));
        }
        let budget = input.max_chars.unwrap_or(DEFAULT_BUDGET);
        if !(100..=MAX_BUDGET).contains(&budget) {
            return Err(DomainError::from_issues(vec![
                andibase_common::FieldIssue::at(
                    ["max_chars"],
                    format!("must be 100 to {MAX_BUDGET}"),
                ),
            ]));
        }
        let wanted = words::wanted(&query);
        // The question's words and their related ones, and the counterparty's name.
        let counterparty = input.context.as_ref().and_then(|c| c.counterparty.clone());
        let mut search: Vec<String> = wanted.iter().flat_map(Wanted::search_words).collect();
        search.extend(counterparty.clone());
        let search_text = search.join(" ");
        // The subject: a Person the question names (or the counterparty), found in the
        // same trip to the graph as SEARCH's candidates.
        let mut names: Vec<String> = andibase_text::tokens(&query);
        names.extend(counterparty.clone());
        let first = self
            .kip_batch(
                space,
                vec![
                    (
                        format!("SEARCH CONCEPT :q LIMIT {CANDIDATES}"),
                        json!({"q": search_text}),
                    ),
                    (
                        "FIND(?p) WHERE { ?p {type: \"Person\"} FILTER(IN(?p.name, :names)) } LIMIT 3"
                            .into(),
                        json!({"names": names}),
                    ),
                ],
                Mode::ReadOnly,
            )
            .await?;
        let mut hits: Vec<Value> = first[0]
            .as_ref()
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // The subject's latest conversations are candidates too, since a question about
        // someone often shares only their name with the answer. Formation lists them on
        // the Person; a Person without the list (formed by a model) is asked the graph.
        let mut theirs: Vec<(String, Value)> = Vec::new();
        for person in first[1]
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match person["attributes"][RECENT_CONVERSATIONS].as_array() {
                Some(recent) => theirs.extend(recent.iter().take(SUBJECT_EVENTS).map(|n| {
                    (
                        "FIND(?e) WHERE { ?e {type: \"Event\", name: :n} }".to_string(),
                        json!({"n": n}),
                    )
                })),
                // Only Events `involve`; naming the type too would scan every Event.
                None => theirs.push((
                    format!(
                        "FIND(?e) WHERE {{ (?e, \"involves\", {{type: \"Person\", name: :p}}) }} \
                         ORDER BY ?e.attributes.start_time DESC LIMIT {SUBJECT_EVENTS}"
                    ),
                    json!({"p": person["name"]}),
                )),
            }
        }
        if !theirs.is_empty() {
            for found in self
                .kip_batch(space, theirs, Mode::ReadOnly)
                .await?
                .into_iter()
                .flatten()
            {
                for e in found.as_array().into_iter().flatten() {
                    if !hits.iter().any(|h| h["id"] == e["id"]) {
                        hits.push(e.clone());
                    }
                }
            }
        }
        let mut found: Vec<Found> = hits.iter().filter_map(|h| describe(h, &wanted)).collect();
        // The best line first; among equals the more recent (what was said last is what
        // holds now), then SEARCH's score.
        found.sort_by(|a, b| {
            b.lines_score
                .cmp(&a.lines_score)
                .then_with(|| b.when.cmp(&a.when))
                .then_with(|| b.score.total_cmp(&a.score))
        });
        let mut content = String::new();
        for text in found.iter().filter_map(|f| f.markdown.as_ref()) {
            if content.chars().count() + text.chars().count() > budget {
                if content.is_empty() {
                    content = text
                        .chars()
                        .take(budget.saturating_sub(1))
                        .collect::<String>()
                        + "…";
                }
                break;
            }
            content.push_str(text);
        }
        // Budget left: the other things said in those conversations, best first, since a
        // question often asks in words the answer does not use.
        let mut more = String::new();
        for line in words::most_telling(found.iter().flat_map(|f| &f.more)) {
            if content.chars().count() + more.chars().count() + line.chars().count() + 40 > budget {
                break;
            }
            more.push_str(line);
        }
        if !more.is_empty() {
            content.push_str("\nAlso said in those conversations:\n");
            content.push_str(&more);
        }
        if content.is_empty() {
            content = "Nothing in this memory matches the question.".into();
        }
        // With a model, the recall agent answers, given what search found as a head start.
        let run = match self.model_for(space).await? {
            Some(model) => {
                let text = format!(
                    "Question: {query}\n\nContext: {}\n\nWhat a keyword search of the memory found:\n{content}",
                    serde_json::to_string(&input.context).unwrap_or_default()
                );
                Some(
                    self.run_agent(space, model, Agent::Recall, text, counterparty.clone())
                        .await?,
                )
            }
            None => None,
        };
        if let Some(run) = &run {
            content = run.text.clone();
        }
        let conversation = self
            .keep_recall(
                space,
                &query,
                &content,
                run,
                counterparty.unwrap_or_else(|| caller.to_string()),
            )
            .await?;
        Ok(json!({"content": content, "conversation": conversation}))
    }

    /// Keeps a recall as a completed conversation of the `recall` collection; its id.
    async fn keep_recall(
        &self,
        space: &Space,
        query: &str,
        answer: &str,
        run: Option<AgentRun>,
        user: String,
    ) -> DomainResult<i64> {
        let db = self.workspaces.get(&space.workspace_id).await?;
        let now = self.clock.now();
        let question = json!({"role": "user", "content": query, "timestamp": now.millis()});
        let (messages, usage) = match run {
            Some(run) => {
                let mut all = vec![question];
                all.extend(run.messages);
                (Value::Array(all).to_string(), run.usage.to_string())
            }
            None => (
                json!([question, {"role": "assistant", "content": answer, "timestamp": now.millis()}])
                    .to_string(),
                "{}".to_string(),
            ),
        };
        let input = json!({"query": query}).to_string();
        let space_id = space.id.clone();
        db.write(move |tx| {
            let id = NewConversation {
                space_id: &space_id,
                collection: RECALL,
                user: &user,
                input: &input,
                messages: &messages,
                status: "completed",
                usage: &usage,
                job: None,
            }
            .insert(tx, now)?;
            Ok(id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_that_hold_most_of_the_question_and_a_question_s_answer() {
        let summary = "alice: hello\nbob: hi\nalice: I moved to Lisbon\nbob: nice\nalice: where do I live?\nbob: in Lisbon\nalice: bye";
        // "alice" alone (the speaker) is not enough: the text must hold a word.
        assert_eq!(
            relevant_lines(summary, &words::wanted("When did Alice say hello?")),
            (2, vec!["alice: hello".to_string()])
        );
        assert_eq!(
            relevant_lines(summary, &words::wanted("living")),
            (
                1,
                vec![
                    "alice: I moved to Lisbon".to_string(),
                    "alice: where do I live?".to_string(),
                    "bob: in Lisbon".to_string()
                ]
            )
        );
        assert_eq!(
            relevant_lines(summary, &words::wanted("paris")),
            (0, vec![])
        );
    }
}
