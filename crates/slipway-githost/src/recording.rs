//! A git host for unit tests: it records every request and answers from a script, in order.
//! An unscripted request gets a 500, so a test that forgets one fails on it.

use std::collections::VecDeque;
use std::sync::Mutex;

use slipway_core::manifest::GitHostKind;

use crate::{ApiReply, ApiRequest, GitHost, Result, Status};

/// The recording double of [`GitHost`].
#[derive(Debug)]
pub struct RecordingGitHost {
    kind: GitHostKind,
    answers: Mutex<VecDeque<ApiReply>>,
    requests: Mutex<Vec<ApiRequest>>,
}

impl RecordingGitHost {
    /// A host of `kind` with nothing scripted yet.
    pub fn new(kind: GitHostKind) -> RecordingGitHost {
        RecordingGitHost {
            kind,
            answers: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Scripts the next answer: `status` with `body` as JSON.
    pub fn answer(self, status: u16, body: serde_json::Value) -> RecordingGitHost {
        self.answer_text(status, &body.to_string())
    }

    /// Scripts the next answer with a body that need not be JSON.
    pub fn answer_text(self, status: u16, body: &str) -> RecordingGitHost {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(ApiReply {
                status: Status(status),
                body: body.to_owned(),
            });
        self
    }

    /// The requests sent so far, in order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many scripted answers were not asked for.
    pub fn unused_answers(&self) -> usize {
        self.answers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl GitHost for RecordingGitHost {
    fn kind(&self) -> GitHostKind {
        self.kind
    }

    async fn send(&self, request: &ApiRequest) -> Result<ApiReply> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        let answer = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        Ok(answer.unwrap_or(ApiReply {
            status: Status(500),
            body: r#"{"message":"the recording git host has no answer scripted for this request"}"#
                .to_owned(),
        }))
    }
}
