//! The provider layer against the scripted fake provider, over real HTTP on loopback, in
//! both wire formats, plain and streamed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use andibase_llm::fake::{Answer, FakeProvider, Seen};
use andibase_llm::{
    run_tools, Endpoint, ErrorKind, Event, Limits, Message, Model, Request, Role, Tool, ToolChoice,
    ToolOutput, Wire,
};
use serde_json::json;

fn model(fake: &FakeProvider, wire: Wire) -> Model {
    let base_url = match wire {
        Wire::OpenAi => fake.openai_base(),
        Wire::Anthropic => fake.anthropic_base(),
    };
    let mut m = Model::new(
        Endpoint {
            wire,
            base_url,
            api_key: Some("sk-test".into()),
            guard: None,
        },
        "fake-1",
    );
    m.settings.backoff = Duration::from_millis(10);
    m
}

fn add_tool() -> Tool {
    Tool {
        name: "add".into(),
        description: "Adds two numbers.".into(),
        parameters: json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
    }
}

/// Calls `add` for the user's question, then answers with the tool's result.
fn adder(seen: &Seen) -> Answer {
    match seen.tool_results().last() {
        None => Answer::Tools(
            "Let me add.".into(),
            vec![("add".into(), json!({"a": 2, "b": 40, "note": "ünïcode ✓"}))],
        ),
        Some(result) => Answer::Text(format!("The sum is {}.", result.text)),
    }
}

#[test]
fn a_tool_loop_round_trips_in_both_wire_formats_plain_and_streamed() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        for stream in [false, true] {
            let fake = FakeProvider::start(adder);
            let request = Request {
                system: "You add.".into(),
                messages: vec![Message::user("What is 2 + 40?")],
                tools: vec![add_tool()],
                tool_choice: ToolChoice::Auto,
                temperature: Some(0.0),
            };
            let mut texts = String::new();
            let mut calls = Vec::new();
            let mut results = Vec::new();
            let run = run_tools(
                &model(&fake, wire),
                request,
                Limits {
                    max_turns: 5,
                    budget: Duration::from_secs(30),
                    stream,
                },
                &mut |call| {
                    let sum = call.arguments["a"].as_f64().unwrap()
                        + call.arguments["b"].as_f64().unwrap();
                    assert_eq!(call.arguments["note"], "ünïcode ✓");
                    ToolOutput::ok(sum.to_string())
                },
                &mut |e| match e {
                    Event::Text(t) => texts.push_str(t),
                    Event::ToolCall(c) => calls.push(c.name.clone()),
                },
                &mut |_, out| results.push(out.text.clone()),
            )
            .unwrap();
            let case = format!("{wire:?} stream={stream}");
            assert_eq!(run.text, "The sum is 42.", "{case}");
            assert_eq!((run.turns, run.tool_calls), (2, 1), "{case}");
            assert_eq!(texts, "Let me add.The sum is 42.", "{case}");
            assert_eq!(calls, ["add"], "{case}");
            assert_eq!(results, ["42"], "{case}");
            assert_eq!(run.usage.requests, 2, "{case}");
            assert!(
                run.usage.input_tokens > 0 && run.usage.output_tokens > 0,
                "{case}"
            );
            let seen = fake.seen();
            assert_eq!(seen.len(), 2, "{case}");
            let second = &seen[1];
            assert_eq!((second.wire, second.stream), (wire, stream), "{case}");
            assert_eq!(second.system, "You add.", "{case}");
            assert_eq!(second.tools, ["add"], "{case}");
            assert_eq!(second.tool_choice, "auto", "{case}");
            assert!(second.key.as_deref().unwrap().contains("sk-test"), "{case}");
            // The history came back as it was said: question, call, result.
            let roles: Vec<Role> = second.messages.iter().map(|m| m.role).collect();
            assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool], "{case}");
            let call = &second.messages[1].tool_calls[0];
            assert_eq!(
                second.messages[2].tool_call_id.as_ref(),
                Some(&call.id),
                "{case}"
            );
            assert_eq!(call.arguments["b"], 40, "{case}");
            assert_eq!(run.messages.len(), 3, "{case}");
        }
    }
}

#[test]
fn rate_limits_and_server_errors_are_retried_and_client_errors_are_not() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let fake = FakeProvider::start(move |_| match counted.fetch_add(1, Ordering::SeqCst) {
            0 => Answer::Fail(429, "slow down".into()),
            1 => Answer::Fail(503, "overloaded".into()),
            _ => Answer::Text("fine".into()),
        });
        let reply = model(&fake, wire)
            .complete(&Request {
                messages: vec![Message::user("hi")],
                ..Request::default()
            })
            .unwrap();
        assert_eq!((reply.text.as_str(), reply.usage.requests), ("fine", 3));

        let fake =
            FakeProvider::start(|_| Answer::Fail(400, "model `fake-1` does not exist".into()));
        let e = model(&fake, wire)
            .complete(&Request {
                messages: vec![Message::user("hi")],
                ..Request::default()
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Status(400));
        assert!(e.message.contains("does not exist"), "{e}");
        assert_eq!(fake.seen().len(), 1, "a 400 is not retried");

        let fake = FakeProvider::start(|_| Answer::Fail(500, "down".into()));
        let mut m = model(&fake, wire);
        m.settings.retries = 2;
        let e = m.complete(&Request::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Status(500));
        assert_eq!(fake.seen().len(), 3, "the first try and two retries");
    }
}

#[test]
fn a_user_given_address_goes_through_the_outbound_guard() {
    let fake = FakeProvider::start(|_| Answer::Text("should not be asked".into()));
    for (family, base) in [
        ("openai", fake.openai_base()),
        ("anthropic", fake.anthropic_base()),
    ] {
        let strict = Model::new(
            Endpoint::byok(family, &base, "k", andibase_outbound::Policy::default()),
            "m",
        );
        let e = strict.complete(&Request::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused, "{e}");
        let allowed = Model::new(
            Endpoint::byok(
                family,
                &base,
                "k",
                andibase_outbound::Policy {
                    allow_private: true,
                },
            ),
            "m",
        );
        assert_eq!(
            allowed.complete(&Request::default()).unwrap().text,
            "should not be asked"
        );
    }
    assert_eq!(fake.seen().len(), 2, "only the allowed calls arrived");
}

#[test]
fn the_last_turn_turns_tools_off_and_an_unreachable_provider_is_a_network_error() {
    let fake = FakeProvider::start(|seen| {
        if seen.tool_choice == "none" {
            Answer::Text("out of turns".into())
        } else {
            Answer::Tools(String::new(), vec![("add".into(), json!({"a": 1, "b": 1}))])
        }
    });
    let run = run_tools(
        &model(&fake, Wire::OpenAi),
        Request {
            messages: vec![Message::user("loop")],
            tools: vec![add_tool()],
            tool_choice: ToolChoice::Required,
            ..Request::default()
        },
        Limits {
            max_turns: 3,
            budget: Duration::from_secs(30),
            stream: false,
        },
        &mut |_| ToolOutput::ok("2"),
        &mut |_| {},
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        (run.text.as_str(), run.turns, run.tool_calls),
        ("out of turns", 3, 2)
    );
    let choices: Vec<String> = fake.seen().iter().map(|s| s.tool_choice.clone()).collect();
    assert_eq!(choices, ["required", "required", "none"]);

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let mut m = Model::new(
        Endpoint {
            wire: Wire::OpenAi,
            base_url: base,
            api_key: None,
            guard: None,
        },
        "m",
    );
    m.settings.backoff = Duration::from_millis(5);
    let e = m.complete(&Request::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert!(e.message.contains("could not be reached"), "{e}");
}

#[test]
fn an_unknown_tool_is_answered_as_a_tool_error() {
    let fake = FakeProvider::start(|seen| match seen.tool_results().last() {
        None => Answer::Tools(String::new(), vec![("rm_rf".into(), json!({}))]),
        Some(r) => Answer::Text(format!("error={}", r.text)),
    });
    let run = run_tools(
        &model(&fake, Wire::Anthropic),
        Request {
            messages: vec![Message::user("x")],
            tools: vec![add_tool()],
            ..Request::default()
        },
        Limits {
            max_turns: 4,
            budget: Duration::from_secs(30),
            stream: true,
        },
        &mut |_| panic!("no tool of ours runs"),
        &mut |_| {},
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(run.text, "error=there is no tool named `rm_rf`");
    assert!(fake.seen()[1].messages[2].is_error);
}

#[test]
fn one_answer_runs_at_most_sixteen_tool_calls_and_none_past_the_deadline() {
    let fake = FakeProvider::start(|seen| match seen.tool_results().len() {
        0 => Answer::Tools(
            String::new(),
            (0..20)
                .map(|i| ("add".to_string(), json!({"a": i, "b": 1})))
                .collect(),
        ),
        n => Answer::Text(format!("{n} results")),
    });
    let mut ran = 0;
    let run = run_tools(
        &model(&fake, Wire::OpenAi),
        Request {
            messages: vec![Message::user("many")],
            tools: vec![add_tool()],
            ..Request::default()
        },
        Limits {
            max_turns: 4,
            budget: Duration::from_secs(30),
            stream: false,
        },
        &mut |_| {
            ran += 1;
            ToolOutput::ok("1")
        },
        &mut |_| {},
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(ran, andibase_llm::MAX_CALLS_PER_ANSWER);
    // Every call was answered; the four past the limit as refusals.
    assert_eq!(run.text, "20 results");
    let refused = run.messages.iter().filter(|m| m.is_error).count();
    assert_eq!(refused, 4);

    // A tool that eats the turn's time: the calls after it are not run.
    let fake = FakeProvider::start(|seen| match seen.tool_results().len() {
        0 => Answer::Tools(
            String::new(),
            vec![
                ("add".into(), json!({"a": 1, "b": 1})),
                ("add".into(), json!({"a": 2, "b": 2})),
            ],
        ),
        _ => Answer::Text("late".into()),
    });
    let mut ran = 0;
    let run = run_tools(
        &model(&fake, Wire::OpenAi),
        Request {
            messages: vec![Message::user("slow")],
            tools: vec![add_tool()],
            ..Request::default()
        },
        Limits {
            max_turns: 4,
            budget: Duration::from_millis(300),
            stream: false,
        },
        &mut |_| {
            ran += 1;
            std::thread::sleep(Duration::from_millis(400));
            ToolOutput::ok("2")
        },
        &mut |_| {},
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(ran, 1);
    assert!(run.out_of_time, "no model call after the deadline");
    assert!(run.messages.last().unwrap().text.contains("time is up"));
}
