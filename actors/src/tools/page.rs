//! Client tool calls waiting for the visitor's page. A text answer sends a call to the page as
//! a `tool.call` event and waits here; the page's `POST .../tool-results` (or, in a call, its
//! data channel message) answers it. A call nobody answers in time is removed and told to the
//! model as a timeout; an answer for a call that is not waiting is refused.

use dashmap::DashMap;
use std::time::Duration;
use tokio::sync::oneshot;
use voxgate_engine::ids::SessionId;
use voxgate_engine::tools::ToolOutcome;

/// Calls waiting, by session and call id.
#[derive(Default)]
pub struct PageCalls {
    waiting: DashMap<(SessionId, String), oneshot::Sender<ToolOutcome>>,
}

impl PageCalls {
    /// Waits up to `timeout` for the page's answer to `call_id`. `sent` is false when the call
    /// could not reach the page at all.
    pub async fn wait(
        &self,
        session: &SessionId,
        call_id: &str,
        timeout: Duration,
        sent: impl std::future::Future<Output = bool>,
    ) -> ToolOutcome {
        let key = (session.clone(), call_id.to_string());
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(key.clone(), tx);
        let outcome = if !sent.await {
            ToolOutcome::Failed("the visitor's page is gone".into())
        } else {
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => ToolOutcome::Failed("the visitor's page is gone".into()),
                Err(_) => {
                    ToolOutcome::Failed(format!("the page did not answer within {} ms", timeout.as_millis()))
                }
            }
        };
        self.waiting.remove(&key);
        outcome
    }

    /// The page's answer to `call_id`; false when no such call is waiting.
    pub fn answer(&self, session: &SessionId, call_id: &str, outcome: ToolOutcome) -> bool {
        match self.waiting.remove(&(session.clone(), call_id.to_string())) {
            Some((_, tx)) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn an_answer_reaches_its_call_and_a_late_one_is_refused() {
        let calls = Arc::new(PageCalls::default());
        let session = SessionId::generate(&mut rand::rng());
        let waiting = {
            let (calls, session) = (calls.clone(), session.clone());
            tokio::spawn(
                async move { calls.wait(&session, "c1", Duration::from_secs(5), async { true }).await },
            )
        };
        tokio::task::yield_now().await;
        assert!(!calls.answer(&session, "other", ToolOutcome::Done(1.into())));
        assert!(calls.answer(&session, "c1", ToolOutcome::Done(2.into())));
        assert_eq!(waiting.await.unwrap(), ToolOutcome::Done(2.into()));
        assert!(!calls.answer(&session, "c1", ToolOutcome::Done(3.into())), "answered once");

        let timed_out = calls.wait(&session, "c2", Duration::from_millis(300), async { true }).await;
        assert!(matches!(timed_out, ToolOutcome::Failed(m) if m.contains("300 ms")));
        assert!(!calls.answer(&session, "c2", ToolOutcome::Done(4.into())));
        let gone = calls.wait(&session, "c3", Duration::from_secs(1), async { false }).await;
        assert!(matches!(gone, ToolOutcome::Failed(m) if m.contains("gone")));
    }
}
