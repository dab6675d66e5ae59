//! A recording [`Channel`] for unit tests: it answers each attempt from a script and keeps every
//! event it was handed, so the sending logic (and the code that builds events) can be tested
//! without a receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::Event;
use crate::channel::{Attempt, Channel, Failure};

/// A channel that records what it is sent. Clones share the recording, so a test keeps one
/// clone and hands the other to [`crate::channel::send_to`].
#[derive(Debug, Clone, Default)]
pub struct Recording {
    state: Arc<Mutex<State>>,
    secrets: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    answers: VecDeque<Result<(), Failure>>,
    sent: Vec<Event>,
}

impl Recording {
    /// A channel answering its attempts with `answers` in turn, and accepting every attempt
    /// after those.
    pub fn answering(answers: impl IntoIterator<Item = Result<(), Failure>>) -> Recording {
        Recording {
            state: Arc::new(Mutex::new(State {
                answers: answers.into_iter().collect(),
                sent: Vec::new(),
            })),
            secrets: Vec::new(),
        }
    }

    /// The same channel, declaring `secrets` as a real adapter declares its URL or password.
    pub fn with_secrets<S: Into<String>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        self.secrets = secrets.into_iter().map(Into::into).collect();
        self
    }

    /// Every event an attempt was made with, in order (a retried event appears once per try).
    pub fn sent(&self) -> Vec<Event> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sent
            .clone()
    }
}

impl Channel for Recording {
    fn send<'a>(&'a self, event: &'a Event) -> Attempt<'a> {
        let answer = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.sent.push(event.clone());
            state.answers.pop_front().unwrap_or(Ok(()))
        };
        Box::pin(async move { answer })
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}
