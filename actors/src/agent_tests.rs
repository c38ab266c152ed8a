//! Agent test runs (`POST /v1/agents/{id}/test-runs`): each of the agent's tests is asked as a
//! visitor message, its whole answer checked against the expectation. Every case counts as one
//! text message of test-run usage (its own daily fair use), never production.

use crate::agents::{AgentFailure, AgentRuntime, AgentTurn, AnswerPart};
use crate::clock;
use crate::store::records::UsageEvent;
use crate::usage::{UsageLedger, UsageRefusal};
use futures_util::StreamExt;
use serde::Serialize;
use std::time::Duration;
use voxgate_engine::agent::{Agent, AgentTest};
use voxgate_engine::metering::{UsageClass, UsageKey, UsageKind};
use voxgate_engine::session::Environment;
use voxgate_engine::ErrorCode;

/// How one case went.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub input: String,
    pub expect: voxgate_engine::agent::Expectation,
    /// `passed`, `failed`, or `error` (the agent did not answer; see `error`).
    pub status: &'static str,
    /// The agent's whole answer, or as much as arrived.
    pub answer: String,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<CaseError>,
}

/// Why a case could not be judged.
#[derive(Debug, Clone, Serialize)]
pub struct CaseError {
    pub code: &'static str,
    pub message: String,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct TestRun {
    pub agent_id: String,
    pub agent_version: u64,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub results: Vec<CaseResult>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("the agent has no tests; add some with PATCH /v1/agents/{{id}} {{\"tests\": [{{\"input\", \"expect\"}}]}}")]
    NoTests,
    #[error(transparent)]
    Usage(#[from] UsageRefusal),
}

impl TestRunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TestRunError::NoTests => ErrorCode::InvalidRequest,
            TestRunError::Usage(u) => u.code(),
        }
    }
}

/// How many upstream waits one case may take: a case is a whole answer.
const UPSTREAM_WAITS_PER_CASE: u32 = 4;

/// Runs every test of `agent`, one after another, each within a few upstream waits
/// (`--agent-timeout-ms`). A run whose first case does not fit the test-run allowance is
/// refused; cases after the allowance runs out are reported as errors.
pub async fn run(
    agent: &Agent,
    runtime: &AgentRuntime,
    ledger: &UsageLedger,
) -> Result<TestRun, TestRunError> {
    let case_timeout: Duration = runtime.upstream.response * UPSTREAM_WAITS_PER_CASE;
    if agent.spec.tests.is_empty() {
        return Err(TestRunError::NoTests);
    }
    let responder = runtime.responder(agent);
    let mut results = Vec::with_capacity(agent.spec.tests.len());
    for (i, test) in agent.spec.tests.iter().enumerate() {
        let metered = ledger
            .record(UsageEvent {
                key: UsageKey::unique(&mut rand::rng()),
                workspace: agent.workspace_id.clone(),
                session: None,
                call: None,
                kind: UsageKind::TextMessage,
                class: UsageClass::TestRun,
                environment: Environment::Staging,
                quantity: 1,
                at: clock::now(),
            })
            .await;
        match metered {
            Ok(_) => {}
            Err(refusal) if i == 0 => return Err(refusal.into()),
            Err(refusal) => {
                let error = CaseError { code: refusal.code().as_str(), message: refusal.to_string() };
                results.push(case(test, "error", String::new(), 0, Some(error)));
                continue;
            }
        }
        let started = std::time::Instant::now();
        let mut answer = String::new();
        let mut deltas = responder.respond(AgentTurn {
            history: Vec::new(),
            text: test.input.clone(),
            open_text: None,
            variables: Default::default(),
            tools: None,
        });
        let outcome = tokio::time::timeout(case_timeout, async {
            while let Some(part) = deltas.next().await {
                if let AnswerPart::Delta(text) = part? {
                    answer.push_str(&text);
                }
            }
            Ok::<(), AgentFailure>(())
        })
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let result = match outcome {
            Err(_) => {
                let message = format!("no whole answer within {} ms", case_timeout.as_millis());
                case(
                    test,
                    "error",
                    answer,
                    ms,
                    Some(CaseError { code: ErrorCode::AgentTimeout.as_str(), message }),
                )
            }
            Ok(Err(f)) => {
                case(test, "error", answer, ms, Some(CaseError { code: f.code.as_str(), message: f.message }))
            }
            Ok(Ok(())) if test.expect.holds(&answer) => case(test, "passed", answer, ms, None),
            Ok(Ok(())) => case(test, "failed", answer, ms, None),
        };
        results.push(result);
    }
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    Ok(TestRun {
        agent_id: agent.id.to_string(),
        agent_version: agent.version,
        passed: count("passed"),
        failed: count("failed"),
        errors: count("error"),
        results,
    })
}

fn case(
    test: &AgentTest,
    status: &'static str,
    answer: String,
    ms: u64,
    error: Option<CaseError>,
) -> CaseResult {
    CaseResult {
        input: test.input.clone(),
        expect: test.expect.clone(),
        status,
        answer,
        duration_ms: ms,
        error,
    }
}
