//! The tool loop: call the model, run the tools it asks for, give it their results, and
//! again, until it answers without a tool call or a budget (turns, time) runs out.

use std::time::{Duration, Instant};

use crate::{remaining, Event, LlmError, Message, Model, Request, ToolCall, ToolChoice, Usage};

/// A loop's budgets.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Model calls at most; the last is made with tools off, so the model must answer.
    pub max_turns: usize,
    /// Time for the whole loop.
    pub budget: Duration,
    /// Stream the model's answers (text arrives as [`Event::Text`]).
    pub stream: bool,
}

/// What a tool answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
}

impl ToolOutput {
    pub fn ok(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: true,
        }
    }
}

/// What a loop did.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The model's last answer.
    pub text: String,
    /// The messages the loop added: the model's answers and the tools' results.
    pub messages: Vec<Message>,
    pub usage: Usage,
    /// Model calls made.
    pub turns: usize,
    /// Tool calls run.
    pub tool_calls: usize,
    /// The time budget ran out before the model answered.
    pub out_of_time: bool,
}

/// Tool calls run from one model answer, at most.
pub const MAX_CALLS_PER_ANSWER: usize = 16;

/// Runs the loop from `request`. `call_tool` runs one call; `on_event` sees streamed text,
/// each tool call and, through `on_result`, each result. A provider failure ends the loop
/// with that error; running out of time ends it with `out_of_time` and what was said.
pub fn run_tools(
    model: &Model,
    mut request: Request,
    limits: Limits,
    call_tool: &mut dyn FnMut(&ToolCall) -> ToolOutput,
    on_event: &mut dyn FnMut(Event<'_>),
    on_result: &mut dyn FnMut(&ToolCall, &ToolOutput),
) -> Result<Run, LlmError> {
    let deadline = Instant::now() + limits.budget;
    let mut run = Run::default();
    let mut model = model.clone();
    let choice = request.tool_choice;
    while run.turns < limits.max_turns.max(1) {
        let Ok(left) = remaining(deadline) else {
            run.out_of_time = true;
            return Ok(run);
        };
        model.settings.timeout = model.settings.timeout.min(left);
        run.turns += 1;
        let last = run.turns == limits.max_turns.max(1);
        request.tool_choice = if last && !request.tools.is_empty() {
            ToolChoice::None
        } else {
            choice
        };
        let reply = if limits.stream {
            model.stream(&request, on_event)?
        } else {
            let reply = model.complete(&request)?;
            if !reply.text.is_empty() {
                on_event(Event::Text(&reply.text));
            }
            for call in &reply.tool_calls {
                on_event(Event::ToolCall(call));
            }
            reply
        };
        run.usage.add(reply.usage);
        let said = Message::assistant(reply.text.clone(), reply.tool_calls.clone());
        request.messages.push(said.clone());
        run.messages.push(said);
        run.text = reply.text;
        if reply.tool_calls.is_empty() || last {
            return Ok(run);
        }
        for (i, call) in reply.tool_calls.iter().enumerate() {
            // Every call gets an answer (providers want one per call), but past the limits
            // the answer is a refusal, not a run: one answer cannot make the server spend
            // more than `MAX_CALLS_PER_ANSWER` calls, nor any past the turn's deadline.
            let output = if i >= MAX_CALLS_PER_ANSWER {
                ToolOutput::error(format!(
                    "not run: at most {MAX_CALLS_PER_ANSWER} tool calls are run from one answer"
                ))
            } else if Instant::now() >= deadline {
                ToolOutput::error("not run: the turn's time is up")
            } else if request.tools.iter().any(|t| t.name == call.name) {
                call_tool(call)
            } else {
                ToolOutput::error(format!("there is no tool named `{}`", call.name))
            };
            run.tool_calls += 1;
            on_result(call, &output);
            let result = Message::tool_result(&call.id, output.text, output.is_error);
            request.messages.push(result.clone());
            run.messages.push(result);
        }
    }
    Ok(run)
}
