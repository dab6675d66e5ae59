//! The parsers and rules meet whatever a user's files hold without panicking.

use proptest::prelude::*;
use slipway_lint::dockerfile_rules::check;
use slipway_lint::{DockerfileContext, Role, compose_rules, dockerfile};

fn dockerfile_like() -> impl Strategy<Value = String> {
    let line = prop::sample::select(vec![
        "FROM debian:12",
        "FROM node:20 AS build",
        "FROM build",
        "FROM ${BASE}",
        "ARG BASE=python:3.12",
        "RUN apt-get install -y curl",
        "RUN pip install -r req.txt flask",
        "RUN <<EOF",
        "EOF",
        "RUN cd / && (cd x; make) \\",
        "  && npm i left-pad",
        "CMD [\"a\"",
        "CMD [\"a\", \"b\"]",
        "ENTRYPOINT x",
        "USER root",
        "COPY --from=nowhere / /",
        "ENV A=1 B=\"2 3\"",
        "# slipway-ignore DF013: x",
        "# escape=`",
        "HEALTHCHECK CMD true",
        "ADD https://x/y /z",
        "  ",
        "\\",
        "RUN echo '$(",
        "ONBUILD RUN x",
        "ENV TOKEN",
    ]);
    prop::collection::vec(line, 0..25).prop_map(|lines| lines.join("\n"))
}

fn run_rules(text: &str) {
    if let Ok(parsed) = dockerfile::parse(text) {
        for role in [Role::Base, Role::App, Role::Other] {
            let _ = check(&parsed, role, &DockerfileContext::default());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dockerfile_on_arbitrary_text(text in "\\PC{0,400}") {
        run_rules(&text);
    }

    #[test]
    fn dockerfile_on_dockerfile_shaped_text(text in dockerfile_like()) {
        run_rules(&text);
    }

    #[test]
    fn compose_on_arbitrary_text(text in "\\PC{0,300}") {
        if let Ok(root) = slipway_compose::yaml::parse(&text) {
            let _ = compose_rules::check(&root, &text);
        }
    }
}
