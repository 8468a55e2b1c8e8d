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

use andibase_storage::{params, Sql};

use crate::agents::{Agent, AgentRun};
use crate::conversations::NewConversation;
use crate::formation::InputContext;
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

/// Words too common to pick a line by.
const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "what", "where", "when", "who", "whom", "which",
    "how", "why", "does", "did", "has", "have", "had", "his", "her", "hers", "their", "them",
    "they", "you", "your", "with", "about", "that", "this", "from", "into", "any", "all", "there",
    "here", "will", "would", "should", "could", "can", "user", "tell", "know",
];

fn words(text: &str) -> Vec<String> {
    andibase_text::tokens(text)
        .into_iter()
        .filter(|w| w.chars().count() > 2 && !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The lines of `summary` that hold one of `wanted` (as a word's start), each with the
/// line before and after.
fn relevant_lines(summary: &str, wanted: &[String]) -> Vec<String> {
    let lines: Vec<&str> = summary.lines().collect();
    let hit = |l: &str| {
        let ws = andibase_text::tokens(l);
        wanted
            .iter()
            .any(|w| ws.iter().any(|t| t.starts_with(w.as_str())))
    };
    let mut keep = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        if hit(l) {
            let end = (i + 1).min(lines.len() - 1);
            keep[i.saturating_sub(1)..=end].fill(true);
        }
    }
    lines
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(l, _)| l.to_string())
        .collect()
}

/// A hit written for the answer: (score, time it is about, Markdown).
fn describe(hit: &Value, wanted: &[String]) -> Option<(f64, String, String)> {
    let ty = hit["type"].as_str()?;
    if ty.starts_with('$') || ty == "Domain" {
        return None;
    }
    let score = hit["metadata"]["_score"].as_f64().unwrap_or(0.0);
    let name = hit["name"].as_str().unwrap_or("");
    let attributes = &hit["attributes"];
    if ty == "Event" {
        let when = attributes["start_time"].as_str().unwrap_or("").to_string();
        let summary = attributes["content_summary"].as_str().unwrap_or("");
        let mut lines = relevant_lines(summary, wanted);
        if lines.is_empty() {
            lines = summary.lines().take(2).map(str::to_string).collect();
        }
        let source = match attributes["conversation"].as_i64() {
            Some(c) => format!("conversation {c}"),
            None => name.to_string(),
        };
        let body: String = lines.iter().map(|l| format!("  > {l}\n")).collect();
        let date = when.get(..10).unwrap_or(&when);
        return Some((
            score,
            when.clone(),
            format!("- **{date}** ({source}):\n{body}"),
        ));
    }
    let facts: Vec<String> = attributes
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
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
    Some((score, when, format!("- {ty} **{name}**{facts}\n")))
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
        let mut wanted = words(&query);
        if wanted.is_empty() {
            wanted = andibase_text::tokens(&query);
        }
        // The counterparty's name is a word to look for too.
        let counterparty = input.context.as_ref().and_then(|c| c.counterparty.clone());
        let search_text = match &counterparty {
            Some(cp) => format!("{} {cp}", wanted.join(" ")),
            None => wanted.join(" "),
        };
        let out = self
            .kip(
                space,
                format!("SEARCH CONCEPT :q LIMIT {CANDIDATES}"),
                json!({"q": search_text}),
                Mode::ReadOnly,
            )
            .await?;
        let hits = out.as_array().cloned().unwrap_or_default();
        let mut found: Vec<(f64, String, String)> =
            hits.iter().filter_map(|h| describe(h, &wanted)).collect();
        // Best match first; among equals, the more recent.
        found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        let mut content = String::new();
        for (_, _, text) in &found {
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
                job: None,
            }
            .insert(tx, now)?;
            tx.execute(
                "UPDATE memory_conversations SET usage = ? WHERE space_id = ? AND collection = ? AND id = ?",
                &params![usage, space_id.clone(), RECALL, id],
            )?;
            Ok(id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_the_question_words_and_their_neighbours() {
        let summary =
            "alice: hello\nbob: hi\nalice: I moved to Lisbon\nbob: nice\nalice: bye\nbob: ciao";
        let wanted = words("Where did Alice move?");
        assert_eq!(wanted, ["alice", "move"]);
        let lines = relevant_lines(summary, &["lisbon".to_string()]);
        assert_eq!(lines, ["bob: hi", "alice: I moved to Lisbon", "bob: nice"]);
    }
}
